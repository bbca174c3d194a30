"""Errors only the agent raises; their base and the config error are shared (:mod:`edge.contract.errors`)."""

from edge.contract.errors import AgentError


class SourceError(AgentError):
    """A frame source cannot be opened or read."""


class ModelError(AgentError):
    """A model file is missing, unreadable, or not a detector this agent can run."""
