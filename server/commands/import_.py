"""``edgelabel-collector import DIR``: bring an existing dataset in through the ingest path."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from server.commands.database_option import add_data_dir_argument, add_database_argument
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector import photos/ --data-dir /var/lib/edgelabel
  edgelabel-collector import coco/ --data-dir /var/lib/edgelabel --verified
  edgelabel-collector import coco/images/train2017 --data-dir /var/lib/edgelabel \\
      --annotations coco/annotations/instances_train2017.json --verified
  edgelabel-collector import datasets/cams-yolo --data-dir /var/lib/edgelabel --format yolo
  edgelabel-collector import MOT15/train --data-dir /var/lib/edgelabel

formats (guessed from the folder when --format is left out, in this order):
  mot     a MOTChallenge sequence (img1/, gt/gt.txt, seqinfo.ini; class names from gt/labels.txt
          when there is one, else every box a person), or a folder of sequences
  cvat    a CVAT 1.1 task (annotations.xml beside images/; for video or for images), or a folder
          of tasks; track ids kept
  labelstudio
          tasks.json (a Label Studio JSON export) with its images under images/, classes from
          label_config.xml; boxes of each task's first annotation, else of its first prediction
  coco    annotations/instances_<split>.json beside images/<split>/ (or <split>/); or DIR holds
          the images and --annotations names the instances JSON
  voc     Pascal VOC: Annotations/*.xml beside JPEGImages/, class names from labelmap.txt or
          labels.txt (track ids from a <track_id> element, as 'export voc' writes)
  yolo    images/... with labels/... beside them (images/{train,val} or flat images/),
          class names in data.yaml or classes.txt
  images  any folder of images, without labels

The frames are stored under the device 'import:NAME' (NAME: --name, else the folder's name),
deduplicated against everything stored, and queued for review with the dataset's boxes as
pre-labels. --verified says the labels were already checked: the new frames are accepted as
they are (recorded in the review trail with the author 'import:NAME'). Importing the same
dataset again stores nothing twice. Stop 'serve' on this data directory first: its duplicate
index would not see the imported frames until it restarts.

A folder holding several datasets (COCO splits, MOT sequences) gives one device per dataset,
'import:NAME/<split or sequence>', and one summary each (with --json: a list of summaries).
Label files in DIR that the import does not read are named in a warning on stderr.
"""


IMPORT_FORMATS = ("coco", "yolo", "mot", "voc", "cvat", "labelstudio", "images")
"""As :data:`server.importers.IMPORT_FORMATS`, repeated so --help imports nothing heavy (a test holds them equal)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "import", help="bring an image folder or a COCO, YOLO, MOT, VOC, CVAT or Label Studio dataset into the store and the review queue",
        description="Import an existing dataset: dedup, store and queue its images like frames from the edge.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="the dataset's folder")
    add_data_dir_argument(parser)
    add_database_argument(parser)
    add_media_argument(parser)
    parser.add_argument("--format", choices=IMPORT_FORMATS, help="dataset layout (default: guessed)")
    parser.add_argument("--annotations", type=Path, metavar="FILE", help="COCO instances JSON for the images in DIR")
    parser.add_argument("--name", help="dataset name; frames are stored as device 'import:NAME' (default: DIR's name)")
    parser.add_argument("--verified", action="store_true",
                        help="the labels were checked already: accept the frames instead of queueing them")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from server.commands.export import progress_bar
    from server.datadir import DataDir
    from server.importers import read_folder
    from server.importers.importer import import_dataset
    from server.media.options import media_from_args

    folder = read_folder(args.dir, args.format, args.annotations, args.name)
    for warning in folder.warnings:
        print(f"edgelabel-collector import: warning: {warning}", file=sys.stderr)
    summaries = []
    with DataDir.open(args.data_dir, database=args.database, media=media_from_args(args)) as store:
        for dataset in folder.datasets:
            summaries.append(import_dataset(store, dataset, verified=args.verified,
                                            progress=None if args.no_progress else progress_bar))
    if args.json:
        documents = [summary.to_json() for summary in summaries]
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, sort_keys=True))
        return 0
    for dataset, summary in zip(folder.datasets, summaries):
        print(f"imported {dataset.kind} dataset {summary.dataset!r} as device {summary.device!r}: {summary.images} images, "
              f"{summary.stored} stored and {'accepted' if args.verified else 'queued'}, {summary.duplicates} duplicates, "
              f"{summary.already_imported} already imported; {summary.boxes} boxes"
              + (f"; {summary.reencoded} re-encoded as JPEG" if summary.reencoded else ""))
        for reason, count in summary.skipped.items():
            print(f"  skipped {count}: {reason}")
    return 0
