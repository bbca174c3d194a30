"""``edgelabel-collector init``: create a collector's data directory, database schema and key pair.

Only ``init`` and ``serve`` create a data directory. Every other command refuses a missing one
(see :func:`require_data_dir`), so a typo in ``--data-dir`` is an error that names the path, not a
new, empty collector with a key pair no device knows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from server.commands.database_option import add_data_dir_argument, add_database_argument
from server.errors import CollectorError
from server.media.options import add_media_argument

EPILOG = """\
examples:
  edgelabel-collector init --data-dir /var/lib/edgelabel
  edgelabel-collector init --data-dir /var/lib/edgelabel --database postgresql://edgelabel@db/edgelabel \\
      --media s3://edgelabel-media/frames
  # then: keys add-device, users add, serve (all with the same --data-dir)

Running it again on an existing collector changes nothing but upgrading its schema.
"""

COMMANDS_THAT_CREATE = ("init", "serve", "demo")
"""Commands that may create a data directory; ``check-config`` and ``migrate`` name no ``--data-dir``."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "init", help="create a collector's data directory, database and key pair",
        description="Create a collector's data directory (mode 0700), its database schema and its CURVE key pair.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_database_argument(parser)
    add_media_argument(parser)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from server.datadir import DataDir
    from server.keys import KeyStore
    from server.media.options import media_from_args

    existed = (Path(args.data_dir) / "keys" / "collector.json").is_file()
    with DataDir.open(args.data_dir, database=args.database, media=media_from_args(args)) as store:
        database = store.db.location
    public_key = KeyStore(args.data_dir).collector_keys().public
    print(f"{'collector already initialised' if existed else 'initialised a collector'} in {args.data_dir}: "
          f"database {database}, collector public key {public_key}")
    return 0


def require_data_dir(args: argparse.Namespace) -> None:
    """Refuse a ``--data-dir`` that does not exist (commands other than :data:`COMMANDS_THAT_CREATE`).

    With ``--database`` (or ``collector.database`` from ``--config``) the database is elsewhere, and a
    node of a cluster may keep nothing but its keys locally: then only ``keys`` needs the folder."""
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None or args.command in COMMANDS_THAT_CREATE or Path(data_dir).is_dir():
        return
    if getattr(args, "database", None) and args.command != "keys":
        return
    raise CollectorError(f"no collector data directory at {data_dir}: check the path, or create one with "
                         f"'edgelabel-collector init --data-dir {data_dir}'")
