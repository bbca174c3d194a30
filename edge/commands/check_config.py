"""``edgelabel-agent check-config FILE``: read and validate an agent config file, print the result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """\
examples:
  edgelabel-agent check-config /etc/edgelabel/agent.toml
  edgelabel-agent check-config deploy/agent.example.toml --json

exit status: 0 when the file is valid (the effective settings are printed), 2 with a one-line
error naming the key, the value and what was expected otherwise.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check-config",
        help="validate an agent config file and print the effective settings",
        description="Read an agent config file (TOML, see deploy/agent.example.toml), check every key, type and "
        "range, and print the settings 'run --config FILE' would use (before any command-line flag). "
        "source.source, detector.model and the security choice may be left for the command line.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="agent config file (TOML)")
    parser.add_argument("--json", action="store_true", help="print the effective settings as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from edge.commands.detector_args import settings_from_config
    from edge.config import load_config
    from edge.contract.config_files import as_dict, as_toml
    from edge.contract.errors import ConfigError

    config = load_config(args.file)
    settings_from_config(config.detector, origin=f"{args.file}: [detector.tensorrt]")  # settings that clash
    if config.uplink.insecure and config.uplink.credentials:
        raise ConfigError(f"{args.file}: uplink.insecure = true and uplink.credentials = "
                          f"{config.uplink.credentials!r}: expected one of them, not both")
    if args.json:
        print(json.dumps(as_dict(config), indent=2))
    else:
        print(f"{args.file}: OK")
        missing = [name for name, value in (("source.source (or --source)", config.source.source),
                                            ("detector.model (or --model)", config.detector.model)) if not value]
        if not (config.uplink.insecure or config.uplink.credentials):
            missing.append("uplink.credentials or uplink.insecure (or --credentials / --insecure)")
        if missing:
            print("# still to give on the command line: " + "; ".join(missing))
        print(as_toml(config))
    return 0
