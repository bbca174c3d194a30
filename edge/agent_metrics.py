"""The agent's Prometheus metrics: its pipeline, selector, spool and sender counters."""

from __future__ import annotations

from collections.abc import Callable

from edge.prometheus import Metric
from edge.sender import SenderCounts
from edge.spool import Spool


def agent_metrics(device: str, status_counters: Callable[[], dict[str, float]], sender: SenderCounts,
                  spool: Spool) -> list[Metric]:
    """``status_counters`` is what the heartbeat carries (fps, frames read/dropped, selected, rejected_<flaw>)."""
    counters = status_counters()
    label = {"device": device}

    def one(name: str, help: str, kind: str, value: float) -> Metric:
        return Metric(name, help, kind, ((label, value),))

    rejected = tuple(({**label, "flaw": key.removeprefix("rejected_")}, value)
                     for key, value in sorted(counters.items()) if key.startswith("rejected_"))
    return [
        one("edgelabel_agent_fps", "Frames per second through the pipeline since the start.", "gauge", counters["fps"]),
        one("edgelabel_agent_frames_read_total", "Frames read from the source.", "counter", counters["frames_read"]),
        one("edgelabel_agent_frames_dropped_total", "Live frames dropped because the detector was behind.", "counter",
            counters["frames_dropped"]),
        one("edgelabel_agent_frames_selected_total", "Frames kept by the keyframe selector.", "counter",
            counters["selected"]),
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
               tuple(({**label, "code": code}, n) for code, n in sorted(sender.rejected.items()))),
    ]
