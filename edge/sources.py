"""Frame sources: a video file, an image directory, a camera, or a network stream.

Every source is a :class:`FrameSource`: iterate it once to get :class:`Frame` objects, close it
(or use it as a context manager) to free the device. :func:`open_source` picks the source from the
``--source`` text the CLI accepts.

Time stamps
    ``source_ts`` is the frame's position in its source, in seconds:

    * video file: the decoder's stream position (``CAP_PROP_POS_MSEC``); where the container gives
      no usable position (missing, or not increasing, as on the last frame of some AVIs) it is the
      previous position plus ``1 / fps`` (plus nothing if the rate is unknown too);
    * image directory: ``index / fps``, with ``fps`` a setting (``ImageDirSource(fps=...)``,
      ``open_source(image_fps=...)``; default 10, since a directory has no rate of its own);
    * camera and stream: seconds since the source was opened (monotonic clock, not reset by
      reconnects).

    ``capture_ts`` is always the wall clock (``time.time()``) when the frame was read.

Live sources (camera, stream) reopen themselves with exponential backoff when reading fails and
only end when :meth:`FrameSource.close` is called (from any thread) or ``max_reconnects``
consecutive reopen attempts failed. Files and directories end at their last readable frame.
"""

from __future__ import annotations

import inspect
import logging
import math
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from edge.config import SourceConfig
from edge.contract.errors import ConfigError
from edge.contract.files import IMAGE_SUFFIXES
from edge.errors import SourceError

log = logging.getLogger("edge.sources")

STREAM_SCHEMES = ("rtsp", "http", "https")
_SCHEME_LIST = ", ".join(scheme + "://" for scheme in STREAM_SCHEMES)
DEFAULT_IMAGE_DIR_FPS = SourceConfig.image_fps
STREAM_TIMEOUT_MS = 10_000
"""FFmpeg open/read timeout for network streams, so a dead camera fails a read instead of hanging."""

CaptureFactory = Callable[[Any], Any]
"""Opens a capture for a target (path, URL or camera index); ``cv2.VideoCapture`` or alike."""


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame. ``eq=False``: frames compare by identity, not by pixels."""

    index: int
    """0-based position in the source (for an image directory, the file's place in the sorted listing)."""
    source_ts: float
    """Seconds since the start of the source (see the module docstring per source kind)."""
    capture_ts: float
    """Wall-clock Unix time when the frame was read."""
    image: np.ndarray
    """BGR uint8, shape (H, W, 3)."""

    def __post_init__(self) -> None:
        image = self.image
        if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
            got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
            raise ValueError(f"image: expected a BGR uint8 array of shape (H, W, 3), got {got}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class FrameSource(ABC):
    """Where frames come from. Iterate once; ``close()`` is idempotent and safe from any thread."""

    @property
    @abstractmethod
    def fps(self) -> float | None:
        """Nominal frame rate, or None when the source does not say."""

    @property
    @abstractmethod
    def is_live(self) -> bool:
        """True for cameras and streams: frames arrive in real time and never run out."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Short human-readable name for logs (``video pets.mp4``, ``stream rtsp://cam/1``)."""

    @abstractmethod
    def __iter__(self) -> Iterator[Frame]: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class _Capture:
    """One OpenCV capture, wrapped so that another thread may release it safely.

    OpenCV must not release a capture while a read on it is running, so :meth:`release_if_idle`
    only releases when no read holds the lock; otherwise the reading thread releases it when it
    sees the stop flag after its read returns.
    """

    def __init__(self, factory: CaptureFactory, target: Any):
        self._lock = threading.Lock()
        try:
            self._capture = factory(target)
        except (cv2.error, OSError) as exc:
            log.debug("opening %r raised %s", target, exc)
            self._capture = None
        if self._capture is not None and not self._capture.isOpened():
            self._capture.release()
            self._capture = None

    @property
    def is_open(self) -> bool:
        return self._capture is not None

    def get(self, prop: int) -> float:
        with self._lock:
            return float(self._capture.get(prop)) if self._capture is not None else 0.0

    def read(self) -> np.ndarray | None:
        """The next image, or None when the capture is closed, ended, or failed to decode."""
        with self._lock:
            if self._capture is None:
                return None
            try:
                ok, image = self._capture.read()
            except cv2.error as exc:
                log.debug("read failed: %s", exc)
                return None
            return image if ok and image is not None else None

    def release(self) -> None:
        with self._lock:
            self._release_locked()

    def release_if_idle(self) -> None:
        if self._lock.acquire(blocking=False):
            try:
                self._release_locked()
            finally:
                self._lock.release()

    def _release_locked(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def _valid_fps(value: float) -> float | None:
    # Containers without a rate report 0, -1 or NaN; anything above 1000 is a bogus time base.
    return value if math.isfinite(value) and 0 < value <= 1000 else None


class _SinglePass:
    """Mixin: sources read a device once, so a second iteration is a bug worth a clear error."""

    _iterated = False

    def _claim_iteration(self, description: str) -> None:
        if self._iterated:
            raise RuntimeError(f"{description} was already iterated; open the source again to re-read it")
        self._iterated = True


class VideoFileSource(_SinglePass, FrameSource):
    """Frames of a video file decoded by OpenCV.

    Opening checks that the file exists, opens, and decodes at least one frame. Iteration ends at
    the first frame that does not decode (end of file, truncation, corruption); ``frames_read``
    then holds what decoded, which can be less than ``reported_frames`` (the container's count).
    """

    def __init__(self, path: str | Path, *, open_capture: CaptureFactory = cv2.VideoCapture):
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"no such file: {self.path}")
        if not self.path.is_file():
            raise SourceError(f"not a video file: {self.path}")
        self._capture = _Capture(open_capture, str(self.path))
        if not self._capture.is_open:
            raise SourceError(f"cannot open video {self.path}: not a format OpenCV can decode")
        self._fps = _valid_fps(self._capture.get(cv2.CAP_PROP_FPS))
        reported = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.reported_frames: int | None = int(reported) if math.isfinite(reported) and reported > 0 else None
        # Decode the first frame now so a file that opens but holds no frames fails at open time.
        self._first = self._capture.read()
        if self._first is None:
            self._capture.release()
            raise SourceError(f"video {self.path} has no decodable frames")
        self._first_ts = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        self.frames_read = 0
        self._closed = threading.Event()
        log.info(
            "opened %s: %dx%d, %s frames at %s fps (as the container reports)",
            self.description,
            self._first.shape[1],
            self._first.shape[0],
            self.reported_frames or "unknown",
            self._fps or "unknown",
        )

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def is_live(self) -> bool:
        return False

    @property
    def description(self) -> str:
        return f"video {self.path}"

    def __iter__(self) -> Iterator[Frame]:
        self._claim_iteration(self.description)
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        image, position = self._first, self._first_ts
        self._first = None
        previous_ts: float | None = None
        try:
            while image is not None and not self._closed.is_set():
                ts = self._next_ts(position, previous_ts)
                yield Frame(self.frames_read, ts, time.time(), image)
                self.frames_read += 1
                previous_ts = ts
                image = self._capture.read()
                position = self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        finally:
            self._capture.release()
        if self.reported_frames is not None and self.frames_read < self.reported_frames and not self._closed.is_set():
            log.warning(
                "%s: decoding stopped after %d of the %d frames the container reports",
                self.description,
                self.frames_read,
                self.reported_frames,
            )

    def _next_ts(self, position: float, previous: float | None) -> float:
        if previous is None:
            return position if math.isfinite(position) and position >= 0 else 0.0
        if math.isfinite(position) and position > previous:
            return position
        return previous + (1.0 / self._fps if self._fps else 0.0)

    def close(self) -> None:
        self._closed.set()
        self._capture.release_if_idle()


class ImageDirSource(_SinglePass, FrameSource):
    """The images of one directory (``.jpg .jpeg .png .bmp``, any case), in name order.

    Names are sorted as plain strings, so number them with zero padding (``000001.jpg``) as MOT
    sequences do. A file that does not decode is skipped with a warning and counted in
    ``skipped``; the frame indices of the other files stay their places in the listing, so
    ``paths[frame.index]`` is always the file a frame came from. ``source_ts = index / fps``.
    """

    def __init__(self, path: str | Path, *, fps: float = DEFAULT_IMAGE_DIR_FPS):
        self.path = Path(path)
        if not self.path.is_dir():
            raise SourceError(f"not a directory: {self.path}")
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
            raise ConfigError(f"fps: expected a positive frame rate for image directory {self.path}, got {fps!r}")
        self._fps = float(fps)
        try:
            listing = [p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        except OSError as exc:
            raise SourceError(f"cannot list image directory {self.path}: {exc.strerror}") from None
        self.paths: tuple[Path, ...] = tuple(sorted(listing, key=lambda p: p.name))
        if not self.paths:
            raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in directory {self.path}")
        self.skipped = 0
        self.frames_read = 0
        self._closed = threading.Event()
        log.info("opened %s: %d images, timed at %g fps", self.description, len(self.paths), self._fps)

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def is_live(self) -> bool:
        return False

    @property
    def description(self) -> str:
        return f"image directory {self.path}"

    def __iter__(self) -> Iterator[Frame]:
        self._claim_iteration(self.description)
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        for index, path in enumerate(self.paths):
            if self._closed.is_set():
                return
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                self.skipped += 1
                log.warning("skipping unreadable image %s (%d skipped so far)", path, self.skipped)
                continue
            yield Frame(index, index / self._fps, time.time(), image)
            self.frames_read += 1
        if self.frames_read == 0:
            raise SourceError(f"none of the {len(self.paths)} images in {self.path} could be decoded")

    def close(self) -> None:
        self._closed.set()


class _LiveSource(_SinglePass, FrameSource):
    """A camera or stream: reopens itself with exponential backoff until closed.

    After a failed read the capture is released, the source waits ``reconnect_initial_s``, then
    doubles the wait on every further failed attempt up to ``reconnect_max_s``; a delivered frame
    resets the backoff. The wait is on a stop flag, so :meth:`close` from another thread ends the
    iteration at once (or, if a read is in progress, as soon as that read returns).

    Raising ``reconnect_initial_s`` spares a flapping camera from reconnect storms but loses more
    frames after a short glitch; ``reconnect_max_s`` bounds how long a camera that comes back can
    go unnoticed. ``max_reconnects`` (consecutive failed attempts) turns an outage into a
    :class:`SourceError` instead of waiting forever; None waits forever.
    """

    def __init__(
        self,
        target: Any,
        *,
        open_capture: CaptureFactory,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        max_reconnects: int | None = None,
    ):
        if not (math.isfinite(reconnect_initial_s) and reconnect_initial_s >= 0):
            raise ConfigError(f"reconnect_initial_s: expected seconds >= 0, got {reconnect_initial_s!r}")
        if not (math.isfinite(reconnect_max_s) and reconnect_max_s >= reconnect_initial_s):
            raise ConfigError(
                f"reconnect_max_s: expected seconds >= reconnect_initial_s ({reconnect_initial_s}), "
                f"got {reconnect_max_s!r}"
            )
        if max_reconnects is not None and max_reconnects < 0:
            raise ConfigError(f"max_reconnects: expected None or an integer >= 0, got {max_reconnects!r}")
        self._target = target
        self._open_capture = open_capture
        self.reconnect_initial_s = float(reconnect_initial_s)
        self.reconnect_max_s = float(reconnect_max_s)
        self.max_reconnects = max_reconnects
        self._stop = threading.Event()
        # A source that never opened is a configuration problem (wrong URL, no camera): fail now.
        self._capture = _Capture(open_capture, target)
        if not self._capture.is_open:
            raise SourceError(f"cannot open {self.description}")
        self._fps = _valid_fps(self._capture.get(cv2.CAP_PROP_FPS))
        self._opened_at = time.monotonic()
        self.frames_read = 0
        self.drops = 0
        """How many times the source stopped delivering and had to be reopened."""
        self.reconnect_attempts = 0
        """Reopen attempts in total, successful or not."""
        log.info("opened %s at %s fps", self.description, self._fps or "unknown")

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def is_live(self) -> bool:
        return True

    def __iter__(self) -> Iterator[Frame]:
        self._claim_iteration(self.description)
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        attempt = 0  # consecutive reopen attempts since the last delivered frame
        try:
            while not self._stop.is_set():
                image = self._capture.read()
                if self._stop.is_set():  # closed while the read was running
                    break
                if image is not None:
                    if attempt:
                        log.info("%s reconnected after %d attempt(s)", self.description, attempt)
                        attempt = 0
                    ts = time.monotonic() - self._opened_at
                    yield Frame(self.frames_read, ts, time.time(), image)
                    self.frames_read += 1
                    continue
                if attempt == 0:
                    self.drops += 1
                if self.max_reconnects is not None and attempt >= self.max_reconnects:
                    raise SourceError(f"{self.description} is gone: {attempt} reconnect attempt(s) failed")
                attempt += 1
                delay = min(self.reconnect_initial_s * 2 ** (attempt - 1), self.reconnect_max_s)
                what = "dropped" if self._capture.is_open else "did not reopen"
                log.warning("%s %s; reopening in %.2g s (attempt %d)", self.description, what, delay, attempt)
                self._capture.release()
                if self._stop.wait(delay):
                    break
                self.reconnect_attempts += 1
                self._capture = _Capture(self._open_capture, self._target)
        finally:
            self._capture.release()

    def close(self) -> None:
        self._stop.set()
        self._capture.release_if_idle()


class CameraSource(_LiveSource):
    """A local camera by OpenCV index (``0`` is the first camera)."""

    def __init__(
        self,
        index: int,
        *,
        open_capture: CaptureFactory = cv2.VideoCapture,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        max_reconnects: int | None = None,
    ):
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ConfigError(f"camera index: expected an integer >= 0, got {index!r}")
        self.index = index
        super().__init__(
            index,
            open_capture=open_capture,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            max_reconnects=max_reconnects,
        )

    @property
    def description(self) -> str:
        return f"camera {self.index}"


def open_stream_capture(url: str) -> cv2.VideoCapture:
    """``cv2.VideoCapture`` through FFmpeg with open/read timeouts, so a dead peer cannot hang a read."""
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


class StreamSource(_LiveSource):
    """A network stream (``rtsp://``, ``http://``, ``https://``), decoded by OpenCV's FFmpeg backend.

    A password in the URL is masked in ``description`` and therefore in every log line.
    """

    def __init__(
        self,
        url: str,
        *,
        open_capture: CaptureFactory = open_stream_capture,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        max_reconnects: int | None = None,
    ):
        if urlsplit(url).scheme.lower() not in STREAM_SCHEMES:
            raise SourceError(f"unsupported stream URL {redact_url(url)!r}: expected {_SCHEME_LIST}")
        self.url = url
        super().__init__(
            url,
            open_capture=open_capture,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            max_reconnects=max_reconnects,
        )

    @property
    def description(self) -> str:
        return f"stream {redact_url(self.url)}"


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (credentials must not reach logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def names_live_source(spec: str) -> bool:
    """True for a camera index or a URL (``open_source`` opens those as live sources)."""
    text = spec.strip()
    return (text.isascii() and text.isdigit()) or bool(_URL_SCHEME.match(text))


def open_source(spec: str | Path, *, image_fps: float = DEFAULT_IMAGE_DIR_FPS, decoder: str = "ffmpeg",
                **options: Any) -> FrameSource:
    """Open the source a ``--source`` value names.

    * digits (``0``, ``2``): a camera index (write ``./0`` for a file named ``0``);
    * ``rtsp://``, ``http://``, ``https://``: a network stream;
    * an existing directory: its images in name order, timed at ``image_fps``;
    * an existing file: a video.

    ``image_fps`` only matters for a directory and ``decoder`` (:mod:`edge.decoders`) for a video
    file or a stream, so a CLI can always pass them. Other ``options`` go
    to the chosen source's constructor (e.g. ``reconnect_max_s`` for a stream); one that the
    chosen kind does not take is a :class:`ConfigError`, so a misspelt or misplaced option is
    never silently ignored.
    """
    text = str(spec).strip()
    if not text:
        raise SourceError("empty source: expected a video file, an image directory, a camera index or a URL")
    kind: type[FrameSource]
    if text.isascii() and text.isdigit():
        kind, target = CameraSource, int(text)
    elif match := _URL_SCHEME.match(text):
        scheme = match.group(1)
        if scheme.lower() not in STREAM_SCHEMES:
            raise SourceError(f"unsupported source scheme {scheme!r} in {redact_url(text)!r}: expected {_SCHEME_LIST}")
        kind, target = StreamSource, text
    else:
        path = Path(text).expanduser()
        if path.is_dir():
            kind, target = ImageDirSource, path
        elif path.is_file():
            kind, target = VideoFileSource, path
        else:
            raise SourceError(f"no such file or directory: {text}")
    accepted = {
        name
        for name, parameter in inspect.signature(kind.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    if kind is ImageDirSource:
        accepted.discard("fps")  # given as image_fps, so the rate has one name
    unknown = sorted(set(options) - accepted)
    if unknown:
        takes = sorted(accepted) + ["image_fps"]
        raise ConfigError(
            f"option(s) {', '.join(unknown)} do not apply to {kind.__name__} (it takes: {', '.join(takes)})"
        )
    if kind is ImageDirSource:
        options["fps"] = image_fps
    if kind in (VideoFileSource, StreamSource) and decoder != "ffmpeg" and "open_capture" not in options:
        from edge.decoders import capture_factory

        fallback = cv2.VideoCapture if kind is VideoFileSource else open_stream_capture
        options["open_capture"] = capture_factory(decoder, fallback)
    return kind(target, **options)
