"""The collector's Prometheus metrics: what ``stats --json`` says, plus this process's ingest counters.

Totals come from the database on each scrape (one read snapshot on the engine ``serve`` shares),
so they match ``edgelabel-collector stats`` and survive restarts; ``edgelabel_ingest_*`` counts
what this process has received since it started. While the database does not answer, a scrape
still succeeds, with the ``edgelabel_ingest_*`` counters and ``edgelabel_database_up`` 0.
prometheus_client writes the exposition format and serves it; each collector has its own
registry, so several in one process stay apart.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from server.db import Database
from server.errors import StoreError
from server.receiver import IngestCounts
from server.stats import collector_stats


class CollectorMetrics:
    """A prometheus_client collector over the collector's database and this process's ingest counters."""

    def __init__(self, db: Database, ingest: IngestCounts):
        self.db, self.ingest = db, ingest

    def collect(self) -> Iterator[Metric]:
        # This process's counters first: during a database outage they are what is left to scrape.
        yield from self._ingest_counters()
        try:
            stats = collector_stats(self.db)
        except StoreError:
            yield GaugeMetricFamily("edgelabel_database_up", "1 when the database answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("edgelabel_database_up", "1 when the database answered this scrape.", value=1)
        totals = stats["totals"]
        devices = sorted(stats["devices"].items())

        def labelled(family: GaugeMetricFamily | CounterMetricFamily, values) -> Metric:
            for label, value in values:
                family.add_metric([label], value)
            return family

        def per_device(family: GaugeMetricFamily, key: str) -> Metric:
            """A value of each device's last heartbeat; devices without one (or without ``key``) left out."""
            return labelled(family, ((name, float(device["status"][key])) for name, device in devices
                                     if device.get("status") and key in device["status"]))

        yield CounterMetricFamily("edgelabel_frames_total", "Frames stored (duplicates included).",
                                  value=totals["frames"])
        yield CounterMetricFamily("edgelabel_detections_total", "Pre-label boxes stored.", value=totals["detections"])
        yield GaugeMetricFamily("edgelabel_media_bytes", "Bytes of stored images.", value=totals["media_bytes"])
        yield labelled(CounterMetricFamily("edgelabel_rejections_total", "Messages rejected, by reason.",
                                           labels=["code"]), sorted(stats["rejections"]["by_code"].items()))
        yield labelled(GaugeMetricFamily("edgelabel_frames_by_status",
                                         "Frames by review state (duplicate: removed by dedup).", labels=["status"]),
                       sorted(stats["frames_by_status"].items()))
        yield labelled(CounterMetricFamily("edgelabel_device_frames_total", "Frames stored per device.",
                                           labels=["device"]), ((name, d["frames"]) for name, d in devices))
        yield labelled(GaugeMetricFamily("edgelabel_device_last_frame_timestamp_seconds",
                                         "When each device's last frame arrived.", labels=["device"]),
                       ((name, d["last_seen"]) for name, d in devices if d["last_seen"]))
        yield per_device(GaugeMetricFamily("edgelabel_device_last_heartbeat_timestamp_seconds",
                                           "When each device's last heartbeat arrived.", labels=["device"]),
                         "received_at")
        yield per_device(GaugeMetricFamily("edgelabel_device_spooled_frames",
                                           "Frames waiting in each device's spool (last heartbeat).",
                                           labels=["device"]), "spooled")
        yield per_device(GaugeMetricFamily("edgelabel_device_spool_bytes",
                                           "Bytes in each device's spool (last heartbeat).", labels=["device"]),
                         "spool_bytes")
        yield per_device(GaugeMetricFamily("edgelabel_device_fps",
                                           "Frames per second through each device's pipeline (last heartbeat).",
                                           labels=["device"]), "fps")

    def _ingest_counters(self) -> Iterator[Metric]:
        yield CounterMetricFamily("edgelabel_ingest_messages_total", "Messages received by this collector process.",
                                  value=self.ingest.received)
        yield CounterMetricFamily("edgelabel_ingest_frames_stored_total",
                                  "New frames stored by this collector process.", value=self.ingest.stored)
        yield CounterMetricFamily("edgelabel_ingest_duplicate_messages_total",
                                  "Repeated (device, seq) messages acked without storing, this process.",
                                  value=self.ingest.retransmits)
        yield CounterMetricFamily("edgelabel_ingest_failed_batches_total",
                                  "Batches this process could not store (database or media store down), left "
                                  "unanswered for the agents to retransmit.", value=self.ingest.failed_batches)
