"""Turn a ``--model`` argument into a local file: a path as given, or a known name from the cache.

Known names are downloaded once from their official release URL and pinned by SHA-256, so a
cached file is always the exact bytes the name stands for. Standard library only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.contract.downloads import default_cache_dir, fetch_pinned, sha256_of
from edge.errors import ModelError


@dataclass(frozen=True)
class PinnedModel:
    url: str
    sha256: str
    size_bytes: int

    @property
    def cache_name(self) -> str:
        # The hash in the name means a changed pin never picks up a stale cached file.
        stem, _, suffix = self.url.rsplit("/", 1)[-1].rpartition(".")
        return f"{stem}-{self.sha256[:8]}.{suffix}"


KNOWN_MODELS: dict[str, PinnedModel] = {
    "yolox-nano": PinnedModel(
        url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        sha256="c789161ed43c8269fcd4e67c67eeeb4e80c622da2eb296a20bc6007bd18a0b7d",
        size_bytes=3_659_407,
    ),
}


def resolve_model(spec: str, cache_dir: Path | None = None, progress: bool = True) -> Path:
    """Return a local model file for ``spec``: an existing path, or a known name (downloaded if needed).

    Raises :class:`ModelError` for a path that does not exist or a name that is not known, and a
    :class:`edge.contract.downloads.FetchError` when a known model cannot be downloaded.
    """
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise ModelError(f"model path {spec} is not a file")
    pinned = KNOWN_MODELS.get(spec)
    if pinned is None:
        if _looks_like_path(spec):
            raise ModelError(f"model file not found: {spec}")
        known = ", ".join(sorted(KNOWN_MODELS))
        raise ModelError(f"unknown model {spec!r}: not a file and not a known name (known: {known})")
    cached = (cache_dir if cache_dir is not None else default_cache_dir()) / pinned.cache_name
    # Re-hash a cached file on every use: a few milliseconds for a small model, and a corrupted
    # cache (a disk error, a hand edit) is re-downloaded instead of being run.
    if cached.is_file() and _cached_digest(cached) == pinned.sha256:
        return cached
    return fetch_pinned(pinned.url, pinned.sha256, cached, progress, expected_bytes=pinned.size_bytes)


def _cached_digest(path: Path) -> str:
    try:
        return sha256_of(path)
    except OSError as exc:
        raise ModelError(f"cannot read cached model {path}: {exc.strerror or exc}") from None


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.endswith(".onnx")
