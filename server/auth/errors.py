"""Typed errors of accounts and logins (the CLI prints them as one line)."""

from server.errors import CollectorError


class AccountError(CollectorError):
    """An account cannot be created, found or removed as asked (bad name, role or password)."""


class LoginError(CollectorError):
    """Wrong name or password, or the account is locked for a while after too many failures."""
