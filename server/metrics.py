"""The collector's Prometheus metrics: what ``stats --json`` says, plus this process's ingest counters.

Totals come from the database on each scrape (a read-only connection, one snapshot), so they
match ``edgelabel-collector stats`` exactly and survive restarts; ``edgelabel_ingest_*`` counts
what this process has received since it started.
"""

from __future__ import annotations

from pathlib import Path

from edge.prometheus import Metric
from server.datadir import DataDir
from server.receiver import IngestCounts


def collector_metrics(data_dir: Path, ingest: IngestCounts) -> list[Metric]:
    with DataDir.open_readonly(data_dir) as store:
        stats = store.stats()
    totals = stats["totals"]
    devices = stats["devices"]
    per_device = lambda key: tuple(  # noqa: E731
        ({"device": name}, float(device["status"][key])) for name, device in sorted(devices.items())
        if device.get("status") and key in device["status"]
    )
    return [
        Metric.single("edgelabel_frames_total", "Frames stored (duplicates included).", "counter", totals["frames"]),
        Metric.single("edgelabel_detections_total", "Pre-label boxes stored.", "counter", totals["detections"]),
        Metric.single("edgelabel_media_bytes", "Bytes of stored images.", "gauge", totals["media_bytes"]),
        Metric("edgelabel_rejections_total", "Messages rejected, by reason.", "counter",
               tuple(({"code": code}, n) for code, n in sorted(stats["rejections"]["by_code"].items()))),
        Metric("edgelabel_frames_by_status", "Frames by review state (duplicate: removed by dedup).", "gauge",
               tuple(({"status": status}, n) for status, n in sorted(stats["frames_by_status"].items()))),
        Metric("edgelabel_device_frames_total", "Frames stored per device.", "counter",
               tuple(({"device": name}, d["frames"]) for name, d in sorted(devices.items()))),
        Metric("edgelabel_device_last_frame_timestamp_seconds", "When each device's last frame arrived.", "gauge",
               tuple(({"device": name}, d["last_seen"]) for name, d in sorted(devices.items()) if d["last_seen"])),
        Metric("edgelabel_device_last_heartbeat_timestamp_seconds", "When each device's last heartbeat arrived.",
               "gauge", per_device("received_at")),
        Metric("edgelabel_device_spooled_frames", "Frames waiting in each device's spool (last heartbeat).",
               "gauge", per_device("spooled")),
        Metric("edgelabel_device_spool_bytes", "Bytes in each device's spool (last heartbeat).", "gauge",
               per_device("spool_bytes")),
        Metric("edgelabel_device_fps", "Frames per second through each device's pipeline (last heartbeat).",
               "gauge", per_device("fps")),
        Metric.single("edgelabel_ingest_messages_total", "Messages received by this collector process.", "counter",
                      ingest.received),
        Metric.single("edgelabel_ingest_frames_stored_total", "New frames stored by this collector process.",
                      "counter", ingest.stored),
        Metric.single("edgelabel_ingest_duplicate_messages_total",
                      "Repeated (device, seq) messages acked without storing, this process.", "counter",
                      ingest.duplicates),
    ]
