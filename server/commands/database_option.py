"""``--database URL``: the option every command that opens the collector's database shares."""

from __future__ import annotations

import argparse


def add_database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", metavar="URL", default=None,
                        help="the collector's database: postgresql://USER@HOST[:PORT]/DB or sqlite:///PATH "
                             "(default: edgelabel.db in the data directory)")
