"""The shared ``--media`` option of the commands that read or write images."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.media import MediaBackend, open_media

MEDIA_HELP = ("where the images are: s3://BUCKET/PREFIX for an S3-compatible bucket (endpoint and credentials "
              "from --config's [s3] table or the AWS_* environment variables, e.g. AWS_ENDPOINT_URL), or leave "
              "out for DATA_DIR/media")


def add_media_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--media", default=None, metavar="s3://BUCKET/PREFIX", help=MEDIA_HELP)


def media_from_args(args: argparse.Namespace, s3: object | None = None) -> MediaBackend:
    """The media store ``--media`` names (the data directory's folder without it), reached with ``s3``
    or else the ``[s3]`` table of the command's ``--config`` file (see :mod:`server.commands.database_option`)."""
    return open_media(getattr(args, "media", None), Path(args.data_dir), s3 or getattr(args, "s3", None))
