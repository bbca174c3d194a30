"""Errors of the exporters; the CLI turns them into one line and a non-zero exit."""

from server.errors import CollectorError


class ExportError(CollectorError):
    """An export that cannot be written as asked (bad filter, unusable --out, unreadable image)."""
