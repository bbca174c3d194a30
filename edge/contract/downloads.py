"""Download a file pinned by SHA-256, atomically, into the cache both sides share. Standard library only.

Used for model weights by the agent and for the sample clip by the collector's demo, so it must
stay importable without numpy, cv2 or onnxruntime.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from edge.contract.errors import AgentError
from edge.contract.files import atomic_file

_CHUNK_BYTES = 1 << 16

DEFAULT_OFFLINE_HINT = "a local file can be given with --model PATH"

CACHE_ENV = "EDGELABEL_CACHE"


class FetchError(AgentError):
    """A pinned download could not be completed (unreachable, HTTP error, too large, I/O)."""


class ChecksumError(FetchError):
    """The downloaded bytes are not the pinned ones; nothing was kept."""


def default_cache_dir() -> Path:
    """``$EDGELABEL_CACHE`` if set, else ``~/.cache/edgelabel``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "edgelabel"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's contents, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_pinned(
    url: str,
    sha256: str,
    dest: Path,
    progress: bool = True,
    *,
    expected_bytes: int | None = None,
    timeout: float = 30.0,
    offline_hint: str = DEFAULT_OFFLINE_HINT,
) -> Path:
    """Download ``url`` to ``dest`` only if its SHA-256 is ``sha256``; return ``dest``.

    The bytes go to a temporary file next to ``dest`` and are renamed over it after the check, so
    ``dest`` is never partial or unverified, and concurrent fetches of the same file are safe.
    On any failure the temporary file is removed.

    Args:
        progress: show a progress bar on stderr (tqdm if installed, else nothing).
        expected_bytes: abort as soon as more than this many bytes arrive (a wrong or hostile
            URL cannot fill the disk); ``None`` trusts the checksum alone.
        timeout: seconds to wait for the connection and for each read.
        offline_hint: what the user can do instead when the URL cannot be reached.
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot write to {dest.parent}: {exc.strerror or exc}") from None
    try:
        with atomic_file(dest, mode=0o600) as out:  # any exception discards the download
            digest = _download(url, out, progress, expected_bytes, timeout, offline_hint)
            if digest != sha256:
                raise ChecksumError(
                    f"download of {url} has sha256 {digest}, expected {sha256}; the file was discarded"
                )
    except OSError as exc:  # disk full, permissions: an I/O problem on our side
        raise FetchError(f"cannot save {url} to {dest}: {exc.strerror or exc}") from None
    return dest


def _download(url, out, progress: bool, expected_bytes: int | None, timeout: float, offline_hint: str) -> str:
    """Stream ``url`` into ``out``; return the hex SHA-256 of what was written."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            total = _content_length(response)
            if expected_bytes is not None and total is not None and total > expected_bytes:
                raise FetchError(f"{url} is {total} bytes, expected {expected_bytes}; not downloading it")
            bar = _progress_bar(total, label=url.rsplit("/", 1)[-1]) if progress else None
            received = 0
            try:
                while chunk := response.read(_CHUNK_BYTES):
                    received += len(chunk)
                    if expected_bytes is not None and received > expected_bytes:
                        raise FetchError(f"{url} sent more than the expected {expected_bytes} bytes; aborted")
                    digest.update(chunk)
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            # urllib returns a short body without complaint when the server hangs up early.
            if total is not None and received != total:
                raise FetchError(
                    f"download of {url} was interrupted after {received} of {total} bytes; {offline_hint}"
                )
    except urllib.error.HTTPError as exc:
        raise FetchError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"cannot reach {url} ({exc.reason}); {offline_hint}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        # Raised mid-transfer, after urlopen succeeded (urllib does not wrap these).
        raise FetchError(f"download of {url} was interrupted ({exc!r}); {offline_hint}") from None
    except ValueError as exc:  # not a URL at all ("unknown url type")
        raise FetchError(f"cannot download {url!r}: {exc}") from None
    return digest.hexdigest()


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _progress_bar(total: int | None, label: str):
    # tqdm is optional here (the collector may not have it); without it, download silently.
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr, leave=False
    )
