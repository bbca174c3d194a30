"""Domain errors of the edge agent. The CLI turns them into one line and a non-zero exit."""


class AgentError(Exception):
    """Base class: something the user can fix (bad path, bad model, unreachable source)."""


class SourceError(AgentError):
    """A frame source cannot be opened or read."""


class ModelError(AgentError):
    """A model file is missing, unreadable, or not a detector this agent can run."""


class ConfigError(AgentError):
    """A setting or a credentials file is invalid."""
