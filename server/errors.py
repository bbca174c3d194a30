"""Domain errors of the collector. The CLI turns them into one line and a non-zero exit."""


class CollectorError(Exception):
    """Base class: something the operator can fix (bad data dir, unknown device, bad export)."""


class StoreError(CollectorError):
    """The database or the media directory cannot be opened, migrated, read or written."""
