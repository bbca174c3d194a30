"""``edgelabel-collector duplicates``: the duplicate groups and why each frame is in one, for an audit."""

from __future__ import annotations

import argparse
import json

from server.commands.database_option import add_data_dir_argument, add_database_argument

EPILOG = """\
examples:
  edgelabel-collector duplicates --data-dir /var/lib/edgelabel
  edgelabel-collector duplicates --data-dir /var/lib/edgelabel --device cam-01 --limit 20 --json

Each group lists its representative (the one frame of it in the review queue) and every member
with the decision about it: the frame it repeats, exact (same bytes) or near, the block-hash
distance in bits and the share of the picture that differed after alignment. 'devices' shows,
per device, how often the perceptual hash it sent disagreed with the collector's; a flagged
device sends hashes that do not match its images.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "duplicates",
        help="list duplicate groups so the decisions can be audited",
        description="List the groups of duplicate frames: each group's representative and, per member, "
        "which frame it repeats and how closely.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_dir_argument(parser)
    add_database_argument(parser)
    parser.add_argument("--device", help="only this device's frames")
    parser.add_argument("--min-size", type=int, default=2, metavar="N",
                        help="only groups of at least N frames (default: %(default)s; 1 lists every group)")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N groups, largest first")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.dedup.report import duplicate_report
    from server.errors import CollectorError

    if args.min_size < 1 or (args.limit is not None and args.limit < 1):
        raise CollectorError("--min-size and --limit must be at least 1")
    with DataDir.open_readonly(args.data_dir, args.database) as store:
        with store.db.read("read the duplicates") as conn:
            report = duplicate_report(conn, device=args.device, min_size=args.min_size, limit=args.limit)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        print(format_report(report))
    return 0


def format_report(report: dict) -> str:
    totals = report["totals"]
    lines = [f"{totals['frames']} frames in {totals['groups']} groups; duplicates: "
             f"{totals['duplicates']['exact']} exact, {totals['duplicates']['near']} near"]
    for group in report["groups"]:
        lines.append(f"group {group['group_id']}: {group['size']} frames, representative {group['representative_id']}")
        for member in group["members"]:
            if member["duplicate_of"] is None:
                what = "representative" if member["frame_id"] == group["representative_id"] else "kept"
            else:
                area = "" if member["changed_area"] is None else f", {member['changed_area']:.1%} changed"
                what = f"{member['kind']} duplicate of {member['duplicate_of']} ({member['distance']} bits{area})"
            lines.append(f"  {member['frame_id']}\t{member['device']}/{member['seq']}\t{member['status']}\t{what}")
    for device, check in report["devices"].items():
        if check["flagged"]:
            lines.append(f"device {device}: FLAGGED, {check['disagreed']} of {check['checked']} edge hashes disagree "
                         "with its images")
    return "\n".join(lines)
