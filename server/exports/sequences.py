"""Frames as per-device sequences, for the video formats (CVAT for video, MOTChallenge)."""

from __future__ import annotations

from server.exports.filter import ExportFrame


def by_device(frames: tuple[ExportFrame, ...]) -> dict[str, list[ExportFrame]]:
    """Each device's frames in capture order (ties: sequence number), devices by name."""
    devices: dict[str, list[ExportFrame]] = {}
    for frame in frames:
        devices.setdefault(frame.device, []).append(frame)
    return {device: sorted(devices[device], key=lambda f: (f.capture_ts, f.seq, f.frame_id))
            for device in sorted(devices)}


def frame_rate(frames: list[ExportFrame]) -> float:
    """Frames per second of a sequence as stored: keyframes are sparse, so this is from the median gap."""
    gaps = sorted(b.capture_ts - a.capture_ts for a, b in zip(frames, frames[1:]) if b.capture_ts > a.capture_ts)
    if not gaps:
        return 1.0
    return round(1.0 / gaps[len(gaps) // 2], 3)
