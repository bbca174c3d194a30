"""``edgelabel-collector media gc``: sweep stored images that no row references (see :mod:`server.media.gc`)."""

from __future__ import annotations

import argparse
import json
import sys

from server.commands.database_option import add_data_dir_argument, add_database_argument
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector media gc --data-dir /var/lib/edgelabel --dry-run
  edgelabel-collector media gc --data-dir /var/lib/edgelabel --media s3://frames/site-a --json

Images are stored before their frame's row commits, so a crash in between leaves an image no row
references. 'media gc' removes those, except images younger than the grace period (a batch may be
between its upload and its commit right now). Safe to run while 'serve' is running.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    media = subparsers.add_parser("media", help="maintain the stored images",
                                  description="Maintain the stored images (local folder or S3 bucket).",
                                  epilog="example:\n  edgelabel-collector media gc --data-dir /var/lib/edgelabel --dry-run\n",
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = media.add_subparsers(dest="media_command", metavar="COMMAND", required=True)
    gc = commands.add_parser(
        "gc", help="remove images that no frame references (orphans of a crash)",
        description="Remove stored images that no row references, keeping young ones.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(gc)
    add_database_argument(gc)
    add_media_argument(gc)
    gc.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")
    gc.add_argument("--grace-minutes", type=_minutes, default=None, metavar="N",
                    help="keep unreferenced images newer than N minutes (default: 60)")
    gc.add_argument("--json", action="store_true", help="print the summary as JSON")
    gc.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    gc.set_defaults(handler=run_gc)
    return media


def run_gc(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.gc import DEFAULT_GRACE_MINUTES, collect_garbage
    from server.media.options import media_from_args

    grace_minutes = DEFAULT_GRACE_MINUTES if args.grace_minutes is None else args.grace_minutes
    with DataDir.open_readonly(args.data_dir, args.database, media=media_from_args(args)) as store:
        summary = collect_garbage(store.db, store.media, grace_minutes * 60, args.dry_run,
                                  progress=_no_bar if args.no_progress else _bar)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        verb = "would remove" if summary.dry_run else "removed"
        count = summary.orphans if summary.dry_run else summary.removed
        print(f"media gc: {summary.scanned} images scanned, {summary.referenced} referenced, "
              f"{summary.young} unreferenced but younger than {grace_minutes:g} min (kept), {verb} {count} orphans"
              + ("" if summary.dry_run else f" ({summary.removed_bytes} bytes)"))
    return 0


def _bar(items):
    from tqdm import tqdm

    yield from tqdm(items, desc="media gc", unit="image", file=sys.stderr, leave=False, disable=None)


def _no_bar(items):
    return iter(items)


def _minutes(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected minutes >= 0, got {text!r}")
    return value
