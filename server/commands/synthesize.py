"""``edgelabel-collector synthesize``: new labeled frames of a fixed camera from its verified objects."""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path

from server.commands.database_option import add_data_dir_argument, add_database_argument
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector synthesize --data-dir /var/lib/edgelabel --device cam-01 --classes person --count 200
  edgelabel-collector synthesize --data-dir /var/lib/edgelabel --device cam-01 --classes person,bicycle \\
      --count 50 --objects-per-frame 2-5 --seed 7 --report synth-cam-01.html
  edgelabel-collector export yolo --data-dir /var/lib/edgelabel --out datasets/cam-01 --include-synthetic

How it works: the camera's empty background is the per-pixel median of its verified frames with
the verified boxes masked out (recomputed when frames were verified since). Verified objects of the
classes are cut out (foreground against that background, else GrabCut, else the box) and pasted
where that class was seen, at the height seen there, far ones first, with feathered edges and the
light of the new place. Boxes are the pasted masks' extents: exact by construction.

The frames are stored marked synthetic (frames.status 'synthetic', a negative seq, rows in
synthetic_frames/synthetic_objects): kept out of the review queue (unless --review), out of the
duplicate index, and out of exports unless 'export --include-synthetic' (their own split).
--report writes an HTML page and a PNG with synthetic samples next to real frames of the camera.

exit status 2 with one line when the device is unknown, a class was never verified on it, or it
has too few verified frames (a background needs 5) or usable objects (3 per class).
"""

log = logging.getLogger("server.commands.synthesize")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "synthesize", help="generate labeled frames of a fixed camera by pasting verified objects on its background",
        description="Generate new labeled frames for a fixed camera: reviewer-verified objects pasted onto the "
                    "same camera's empty background, with exact boxes.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_dir_argument(parser)
    add_database_argument(parser)
    add_media_argument(parser)
    parser.add_argument("--device", required=True, metavar="NAME", help="the camera to synthesize frames for")
    parser.add_argument("--classes", required=True, type=_names, metavar="A,B",
                        help="classes to paste (each must have verified objects on that camera)")
    parser.add_argument("--count", required=True, type=_positive, metavar="N", help="how many frames to generate")
    parser.add_argument("--objects-per-frame", type=_range, default=(1, 3), metavar="N|MIN-MAX",
                        help="objects in each frame, a number or a range (default: 1-3)")
    parser.add_argument("--max-overlap", type=float, default=0.3, metavar="F",
                        help="largest share of the smaller of two objects the other may cover (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: the same seed and data give the same frames")
    parser.add_argument("--no-colour-match", action="store_true",
                        help="paste objects with their original colours instead of the light of the new place")
    parser.add_argument("--refresh-background", action="store_true",
                        help="recompute the camera's background even when it is up to date")
    parser.add_argument("--review", action="store_true",
                        help="queue the frames for review (their constructed boxes as pre-labels); default: not queued")
    parser.add_argument("--report", type=Path, metavar="PATH.html",
                        help="write an HTML page (and PATH.png) with synthetic samples next to real frames")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from edge import logs
    from server.commands.export import _no_bar, progress_bar
    from server.db import open_database
    from server.errors import CollectorError
    from server.media.options import media_from_args
    from server.synthetic.generate import SynthesisSettings
    from server.synthetic.pipeline import synthesize
    from server.synthetic.report import report_tiles, write_report

    logs.configure(args.verbose)
    try:
        settings = SynthesisSettings(count=args.count, classes=args.classes, min_objects=args.objects_per_frame[0],
                                     max_objects=args.objects_per_frame[1], max_overlap=args.max_overlap,
                                     colour_match=not args.no_colour_match)
    except ValueError as exc:
        raise CollectorError(str(exc)) from None
    media = media_from_args(args)
    try:
        result = synthesize(args.data_dir, args.device, settings, seed=args.seed, review=args.review,
                            database=args.database, refresh_background=args.refresh_background,
                            progress=_no_bar if args.no_progress else progress_bar, media=media)
        if args.report:
            with open_database(args.data_dir, "current", args.database) as db, \
                    db.read("read the synthetic frames") as conn:
                tiles = report_tiles(conn, media, args.device, result.frame_ids)
    finally:
        media.close()
    summary = result.to_json()
    if args.report:
        facts = {"device": args.device, "run": result.run_id, "frames": len(result.frame_ids),
                 "objects": result.objects, "bank": summary["bank"], "background": summary["background"]}
        png = write_report(args.report, args.device, tiles, facts)
        summary["report"] = {"html": str(args.report), "png": str(png)}
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(format_summary(summary, args.review))
    return 0


def format_summary(summary: dict, review: bool) -> str:
    bank = summary["bank"]
    lines = [f"{summary['frames']} synthetic frame(s) with {summary['objects']} object(s) stored for "
             f"{summary['device']} (run {summary['run_id']}, "
             f"{'queued for review' if review else 'not in the review queue'})",
             "  objects: " + ", ".join(f"{n} {c}" for c, n in summary["objects_by_class"].items()),
             f"  background from {summary['background']['frames']} verified frame(s); bank: "
             + ", ".join(f"{n} {c}" for c, n in bank["objects"].items())
             + " (masks: " + ", ".join(f"{n} {k}" for k, n in bank["mask_kinds"].items()) + ")"]
    if bank["rejected"]:
        lines.append("  left out of the bank: " + ", ".join(f"{n} {k}" for k, n in bank["rejected"].items()))
    if "report" in summary:
        lines.append(f"  report: {summary['report']['html']} and {summary['report']['png']}")
    lines.append("  export them with: edgelabel-collector export FORMAT ... --include-synthetic")
    return "\n".join(lines)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise argparse.ArgumentTypeError("expected class names separated by commas, e.g. person,car")
    return names


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def _range(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX, e.g. 3 or 1-4, got {text!r}")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX, got {text!r}")
    return low, high
