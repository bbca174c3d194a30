"""Why a synthesis request cannot be served; the CLI prints the message and exits non-zero."""

from server.errors import CollectorError


class SynthesisError(CollectorError):
    """Base class of the synthetic-annotation errors."""


class UnknownDeviceError(SynthesisError):
    """No frame was ever stored from this device."""


class UnknownClassError(SynthesisError):
    """The class was never verified on this camera, so there is nothing to paste and nowhere known to put it."""


class NotEnoughDataError(SynthesisError):
    """Too few verified frames for a background, or too few usable objects for a class."""
