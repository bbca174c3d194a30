"""``edgelabel-collector models``: register model files, evaluate them on verified frames, and roll
them out to devices (deploy, canary, shadow, rollback, status)."""

from __future__ import annotations

import argparse
import getpass
import json
import time
from pathlib import Path

from server.commands.database_option import add_database_argument
from server.commands.export import _time
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector models add runs/detect/train/weights/best.onnx --name cams-v2 --data-dir /var/lib/edgelabel
  edgelabel-collector models list --data-dir /var/lib/edgelabel
  edgelabel-collector models evaluate cams-v2 --baseline yolox_nano --data-dir /var/lib/edgelabel --report eval
  edgelabel-collector models deploy cams-v2 --all --canary 10 --data-dir /var/lib/edgelabel
  edgelabel-collector models status --data-dir /var/lib/edgelabel
  edgelabel-collector models rollback cam-01 --data-dir /var/lib/edgelabel
"""

DEPLOY_EPILOG = """\
examples:
  edgelabel-collector models deploy cams-v2 --device cam-01 --data-dir /var/lib/edgelabel
  # a canary: 10% of the known devices (at least one), the same ones each time for this model
  edgelabel-collector models deploy cams-v2 --all --canary 10 --data-dir /var/lib/edgelabel
  # shadow: devices keep pre-labeling with their model, run cams-v2 on every 5th kept frame, report agreement
  edgelabel-collector models deploy cams-v2 --device cam-01 --device cam-02 --shadow --shadow-every 5 \\
      --data-dir /var/lib/edgelabel

Each device gets a signed offer with its next heartbeat (signed with the data directory's
keys/model_signing.json; the device checks it with model_signing_key from its credentials), fetches
the file in chunks over its CURVE connection, checks its SHA-256, smoke-tests it and swaps it in,
then reports the outcome ('models status'). Known devices: those that sent a heartbeat and those
'keys add-device' allowed. A newer deployment to a device replaces one it has not taken up yet.
"""

ROLLBACK_EPILOG = """\
examples:
  # back to the model cam-01 ran before its current deployment
  edgelabel-collector models rollback cam-01 --data-dir /var/lib/edgelabel
  edgelabel-collector models rollback cam-01 --to yolox_nano --data-dir /var/lib/edgelabel

A rollback is a new active deployment, offered like any other; the model must be registered
('models add' the file the device ran before if it is not).
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

    deploy = commands.add_parser(
        "deploy", help="offer a registered model to devices (all, a canary share, or in shadow mode)",
        description="Offer a registered model to devices: they download it over their CURVE connection, check "
        "its SHA-256 and the collector's signature, and swap it in (or, with --shadow, run it beside their model).",
        epilog=DEPLOY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    deploy.add_argument("name", metavar="NAME", help="the registered model to deploy")
    targets = deploy.add_mutually_exclusive_group(required=True)
    targets.add_argument("--device", action="append", metavar="DEVICE", help="a device to deploy to (repeatable)")
    targets.add_argument("--all", action="store_true", help="every known device")
    deploy.add_argument("--canary", type=_percent, metavar="PCT",
                        help="only this percentage of the devices chosen (at least one; deterministic, printed)")
    deploy.add_argument("--shadow", action="store_true",
                        help="devices keep their model and run this one beside it, reporting how far they agree")
    deploy.add_argument("--shadow-every", type=int, metavar="N",
                        help="with --shadow: run the candidate on every Nth kept frame (default: 1)")
    _store_options(deploy)
    deploy.add_argument("--json", action="store_true", help="print the deployments as JSON")
    deploy.set_defaults(handler=run_deploy)

    rollback = commands.add_parser(
        "rollback", help="deploy to a device the model it ran before (or --to NAME)",
        description="Deploy to a device the model it ran before its current deployment, or the model --to names.",
        epilog=ROLLBACK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    rollback.add_argument("device", metavar="DEVICE")
    rollback.add_argument("--to", metavar="NAME", help="the registered model to go back to")
    _store_options(rollback)
    rollback.add_argument("--json", action="store_true", help="print the deployment as JSON")
    rollback.set_defaults(handler=run_rollback)

    status = commands.add_parser(
        "status", help="per device: its model, its newest deployment and outcome, shadow agreement",
        description="Per known device: the model its last heartbeat named, its newest deployment with what the "
        "device reported, and the agreement of its newest shadow deployment.",
        epilog="examples:\n  edgelabel-collector models status --data-dir /var/lib/edgelabel\n"
        "  edgelabel-collector models status --device cam-01 --data-dir /var/lib/edgelabel --json\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    status.add_argument("--device", metavar="DEVICE", help="only this device")
    _store_options(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=run_status)
    return models


def _percent(value: str) -> float:
    try:
        return float(value.removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10 or 10%, got {value!r}") from None


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
        for deployment in model["deployments"]:
            print(f"  deployment {deployment['id']} to {deployment['device']} ({deployment['mode']}, "
                  f"{deployment['kind']}): {deployment['state']}")
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


# --- rollout ---------------------------------------------------------------------------------------


def _allowlisted(data_dir: Path) -> list[str]:
    from server.keys import KeyStore

    return list(KeyStore(data_dir).devices())


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's numeric user)
        return ""


def run_deploy(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.options import media_from_args
    from server.models import ModelRegistryError
    from server.models.deployments import canary_pick, check_agents, deploy, known_devices
    from server.models.registry import get_model

    if args.shadow_every is not None and not args.shadow:
        raise ModelRegistryError("--shadow-every goes with --shadow")
    with DataDir.open(args.data_dir, database=args.database, media=media_from_args(args)) as store:
        with store.db.read("list the known devices") as conn:
            model = get_model(conn, args.name)
            known = known_devices(conn, _allowlisted(args.data_dir))
        chosen = sorted(set(args.device)) if args.device else known
        check_agents(chosen)
        unknown = [device for device in chosen if device not in known]
        if unknown:
            raise ModelRegistryError(f"unknown device {unknown[0]!r}: it sent no heartbeat and has no key "
                                     f"(known: {', '.join(known) or 'none yet'})")
        if not chosen:
            raise ModelRegistryError("no known device: devices become known by a heartbeat or 'keys add-device'")
        picked = canary_pick(chosen, model.sha256, args.canary) if args.canary is not None else chosen
        deployments = deploy(store.db, args.name, picked, "shadow" if args.shadow else "active",
                             args.shadow_every or 1, "canary" if args.canary is not None else "deploy", _operator())
    if args.json:
        print(json.dumps({"canary_percent": args.canary, "candidates": len(chosen),
                          "deployments": [d.to_json() for d in deployments]}, indent=2, sort_keys=True))
        return 0
    if args.canary is not None:
        print(f"canary: {len(picked)} of {len(chosen)} device(s) ({args.canary:g}%): {', '.join(picked)}")
    for d in deployments:
        shadow = f", on 1 in {d.shadow_every} kept frames" if d.mode == "shadow" else ""
        print(f"deployment {d.id}: {d.name} ({d.mode}{shadow}) to {d.device}, offered with its next heartbeat")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.options import media_from_args
    from server.models import ModelRegistryError
    from server.models.deployments import check_agents, known_devices, rollback

    with DataDir.open(args.data_dir, database=args.database, media=media_from_args(args)) as store:
        with store.db.read("list the known devices") as conn:
            known = known_devices(conn, _allowlisted(args.data_dir))
        check_agents([args.device])
        if args.device not in known:
            raise ModelRegistryError(f"unknown device {args.device!r} (known: {', '.join(known) or 'none yet'})")
        deployment = rollback(store.db, args.device, args.to, _operator())
    if args.json:
        print(json.dumps(deployment.to_json(), indent=2, sort_keys=True))
    else:
        print(f"deployment {deployment.id}: rollback of {deployment.device} to {deployment.name}, offered with its "
              "next heartbeat")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.media.options import media_from_args
    from server.models import ModelRegistryError
    from server.models.deployments import rollout_status

    with DataDir.open_readonly(args.data_dir, args.database, media=media_from_args(args)) as store:
        with store.db.read("read the rollout status") as conn:
            status = rollout_status(conn, _allowlisted(args.data_dir))
    if args.device is not None:
        status = [row for row in status if row["device"] == args.device]
        if not status:
            raise ModelRegistryError(f"unknown device {args.device!r}")
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return 0
    if not status:
        print("no known device")
    now = time.time()
    for row in status:
        if row["model_id"] is None:
            running = "no heartbeat yet"
        else:
            running = (f"runs {row['model'] or 'an unregistered model'} ({row['model_id']}), heartbeat "
                       f"{max(0, now - row['heartbeat_at']):.0f} s ago")
        print(f"{row['device']}: {running}")
        deployment = row["deployment"]
        if deployment is not None:
            last = deployment["reports"][-1] if deployment["reports"] else None
            detail = f" ({last['detail']})" if last and last["detail"] else ""
            print(f"  deployment {deployment['id']}: {deployment['name']} ({deployment['mode']}, "
                  f"{deployment['kind']}): {deployment['state']}{detail}")
        shadow = row["shadow"]
        if shadow is not None and shadow["agreement"] is not None:
            ratio = shadow["agreement_ratio"]
            print(f"  shadow deployment {shadow['id']}: {shadow['name']} agrees "
                  f"{'-' if ratio is None else f'{ratio:.3f}'} with the running model on "
                  f"{shadow['agreement']['frames']} frames ({shadow['agreement']['matched_boxes']} boxes matched)")
    return 0
