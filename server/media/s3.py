"""Content-addressed JPEG objects in an S3-compatible bucket: ``s3://bucket/prefix/ab/cd/<sha256>.jpg``.

A batch's objects are uploaded concurrently (one thread pool per store, boto3 clients are thread
safe), so a batch of N frames costs about one round trip, not N: S3 latency must not serialize
ingest. ``put_many`` returns only when every upload was acknowledged by the server, which makes
it durable there; the collector commits the rows afterwards, so a crash in between leaves an
orphan object (swept by ``edgelabel-collector media gc``), never a row without its image.

Endpoint, region and credentials come from the ``[s3]`` table of the collector's config or, where
that leaves one out, from the standard AWS environment variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``) as boto3 reads them.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from server.errors import StoreError, StoreUnavailableError
from server.media.base import (
    MediaMissingError,
    StoredObject,
    checked_digest,
    relative_name,
)

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # the s3 extra is not installed: said in one line when an s3:// store is opened
    boto3 = None
    _S3_ERRORS: tuple[type[Exception], ...] = ()
else:
    _S3_ERRORS = (BotoCoreError, ClientError)

UPLOAD_THREADS = 16
"""Uploads in flight at once, per store (and the size of boto3's connection pool)."""

# A store that is down must fail a batch within seconds (the collector then stops acknowledging and
# the agents keep the frames in their spools), not after boto3's defaults of 60 s per read, retried.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
"""No single 40 KB upload waits this long for the server's answer on a store that works."""
MAX_ATTEMPTS = 3
"""Tries per request, the first included (a brief hiccup is retried here, an outage is not)."""

MISSING_BOTO3 = "S3 media needs boto3: pip install 'edgelabel[s3]'"


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ("bucket", "some/prefix/"); the prefix may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise StoreError(f"media {url!r}: expected s3://BUCKET or s3://BUCKET/PREFIX")
    prefix = parts.path.strip("/")
    return parts.netloc, f"{prefix}/" if prefix else ""


class S3MediaStore:
    """JPEG objects in ``bucket`` under ``prefix``, named by their SHA-256."""

    def __init__(self, url: str, endpoint: str = "", region: str = "", access_key_id: str = "",
                 secret_access_key: str = "", upload_threads: int = UPLOAD_THREADS):
        self.bucket, self.prefix = parse_s3_url(url)
        self.location = url
        if boto3 is None:
            raise StoreError(MISSING_BOTO3)
        session = boto3.session.Session(aws_access_key_id=access_key_id or None,
                                        aws_secret_access_key=secret_access_key or None,
                                        region_name=region or None)
        self.client = session.client(
            "s3", endpoint_url=endpoint or None,
            config=Config(max_pool_connections=upload_threads, connect_timeout=CONNECT_TIMEOUT_S,
                          read_timeout=READ_TIMEOUT_S, retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
                          s3={"addressing_style": "path"}))
        self._upload_threads = upload_threads
        self._uploads: ThreadPoolExecutor | None = None  # started on the first upload, stopped by close()
        self._uploads_lock = threading.Lock()

    def key_for(self, sha256: str) -> str:
        return self.prefix + relative_name(sha256)

    def local_path(self, sha256: str) -> Path | None:
        checked_digest(sha256)
        return None

    def put(self, jpeg: bytes) -> str:
        return self.put_many([jpeg])[0]

    def put_many(self, jpegs: list[bytes]) -> list[str]:
        """Upload the JPEGs concurrently; their digests, once the server acknowledged every one.

        Objects are written unconditionally: a digest names its bytes, so rewriting an existing
        object changes nothing, and it saves the extra round trip of asking first.
        """
        digests = [hashlib.sha256(jpeg).hexdigest() for jpeg in jpegs]
        unique = dict(zip(digests, jpegs))
        failures = [error for error in self._pool().map(self._upload, unique.items()) if error is not None]
        if failures:
            raise StoreUnavailableError(f"cannot upload media to {self.location}: {failures[0]}")
        return digests

    def _pool(self) -> ThreadPoolExecutor:
        with self._uploads_lock:
            if self._uploads is None:
                self._uploads = ThreadPoolExecutor(max_workers=self._upload_threads, thread_name_prefix="s3-upload")
            return self._uploads

    def _upload(self, item: tuple[str, bytes]) -> str | None:
        sha256, jpeg = item
        try:
            # The digest is the object's name already: hand it over as the checksum the server
            # verifies, rather than have botocore hash the bytes again.
            self.client.put_object(Bucket=self.bucket, Key=self.key_for(sha256), Body=jpeg, ContentType="image/jpeg",
                                   ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode())
        except _S3_ERRORS as exc:
            return _describe(exc)
        return None

    def get(self, sha256: str) -> bytes:
        body = self._open(sha256)
        try:
            return body.read()
        except _S3_ERRORS as exc:
            raise StoreError(f"cannot read media {sha256} from {self.location}: {_describe(exc)}") from exc
        finally:
            body.close()

    def stream(self, sha256: str, chunk_size: int = 65536) -> Iterator[bytes]:
        return _chunks(self._open(sha256), chunk_size)

    def _open(self, sha256: str):
        key = self.key_for(sha256)
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except _S3_ERRORS as exc:
            if _status(exc) == 404:
                raise MediaMissingError(f"no stored image {sha256} in {self.location}") from None
            raise StoreError(f"cannot read media {sha256} from {self.location}: {_describe(exc)}") from exc

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except _S3_ERRORS as exc:
            if _status(exc) == 404:
                return False
            raise StoreError(f"cannot reach {self.location}: {_describe(exc)}") from exc
        return True

    def iter_objects(self) -> Iterator[StoredObject]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for entry in page.get("Contents", ()):
                    sha256 = _digest_of(entry["Key"][len(self.prefix):])
                    if sha256 is not None:
                        yield StoredObject(sha256, entry["Size"], entry["LastModified"].timestamp())
        except _S3_ERRORS as exc:
            raise StoreError(f"cannot list {self.location}: {_describe(exc)}") from exc

    def delete(self, sha256: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key_for(sha256))
        except _S3_ERRORS as exc:
            raise StoreError(f"cannot delete media {sha256} from {self.location}: {_describe(exc)}") from exc

    def check(self) -> None:
        """Raise :class:`StoreError` unless the bucket answers with these credentials."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except _S3_ERRORS as exc:
            raise StoreError(f"cannot reach bucket {self.location}: {_describe(exc)}") from exc

    def close(self) -> None:
        """Stop the upload threads (a later upload starts new ones)."""
        with self._uploads_lock:
            uploads, self._uploads = self._uploads, None
        if uploads is not None:
            uploads.shutdown(wait=True)


def _digest_of(name: str) -> str | None:
    """The digest of a key below the prefix laid out as ``ab/cd/<sha256>.jpg``; None for other keys."""
    parts = name.split("/")
    if len(parts) != 3 or not parts[2].endswith(".jpg"):
        return None
    try:
        return checked_digest(parts[2][:-4]) if relative_name(parts[2][:-4]) == name else None
    except StoreError:
        return None


def _chunks(body, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()


def _status(exc: Exception) -> int | None:
    """404 for a missing key or bucket, else the HTTP status (None without a response)."""
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    code = response.get("Error", {}).get("Code")
    return 404 if code in ("404", "NoSuchKey", "NotFound") else status


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response:
        error = response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message') or 'no message'}"
    return str(exc) or type(exc).__name__
