"""The one error type of a migration the operator must act on (the CLI prints it as one line)."""

from server.errors import StoreError


class MigrationError(StoreError):
    """The migration cannot start or go on as asked (source in use, foreign target, schemas differ)."""
