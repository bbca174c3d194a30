"""The agent's Prometheus metrics: each camera's pipeline and selector counters, the spool and the sender.

prometheus_client writes the exposition format and serves it. The numbers are read from the
agent's state on each scrape (a custom collector), so a scrape always sees current values; each
agent has its own registry, so several agents in one process never share metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from edge.sender import SenderCounts
from edge.spool import Spool


class AgentMetrics:
    """A prometheus_client collector. ``statuses`` is what the heartbeats carry per camera (fps,
    frames read/dropped, selected, rejected_<flaw>), by device name; the spool and sender belong to
    the agent, ``device``."""

    def __init__(self, device: str, statuses: Callable[[], Mapping[str, Mapping[str, float]]],
                 sender: SenderCounts, spool: Spool):
        self.device, self.statuses, self.sender, self.spool = device, statuses, sender, spool

    def collect(self) -> Iterator[Metric]:
        per_camera = sorted(self.statuses().items())

        def cameras(family: GaugeMetricFamily | CounterMetricFamily, key: str) -> Metric:
            for camera, counters in per_camera:
                family.add_metric([camera], counters[key])
            return family

        def one(family: GaugeMetricFamily | CounterMetricFamily, value: float) -> Metric:
            family.add_metric([self.device], value)
            return family

        yield cameras(GaugeMetricFamily("edgelabel_agent_fps", "Frames per second through the pipeline since the start.",
                                        labels=["device"]), "fps")
        yield cameras(CounterMetricFamily("edgelabel_agent_frames_read_total", "Frames read from the source.",
                                          labels=["device"]), "frames_read")
        yield cameras(CounterMetricFamily("edgelabel_agent_frames_dropped_total",
                                          "Live frames dropped because the detector was behind.", labels=["device"]),
                      "frames_dropped")
        yield cameras(CounterMetricFamily("edgelabel_agent_frames_selected_total",
                                          "Frames kept by the keyframe selector.", labels=["device"]), "selected")
        rejected = CounterMetricFamily("edgelabel_agent_frames_rejected_total",
                                       "Frames the selector rejected for a quality flaw.", labels=["device", "flaw"])
        for camera, counters in per_camera:
            for key, value in sorted(counters.items()):
                if key.startswith("rejected_"):
                    rejected.add_metric([camera, key.removeprefix("rejected_")], value)
        yield rejected
        missed = CounterMetricFamily("edgelabel_agent_missed_tracks_total",
                                     "Tracked objects that left before a kept frame showed them.", labels=["device"])
        for camera, counters in per_camera:
            missed.add_metric([camera], counters.get("missed_tracks", 0))
        yield missed
        spool, sender = self.spool, self.sender
        yield one(GaugeMetricFamily("edgelabel_agent_spooled_frames",
                                    "Frames waiting in the spool for the collector's ack.", labels=["device"]),
                  spool.count)
        yield one(GaugeMetricFamily("edgelabel_agent_spool_bytes", "Bytes in the spool.", labels=["device"]),
                  spool.bytes)
        yield one(CounterMetricFamily("edgelabel_agent_evicted_total", "Frames evicted from the full spool (all runs).",
                                      labels=["device"]), spool.evicted_total)
        yield one(CounterMetricFamily("edgelabel_agent_sent_total", "Frame messages sent (first transmissions).",
                                      labels=["device"]), sender.sent)
        yield one(CounterMetricFamily("edgelabel_agent_acknowledged_total", "Frames the collector acknowledged.",
                                      labels=["device"]), sender.acknowledged)
        yield one(CounterMetricFamily("edgelabel_agent_retransmits_total",
                                      "Frame messages sent again after a timeout or reconnect.", labels=["device"]),
                  sender.retransmits)
        yield one(CounterMetricFamily("edgelabel_agent_failovers_total",
                                      "Switches to the next collector endpoint after the current one stopped acking.",
                                      labels=["device"]), sender.failovers)
        by_collector = CounterMetricFamily("edgelabel_agent_rejected_by_collector_total",
                                           "Frames the collector rejected, by reason.", labels=["device", "code"])
        for code, n in sorted(sender.rejected.items()):
            by_collector.add_metric([self.device, code], n)
        yield by_collector
