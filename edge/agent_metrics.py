"""The agent's Prometheus metrics: each camera's pipeline and selector counters, the spool and the sender."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edge.prometheus import Metric
from edge.sender import SenderCounts
from edge.spool import Spool


def agent_metrics(device: str, statuses: Callable[[], Mapping[str, Mapping[str, float]]], sender: SenderCounts,
                  spool: Spool) -> list[Metric]:
    """``statuses`` is what the heartbeats carry per camera (fps, frames read/dropped, selected,
    rejected_<flaw>), by device name; the spool and sender belong to the agent, ``device``."""
    per_camera = statuses()
    agent = {"device": device}

    def cameras(name: str, help: str, key: str) -> Metric:
        kind = "gauge" if key == "fps" else "counter"
        return Metric(name, help, kind, tuple(({"device": camera}, counters[key])
                                              for camera, counters in sorted(per_camera.items())))

    def one(name: str, help: str, kind: str, value: float) -> Metric:
        return Metric(name, help, kind, ((agent, value),))

    rejected = tuple(({"device": camera, "flaw": key.removeprefix("rejected_")}, value)
                     for camera, counters in sorted(per_camera.items())
                     for key, value in sorted(counters.items()) if key.startswith("rejected_"))
    return [
        cameras("edgelabel_agent_fps", "Frames per second through the pipeline since the start.", "fps"),
        cameras("edgelabel_agent_frames_read_total", "Frames read from the source.", "frames_read"),
        cameras("edgelabel_agent_frames_dropped_total", "Live frames dropped because the detector was behind.",
                "frames_dropped"),
        cameras("edgelabel_agent_frames_selected_total", "Frames kept by the keyframe selector.", "selected"),
        Metric("edgelabel_agent_frames_rejected_total", "Frames the selector rejected for a quality flaw.", "counter",
               rejected),
        one("edgelabel_agent_spooled_frames", "Frames waiting in the spool for the collector's ack.", "gauge",
            spool.count),
        one("edgelabel_agent_spool_bytes", "Bytes in the spool.", "gauge", spool.bytes),
        one("edgelabel_agent_evicted_total", "Frames evicted from the full spool (all runs).", "counter",
            spool.evicted_total),
        one("edgelabel_agent_sent_total", "Frame messages sent (first transmissions).", "counter", sender.sent),
        one("edgelabel_agent_acknowledged_total", "Frames the collector acknowledged.", "counter", sender.acknowledged),
        one("edgelabel_agent_retransmits_total", "Frame messages sent again after a timeout or reconnect.", "counter",
            sender.retransmits),
        Metric("edgelabel_agent_rejected_by_collector_total", "Frames the collector rejected, by reason.", "counter",
               tuple(({**agent, "code": code}, n) for code, n in sorted(sender.rejected.items()))),
    ]
