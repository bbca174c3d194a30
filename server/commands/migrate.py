"""``edgelabel-collector migrate``: move an embedded collector into PostgreSQL and S3 (see :mod:`server.migration`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = """\
examples:
  # the database to PostgreSQL and the images to a bucket (endpoint and keys from AWS_*)
  edgelabel-collector migrate --from /var/lib/edgelabel \\
      --to-database postgresql://edgelabel@db.example/edgelabel --to-media s3://frames/site-a
  # endpoint and keys from the [s3] table of the new nodes' config file
  edgelabel-collector migrate --from /var/lib/edgelabel --config /etc/edgelabel/collector.toml \\
      --to-database postgresql://edgelabel@db.example/edgelabel --to-media s3://frames/site-a
  # only the images, into another folder
  edgelabel-collector migrate --from /var/lib/edgelabel --to-media /mnt/big-disk/edgelabel-media

Stop 'serve' first: the source is opened read-only, and refused while another process has it open.
The target's migrations run first; then the images (skipping those already there), then every table
in foreign-key order with its ids, in batches, and PostgreSQL's id sequences are moved past them.
Interrupted (Ctrl-C, a crash)? Run the same command again: it goes on where it stopped and stores
nothing twice. A target database holding another collector's rows is refused. At the end every
table's row count and contents, and every image's SHA-256, are compared on both sides.
Afterwards start the nodes with --database and --media pointing at the targets (the data directory
still holds the device keys).

exit status: 0 when the target matches the source; 1 when the verification found a difference
(listed); 2 with a one-line error when the migration could not run
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "migrate", help="copy an embedded collector (SQLite and its media folder) into PostgreSQL and S3",
        description="Copy an embedded collector's database and images into PostgreSQL and an S3 bucket, "
                    "resumably, and verify the copy.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, type=Path, metavar="DATA_DIR",
                        help="the embedded collector's data directory (edgelabel.db and media/)")
    parser.add_argument("--to-database", metavar="URL", default=None,
                        help="target database: postgresql://USER@HOST[:PORT]/DB (default: collector.database "
                             "of --config; leave out to move only the images)")
    parser.add_argument("--to-media", metavar="s3://BUCKET/PREFIX", default=None,
                        help="target for the images: s3://BUCKET/PREFIX, or a folder (default: collector.media "
                             "of --config; leave out to move only the database)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="collector config file: its [s3] table says how to reach the bucket (AWS_* fill "
                             "what it leaves out)")
    parser.add_argument("--batch-size", type=_positive, default=None, metavar="N",
                        help="rows per transaction (default: 1000)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars on stderr")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from server.config import load_collector_config
    from server.media import MediaStore, open_media
    from server.migration.errors import MigrationError
    from server.migration.run import DEFAULT_BATCH_ROWS, migrate_collector

    config = load_collector_config(args.config)  # None: the defaults (no [s3] settings: AWS_* only)
    database = args.to_database or config.collector.database or None
    media_target = args.to_media or config.collector.media or None
    if database is None and media_target is None:
        raise MigrationError("nothing to migrate to: give --to-database URL, --to-media s3://BUCKET/PREFIX, or both")
    media = None
    if media_target is not None:
        media = (open_media(media_target, args.source, config.s3) if media_target.startswith("s3://")
                 else MediaStore(Path(media_target)))
    try:
        report = migrate_collector(args.source, database, media, args.batch_size or DEFAULT_BATCH_ROWS,
                                   _no_bar if args.no_progress else _bar)
    finally:
        if media is not None:
            media.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
    else:
        print(format_report(report))
    if not report.ok:
        differences = report.differences()
        print(f"edgelabel-collector migrate: verification failed: {differences[0]}"
              + (f" (and {len(differences) - 1} more differences)" if len(differences) > 1 else ""), file=sys.stderr)
        return 1
    return 0


def format_report(report) -> str:
    lines = [f"migrated {report.source} to " + " and ".join(
        target for target in (report.target_database, report.target_media) if target)]
    if report.tables:
        width = max(len(check.name) for check in report.tables)
        lines.append(f"  {'table':<{width}}  {'source':>9}  {'target':>9}  {'copied':>9}  check")
        for check in report.tables:
            verdict = "ok" if check.ok else ("COUNT DIFFERS" if check.source_rows != check.target_rows
                                             else "CONTENT DIFFERS")
            lines.append(f"  {check.name:<{width}}  {check.source_rows:>9}  {check.target_rows:>9}  "
                         f"{report.copied_rows.get(check.name, 0):>9}  {verdict}")
        if report.sequences:
            lines.append(f"  id sequences moved past the copied ids: {', '.join(report.sequences)}")
    if report.media is not None:
        copy = report.media_copy
        lines.append(f"  images: {report.media.referenced} referenced, {copy.copied} copied ({copy.copied_bytes} bytes), "
                     f"{copy.already_there} there already"
                     + (f", {copy.repaired} copied again after a failed check" if copy.repaired else "")
                     + f"; {report.media.verified} verified by SHA-256"
                     + ("" if report.media.ok else f", {len(report.media.missing)} missing, "
                                                   f"{len(report.media.wrong_hash)} wrong"))
    lines.append("verified: the target matches the source" if report.ok else "VERIFICATION FAILED:")
    lines += [f"  {difference}" for difference in report.differences()]
    return "\n".join(lines)


def _bar(total: int, desc: str, unit: str):
    from tqdm import tqdm

    # disable=None: no bar when stderr is not a terminal (logs, CI)
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, disable=None)


def _no_bar(total: int, desc: str, unit: str):
    from server.migration.copy_rows import NoProgress

    return NoProgress(total, desc, unit)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value
