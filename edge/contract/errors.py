"""Errors of the shared code: something the user can fix, which a command reports in one line.

The agent's CLI prints any :class:`AgentError` as one line and exits 2; the collector turns the
ones it meets (a bad config file, an unreadable MOT file) into its own errors.
"""


class AgentError(Exception):
    """Base class: something the user can fix (bad path, bad model, unreachable source, bad file)."""


class ConfigError(AgentError):
    """A setting, a config file or a credentials file is invalid."""
