"""Redaction a collector requires from a device: ``keys add-device NAME --require-redaction faces``.

The requirement is stored with the device's key in ``keys/devices.json`` (``require_redaction``: a
list of kinds) and applies to every frame the key sends, its cameras' too. A frame whose header
does not report each required kind as applied (``redactions``; a count of 0 is applied and found
nothing) is rejected with ``redaction_required`` and counted like any rejection, so ``stats``
shows it. Only authenticated (CURVE) devices have a policy: without keys the collector cannot tell
who sent a frame.
"""

from __future__ import annotations

from edge.contract.limits import MAX_NAME_CHARS
from edge.contract.wire import FrameHeader, WireError
from server.keys import DeviceSnapshot

POLICY_KEY = "require_redaction"


def parse_required(text: str) -> list[str]:
    """``--require-redaction faces,heads`` as a list; ValueError for an empty or overlong kind."""
    kinds = [kind.strip() for kind in text.split(",")]
    if not kinds or any(not 0 < len(kind) <= MAX_NAME_CHARS for kind in kinds):
        raise ValueError(f"expected comma-separated redaction kinds such as faces,heads, got {text!r}")
    return list(dict.fromkeys(kinds))


def required_kinds(devices: DeviceSnapshot, key_device: str) -> tuple[str, ...]:
    """The redaction kinds the key of ``key_device`` requires; () for none."""
    return tuple(devices.devices.get(key_device, {}).get(POLICY_KEY, ()))


def check_redaction(devices: DeviceSnapshot, key_device: str, header: FrameHeader) -> None:
    """Raise ``redaction_required`` when the frame lacks a redaction its device's key requires."""
    required = required_kinds(devices, key_device)
    if not required:
        return
    applied = {kind for kind, _ in header.redactions}
    missing = [kind for kind in required if kind not in applied]
    if missing:
        raise WireError("redaction_required",
                        f"device {key_device!r} must redact {', '.join(required)}; this frame lacks "
                        f"{', '.join(missing)} (run the agent with --redact {','.join(required)})")
