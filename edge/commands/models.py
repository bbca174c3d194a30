"""``edgelabel-agent models``: what the model store of rollouts holds (see ``edge.rollout.store``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from edge.contract.errors import ConfigError

EPILOG = """\
examples:
  edgelabel-agent models --model-store /var/lib/edgelabel-agent/models
  edgelabel-agent models --spool-dir /var/lib/edgelabel-agent/spool --json   # the default store: SPOOL_DIR/models

'run' starts on the current model shown here instead of --model; the previous one is the last good
model, kept so that a rollback needs no download.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models", help="show the model store: the model rollouts accepted and the previous one",
        description="Show which model a rollout accepted (the one 'run' starts on) and the last good one.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--model-store", type=Path, metavar="DIR", help="the store ('run --model-store')")
    where.add_argument("--spool-dir", type=Path, metavar="DIR", help="the agent's spool; its store is DIR/models")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def run(args: argparse.Namespace) -> int:
    from edge.rollout.store import ModelStore

    directory = args.model_store or args.spool_dir / "models"
    if not directory.is_dir():
        raise ConfigError(f"no model store at {directory} (no rollout reached this agent yet, or another directory)")
    doc = ModelStore(directory).describe()
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"model store {doc['directory']}")
    for role in ("current", "previous"):
        model = doc[role]
        if model is None:
            print(f"  {role}: none" + (" (run uses --model)" if role == "current" else ""))
            continue
        accepted = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(model["accepted_at"]))
        origin = "the --model file" if model["deployment"] == 0 else f"deployment {model['deployment']}"
        print(f"  {role}: {model['model_id']} ({model['name']}, {origin}, accepted {accepted})"
              + ("" if Path(model["path"]).is_file() else " - FILE MISSING"))
    return 0
