"""Content-addressed JPEG storage behind one interface (:class:`server.media.base.MediaBackend`).

:func:`open_media` picks the store from a URL: nothing (the default) means the data directory's
``media/`` folder (:mod:`server.media.local`), ``s3://bucket/prefix`` an S3-compatible bucket
(:mod:`server.media.s3`, needs the ``s3`` extra).
"""

from __future__ import annotations

from pathlib import Path

from server.errors import StoreError
from server.media.base import (
    MediaBackend,
    MediaMissingError,
    StoredObject,
    checked_digest,
    relative_name,
)
from server.media.local import MediaStore

MEDIA_DIRNAME = "media"

__all__ = ["MEDIA_DIRNAME", "MediaBackend", "MediaMissingError", "MediaStore", "StoredObject", "checked_digest",
           "open_media", "relative_name"]


def open_media(url: str | None, data_dir: Path, s3: object | None = None) -> MediaBackend:
    """The media store named by ``url``: empty for ``<data_dir>/media``, or ``s3://bucket/prefix``.

    ``s3``: the config's ``[s3]`` settings (endpoint, region, access_key_id, secret_access_key);
    what it leaves empty boto3 takes from the AWS environment variables.
    """
    if not url:
        return MediaStore(Path(data_dir) / MEDIA_DIRNAME)
    if url.startswith("s3://"):
        from server.media.s3 import S3MediaStore

        return S3MediaStore(url, **{name: getattr(s3, name, "") for name in
                                    ("endpoint", "region", "access_key_id", "secret_access_key")})
    raise StoreError(f"media {url!r}: expected s3://BUCKET/PREFIX (or nothing for the data directory's media/)")
