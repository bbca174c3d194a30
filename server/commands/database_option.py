"""``--database URL`` and ``--config FILE``: the options every command that opens the collector's
database shares, so a command run beside ``serve`` can read the same settings file.

The file's ``collector.database`` and ``collector.media`` fill the flags left out, and its ``[s3]``
table says how to reach the bucket (where the ``AWS_*`` environment variables are otherwise the
only way). A flag always wins over the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DATA_DIR_HELP = "the collector's data directory (as given to serve)"


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir DIR``, required, with the same help everywhere."""
    parser.add_argument("--data-dir", required=True, type=Path, metavar="DIR", help=DATA_DIR_HELP)


def add_database_argument(parser: argparse.ArgumentParser, with_config: bool = True) -> None:
    """``--database``, and ``--config`` unless the command has one of its own (``serve``)."""
    parser.add_argument("--database", metavar="URL", default=None,
                        help="the collector's database: postgresql://USER@HOST[:PORT]/DB or sqlite:///PATH "
                             "(default: edgelabel.db in the data directory)")
    if with_config:
        parser.add_argument("--config", type=Path, metavar="FILE", default=None,
                            help="the collector's config file (TOML, as for serve): its collector.database, "
                                 "collector.media and [s3] table fill what the flags leave out")


def fill_from_config(args: argparse.Namespace) -> None:
    """Complete ``args`` from its ``--config`` file (nothing without one; ``serve`` reads its own)."""
    path = getattr(args, "config", None)
    if path is None or not hasattr(args, "database") or args.command == "serve":
        return  # no file, or a command that reads its own (serve, migrate)
    from server.config import load_collector_config

    config = load_collector_config(path)
    if getattr(args, "database", None) is None and config.collector.database:
        args.database = config.collector.database
    if hasattr(args, "media") and args.media is None and config.collector.media:
        args.media = config.collector.media
    args.s3 = config.s3
