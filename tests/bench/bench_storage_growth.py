"""Measurement: what one stored frame costs in PostgreSQL and in the bucket, from a real agent run.

A throwaway PostgreSQL cluster (tests/server/_postgres.py), the real ``edgelabel-collector serve``
on it (media in a local folder: the bytes are the same in a bucket), and the real agent on a real
clip with selection opened wide, so it sends hundreds of frames with the detector's real boxes.
The growth of every table (``pg_total_relation_size``: rows, indexes, TOAST) from the empty,
migrated database to the end of the run, divided by the frames stored, is the per-frame cost that
deploy/README.md's sizing notes multiply out. Prints a table and one JSON line.

    python tests/bench/bench_storage_growth.py [--clip pets09_s2l1_pedestrians_vtest_480x360.mp4]
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.conftest import DATA_DIR, MODEL_PATH  # noqa: E402
from tests.server._postgres import PostgresCluster  # noqa: E402

SIZES = ("SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
         " WHERE n.nspname = 'public' AND c.relkind = 'r'")
FRAMES_PER_CAMERA_DAY = 12 * 60 * 24
"""12 keyframes a minute, the agent's default budget."""


def table_sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(SIZES).fetchall())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="pets09_s2l1_pedestrians_vtest_480x360.mp4")
    args = parser.parse_args()
    cluster = PostgresCluster()
    try:
        with tempfile.TemporaryDirectory(prefix="edgelabel-growth-") as tmp:
            return measure(cluster, Path(tmp), DATA_DIR / "videos" / args.clip)
    finally:
        cluster.stop()


def measure(cluster: PostgresCluster, tmp: Path, clip: Path) -> int:
    url, data_dir, credentials = cluster.new_database(), tmp / "collector", tmp / "cam.toml"
    subprocess.run([sys.executable, "-m", "server", "init", "--data-dir", str(data_dir), "--database", url],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "server", "keys", "add-device", "cam", "--data-dir", str(data_dir),
                    "--endpoint", "tcp://127.0.0.1:1", "--out", str(credentials)], check=True, capture_output=True)
    serve = subprocess.Popen([sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--database", url,
                              "--ingest", "tcp://127.0.0.1:*"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        ready, _, _ = select.select([serve.stdout], [], [], 60)
        line = serve.stdout.readline() if ready else ""
        if not line.startswith("listening on "):
            raise SystemExit(f"collector did not start: {line!r}")
        before = table_sizes(url)  # migrated and empty
        # Selection opened wide: every frame that differs at all, no budget.
        subprocess.run([sys.executable, "-m", "edge", "run", "--source", str(clip), "--model", str(MODEL_PATH),
                        "--credentials", str(credentials), "--collector", line.split()[2],
                        "--spool-dir", str(tmp / "spool"), "--min-gap", "0", "--scene-threshold", "0",
                        "--keyframes-per-minute", "0", "--megabytes-per-hour", "0", "--threads", "1", "--json",
                        "-q"], check=True, stdout=subprocess.DEVNULL)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
    after = table_sizes(url)
    with psycopg.connect(url) as conn:
        frames, detections, jpeg_bytes = conn.execute(
            "SELECT count(*), (SELECT count(*) FROM detections), sum(media_bytes) FROM frames").fetchone()
    growth = {table: after[table] - before.get(table, 0) for table in after}
    print(f"{frames} frames, {detections / frames:.1f} boxes per frame, JPEG {jpeg_bytes / frames / 1000:.1f} KB per frame")
    print(f"{'table':<28} {'bytes per frame':>16}")
    for table, grown in sorted(growth.items(), key=lambda item: -item[1]):
        if grown:
            print(f"{table:<28} {grown / frames:>16.0f}")
    database_per_frame = sum(growth.values()) / frames
    print(f"{'all tables':<28} {database_per_frame:>16.0f}")
    per_day = database_per_frame * FRAMES_PER_CAMERA_DAY
    print(f"per camera and day at 12 keyframes/min: database {per_day / 1e6:.0f} MB, "
          f"bucket {40_000 * FRAMES_PER_CAMERA_DAY / 1e6:.0f} MB at 40 KB per JPEG")
    print(json.dumps({"clip": clip.name, "frames": frames, "boxes_per_frame": round(detections / frames, 2),
                      "jpeg_bytes_per_frame": round(jpeg_bytes / frames), "database_bytes_per_frame":
                      round(database_per_frame), "tables": {t: round(g / frames) for t, g in growth.items() if g}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
