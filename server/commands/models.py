"""``edgelabel-collector models``: register model files and evaluate them on verified frames."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from server.commands.database_option import add_database_argument
from server.commands.export import _time
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector models add runs/detect/train/weights/best.onnx --name cams-v2 --data-dir /var/lib/edgelabel
  edgelabel-collector models list --data-dir /var/lib/edgelabel
  edgelabel-collector models evaluate cams-v2 --baseline yolox_nano --data-dir /var/lib/edgelabel --report eval
"""

EVALUATE_EPILOG = """\
examples:
  edgelabel-collector models evaluate cams-v2 --data-dir /var/lib/edgelabel --json
  edgelabel-collector models evaluate cams-v2 --baseline yolox_nano --device cam-01 --since 2024-05-01 \\
      --exclude-from datasets/cams-yolo --report eval/ --data-dir /var/lib/edgelabel

The model runs through the agent's own detector (the agent must be installed beside the collector:
pip install 'edgelabel[edge]') on every verified frame (accepted or corrected in review, or imported
as verified), and is scored against the reviewers' boxes: per project class (model classes mapped
through the taxonomy) precision and recall at IoU 0.5 of the boxes a device keeps (score >= 0.3 by
default), AP at IoU 0.5 and COCO mAP@[.5:.95]. --exclude-from drops the frames a candidate was
trained on: give the export it was trained on (its directory or .edgelabel-export.json, which
lists the exported frame ids), or a JSON list of frame ids, a JSON object whose "frames" lists ids
or {"id": ...} objects, or a text file with one id per line.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    models = subparsers.add_parser("models", help="register detector models and evaluate them on verified frames",
                                   description="Register detector models and evaluate them on verified frames.",
                                   epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    add = commands.add_parser(
        "add", help="register an ONNX model file", description="Register an ONNX model file: store it by its "
        "SHA-256 with the layout, classes and input size the agent reads from it.",
        epilog="example:\n  edgelabel-collector models add best.onnx --name cams-v2 --data-dir /var/lib/edgelabel\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("file", type=Path, metavar="FILE", help="the model (.onnx)")
    add.add_argument("--name", help="the name to register it under (default: the file's stem)")
    _store_options(add)
    add.add_argument("--json", action="store_true", help="print the registered model as JSON")
    add.set_defaults(handler=run_add)

    listing = commands.add_parser(
        "list", help="registered models, the devices running each, and how reviewers judged its pre-labels",
        description="Registered models, with the devices whose last heartbeat named each and, per device, the "
        "share of the model's pre-labels on verified frames that reviewers kept unchanged.",
        epilog="example:\n  edgelabel-collector models list --data-dir /var/lib/edgelabel --json\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _store_options(listing)
    listing.add_argument("--json", action="store_true", help="print the models as JSON")
    listing.set_defaults(handler=run_list)

    evaluate = commands.add_parser(
        "evaluate", help="score a model (against a baseline) on verified frames",
        description="Score a registered model, and a baseline beside it, against the reviewers' boxes.",
        epilog=EVALUATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluate.add_argument("name", metavar="NAME", help="the registered model to evaluate")
    evaluate.add_argument("--baseline", metavar="NAME", help="a registered model to score side by side")
    evaluate.add_argument("--device", help="only frames of this device")
    evaluate.add_argument("--since", type=_time, metavar="TIME",
                          help="only frames captured at or after (ISO date/time or Unix seconds)")
    evaluate.add_argument("--exclude-from", type=Path, metavar="MANIFEST",
                          help="leave out the frames of this export (directory or manifest) or id list: the "
                               "candidate's training frames")
    evaluate.add_argument("--score-threshold", type=float, default=None, metavar="S",
                          help="score of the boxes precision and recall count (default: 0.3, the agent's)")
    evaluate.add_argument("--report", type=Path, metavar="DIR",
                          help="write DIR/index.html (per-class bars, differing frames) and DIR/summary.json")
    _store_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the summary as JSON")
    evaluate.set_defaults(handler=run_evaluate)
    return models


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", required=True, type=Path, help="the collector's data directory")
    add_database_argument(parser)
    add_media_argument(parser)


def run_add(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.options import media_from_args
    from server.models.registry import add_model

    with DataDir.open(args.data_dir, database=args.database, media=media_from_args(args)) as store:
        model = add_model(store.db, store.media, args.file, args.name)
    if args.json:
        print(json.dumps(model.to_json(), indent=2, sort_keys=True))
    else:
        print(f"registered {model.name}: {model.model_id} ({model.format}, {model.layout} layout, "
              f"{model.input_width}x{model.input_height} input, {len(model.class_names)} classes, "
              f"{model.size_bytes} bytes, sha256 {model.sha256})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.options import media_from_args
    from server.models.registry import list_models

    with DataDir.open_readonly(args.data_dir, args.database, media=media_from_args(args)) as store:
        models = list_models(store.db)
    if args.json:
        print(json.dumps(models, indent=2, sort_keys=True))
        return 0
    if not models:
        print("no models registered (see 'models add')")
    for model in models:
        devices = ", ".join(d["device"] for d in model["devices"]) or "no device"
        print(f"{model['name']}  {model['model_id']}  {model['layout']}  {model['input_width']}x{model['input_height']}"
              f"  {len(model['class_names'])} classes  running on: {devices}")
        for row in model["reviewed"]:
            precision = f"{row['precision']:.3f}" if row["precision"] is not None else "-"
            print(f"  {row['device']} ({row['model_id']}): reviewers kept {row['kept_unchanged']} of "
                  f"{row['prelabel_boxes']} pre-labels unchanged on {row['verified_frames']} verified frames "
                  f"(precision {precision})")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.options import media_from_args
    from server.models.evaluation import OPERATING_THRESHOLD, evaluate, read_manifest
    from server.models.report import write_report

    excluded = read_manifest(args.exclude_from) if args.exclude_from else set()
    threshold = OPERATING_THRESHOLD if args.score_threshold is None else args.score_threshold
    work_dir = args.report / "frames" if args.report else None
    with DataDir.open_readonly(args.data_dir, args.database, media=media_from_args(args)) as store:
        result = evaluate(store, args.name, args.baseline, args.device, args.since, excluded, threshold, work_dir)
    if args.report:
        page = write_report(result, args.report)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
    else:
        _print_summary(result)
        if args.report:
            print(f"report: {page}")
    return 0


def _print_summary(result) -> None:
    scores = [result.candidate] + ([result.baseline] if result.baseline else [])
    print(f"{len(result.frames)} verified frames, IoU 0.5, boxes kept at score >= "
          f"{result.candidate.overall['operating_threshold']}")
    header = f"{'class':<16}" + "".join(f"{score.model[:24]:>34}" for score in scores)
    print(header)
    print(f"{'':<16}" + f"{'P':>8} {'R':>8} {'AP50':>8} {'mAP':>7}" * len(scores))
    rows = [("all", [score.overall for score in scores])]
    rows += [(name, [score.per_class[name] for score in scores]) for name in result.classes]
    for name, values in rows:
        cells = "".join(" ".join(_number(v.get(key)) for key in ("precision", "recall", "ap50", "map"))
                        .rjust(34) for v in values)
        print(f"{name[:16]:<16}{cells}")
    for score in scores:
        if score.ignored_boxes:
            print(f"note: {score.ignored_boxes} boxes of {score.model} are of model classes no project class "
                  "maps to, and were left out (map them on the taxonomy page or with 'classes import')")


def _number(value) -> str:
    return f"{value:8.3f}" if value is not None else f"{'-':>8}"
