"""``edgelabel-collector export FORMAT``: write the collector's labeled frames as a training dataset."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from server.commands.database_option import add_data_dir_argument, add_database_argument
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector export yolo --data-dir /var/lib/edgelabel --out datasets/cams-yolo
  yolo detect train data=datasets/cams-yolo/data.yaml model=yolo11n.pt
  edgelabel-collector export coco --data-dir /var/lib/edgelabel --out datasets/cams-coco \\
      --device cam-01 --since 2024-05-01 --classes person,car
  edgelabel-collector export cvat --data-dir /var/lib/edgelabel --out cvat-tasks --status all
  edgelabel-collector export yolo --data-dir /var/lib/edgelabel --out datasets/cams-yolo --val-from cam-02
  edgelabel-collector export yolo --data-dir /var/lib/edgelabel --out datasets/cams-yolo \
      --val-from 2024-05-07..2024-05-08

formats:
  coco         annotations/instances_default.json (bbox xywh, area, iscrowd 0, segmentation [],
               categories, track_id) beside images/default/
  yolo         Ultralytics layout: images/{train,val}, labels/{train,val}, data.yaml; the split
               keeps every track (and the frames around it in time) on one side; where none
               can (one continuous clip) val is the latest frames, and data.yaml says so;
               --val-from holds out a device or a time range instead
  voc          Pascal VOC: Annotations/*.xml, JPEGImages/, ImageSets/Main/default.txt, labelmap.txt
  cvat         CVAT for video 1.1, one task per device: <device>/annotations.xml with <track>s
               (keyframe/outside flags) + <device>/images/frame_000000.png... (PNG) in frame order
  mot          MOTChallenge per device: <device>/img1/, gt/gt.txt (MOT17 columns: class, visibility),
               gt/labels.txt, seqinfo.ini (whole frameRate), frames.csv
  labelstudio  tasks.json (annotations for verified frames, predictions for pre-labels),
               label_config.xml, images/

--status verified (default) exports accepted and corrected frames with their reviewed boxes;
--status all adds every other frame that is not a duplicate or rejected, with the model's
pre-labels. Synthetic frames (made by 'edgelabel-collector synthesize') are left out unless
--include-synthetic, which adds them as their own split: images/synthetic + labels/synthetic for
yolo, a synthetic/ folder in the format's own layout for the others. The summary says how many
frames are of each kind. The export is written next to
--out and moved into place at the end: an interrupted export leaves the previous one intact.
"""


SPLIT_FACTS = ("val_by_time", "val_held_out", "val_is_train", "shared_tracks")
"""Keys of a YOLO summary's ``written`` that say how val was made; the notes say it in words."""

FORMAT_NAMES = ("coco", "cvat", "labelstudio", "mot", "voc", "yolo")
"""The keys of :data:`server.exports.FORMATS`, repeated so --help imports nothing heavy (a test holds them equal)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export", help="write verified frames and labels as a COCO, YOLO, VOC, CVAT, MOT or Label Studio dataset",
        description="Write the collector's frames and labels as a dataset for a training or labeling tool.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("format", choices=FORMAT_NAMES, metavar="FORMAT", help=", ".join(FORMAT_NAMES))
    add_data_dir_argument(parser)
    add_database_argument(parser)
    add_media_argument(parser)
    parser.add_argument("--out", required=True, type=Path,
                        help="directory to write (replaced if it holds an earlier export; refused if it holds anything else)")
    parser.add_argument("--status", choices=("verified", "all"), default="verified",
                        help="verified: reviewed frames only (default); all: also pre-labeled frames")
    parser.add_argument("--device", action="append", default=[], metavar="NAME", help="only this device (repeatable)")
    parser.add_argument("--since", type=_time, metavar="TIME", help="captured at or after (ISO date/time or Unix seconds)")
    parser.add_argument("--until", type=_time, metavar="TIME", help="captured before (ISO date/time or Unix seconds)")
    parser.add_argument("--classes", type=_names, default=(), metavar="A,B",
                        help="only boxes of these classes, and only frames that have one")
    parser.add_argument("--model-id", action="append", default=[], metavar="ID",
                        help="only frames pre-labeled by this model (repeatable)")
    parser.add_argument("--include-synthetic", action="store_true",
                        help="add synthetic frames (from 'synthesize') as their own split, 'synthetic'")
    parser.add_argument("--link", action="store_true",
                        help="hard-link images from the store instead of copying (saves space; do not edit them;"
                             " cvat writes PNGs, so it always copies)")
    parser.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                        help="yolo: share of frames for validation (default: %(default)s)")
    parser.add_argument("--val-from", type=_held_out, metavar="DEVICE|START..END",
                        help="yolo: validate on this device's frames, or on those captured in [START, END) "
                             "(ISO date/time or Unix seconds; either end may be left out), and train on the rest")
    parser.add_argument("--image-url-prefix", default="", metavar="URL",
                        help="labelstudio: prefix of each task's image path, e.g. /data/local-files/?d=export/")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.exports import ExportOptions, Selection, export
    from server.media.options import media_from_args

    if args.val_from is not None and args.format != "yolo":
        from server.exports.errors import ExportError

        raise ExportError(f"--val-from splits a yolo export into train and val; {args.format} has no val split")
    selection = Selection(status=args.status, devices=tuple(args.device), since=args.since, until=args.until,
                          classes=args.classes, model_ids=tuple(args.model_id),
                          include_synthetic=args.include_synthetic)
    options = ExportOptions(link_images=args.link, val_fraction=args.val_fraction, val_from=args.val_from,
                            image_url_prefix=args.image_url_prefix)
    with DataDir.open_readonly(args.data_dir, args.database, media=media_from_args(args)) as store:
        summary = export(store, args.format, args.out, selection, options,
                         progress=_no_bar if args.no_progress else progress_bar)
    if args.json:
        print(json.dumps(summary.to_json(), indent=2, sort_keys=True))
    else:
        print(format_summary(summary))
    return 0


def format_summary(summary) -> str:
    lines = [f"{summary.format} export written to {summary.out}: {summary.frames} frames, {summary.boxes} boxes, "
             f"{summary.tracks} tracks, {len(summary.classes)} classes from {len(summary.devices)} device(s)",
             f"  {summary.verified_frames} frames with verified labels (reviewed annotations), "
             f"{summary.prelabeled_frames} with model pre-labels (not reviewed)"
             + (f", {summary.synthetic_frames} synthetic (split 'synthetic')" if summary.synthetic_frames else ""),
             "  wrote: " + ", ".join(f"{value} {key}" for key, value in summary.written.items()
                                     if key not in SPLIT_FACTS)]
    lines.extend(f"  note: {note}" for note in summary.notes)
    if not summary.frames:
        lines.append("  note: nothing matched; try --status all, or check --device/--since/--until/--classes")
    return "\n".join(lines)


def progress_bar(items, total: int, description: str):
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=description, unit="frame", file=sys.stderr, leave=False,
                    disable=None)  # None: no bar when stderr is not a terminal


def _no_bar(items, total: int, description: str):
    yield from items


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date/time (2024-05-01T12:00) or Unix seconds, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive times are UTC, like the stored capture times
    return moment.timestamp()


def _held_out(text: str):
    """``--val-from``: a device name, or ``START..END`` (a time range; either end may be empty)."""
    from server.exports.errors import ExportError
    from server.exports.options import HeldOut

    try:
        if ".." not in text:
            return HeldOut(device=text)
        start, end = text.split("..", 1)
        return HeldOut(since=_time(start) if start else None, until=_time(end) if end else None)
    except ExportError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--val-from: ")) from None


def _names(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected class names separated by commas, e.g. person,car")
    return names
