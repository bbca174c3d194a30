"""The agent's configuration file: TOML, read with ``tomllib`` into frozen dataclasses.

One dataclass per table. :class:`AgentConfig` holds the top-level tables:
``[selection]`` (keyframe selection, every policy on/off and tunable), ``[source]``,
``[detector]``, ``[uplink]`` and ``[metrics]`` (the rest of ``edgelabel-agent run``). To add a table, e.g.
``[uplink]``: write its dataclass (fields with defaults; ``bool``, ``int``, ``float``, ``str``,
``tuple[str, ...]`` or a nested dataclass for a sub-table) and add it as a field of
:class:`AgentConfig`; :func:`load_config` then reads, type-checks and reports it like the others.

Rules, the same for every table:

* unknown keys and tables are errors (a typo must not silently fall back to a default);
* a key left out takes the default written in its dataclass (and in ``deploy/agent.example.toml``);
* types are checked here; ranges of ``[selection]`` are checked by the object it configures (the
  policies raise :class:`SettingError` with their parameter names, which are the keys), ranges of
  the other tables by the ``check`` metadata of their fields, so each range is written down once;
* command-line flags override the file: :func:`load_config` takes them as ``overrides``.

Every error is one line naming where the value came from (the file or the flag), the key, the
value and what was expected, e.g.
``agent.toml: selection.blur.min_relative_sharpness = 1.5: expected a ratio in (0, 1)``.

Standard library only, so that reading a config never needs the heavy packages.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.tile_spec import valid_tiles

DECODERS = ("ffmpeg", "jetson")
"""How video files and streams are decoded (see ``edge.decoders``)."""


class SettingError(ConfigError):
    """One bad setting: which key, what value, what was expected (and where it came from)."""

    def __init__(self, key: str, value: Any, expected: str, origin: str | None = None):
        self.key = key
        self.value = value
        self.expected = expected
        self.origin = origin
        where = f"{origin}: " if origin else ""
        super().__init__(f"{where}{key} = {show(value)}: expected {expected}")

    def within(self, table: str, origin: str | None = None) -> "SettingError":
        """The same error with its key inside ``table`` (``min_gap_s`` -> ``selection.interval.min_gap_s``)."""
        return SettingError(f"{table}.{self.key}", self.value, self.expected, origin or self.origin)


def show(value: Any) -> str:
    """A value as it would be written in TOML (``true``, ``1.5``, ``"text"``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{...}"
    return repr(value)


# --- [selection] ----------------------------------------------------------------------------------
# Field names are the parameter names of the policy each table configures (edge.selection), so
# a range error raised by a policy names the key in this file. Defaults live here only.


@dataclass(frozen=True)
class IntervalSettings:
    """``[selection.interval]``: the first frame, the minimum gap and the heartbeat."""

    enabled: bool = True
    min_gap_s: float = 1.0
    max_gap_s: float = 30.0
    heartbeat: bool = True
    """False: no frame is kept only because ``max_gap_s`` passed."""
    heartbeat_priority: float = 0.1


@dataclass(frozen=True)
class SceneChangeSettings:
    """``[selection.scene_change]``: the picture changed against the recently kept frames."""

    enabled: bool = True
    threshold: float = 0.04
    pixel_delta: int = 16
    compare_with_last: int = 4
    priority: float = 0.4


@dataclass(frozen=True)
class NoveltySettings:
    """``[selection.novelty]``: the picture looks unlike every kept frame in the history."""

    enabled: bool = True
    min_distance_bits: int = 14
    compare_with_last: int = 64
    priority: float = 0.75


@dataclass(frozen=True)
class BlurSettings:
    """``[selection.blur]``: sharpness against the scene's own running level."""

    enabled: bool = True
    min_relative_sharpness: float = 0.5
    min_sharpness: float = 0.0
    adapt_s: float = 30.0


@dataclass(frozen=True)
class ExposureSettings:
    """``[selection.exposure]``: black, under- and over-exposed frames."""

    enabled: bool = True
    black_level: int = 24
    black_fraction: float = 0.95
    dark_mean: float = 25.0
    bright_mean: float = 230.0
    max_saturated_fraction: float = 0.5


@dataclass(frozen=True)
class FrozenSettings:
    """``[selection.frozen]``: the picture has not changed at all for a while (a stuck camera)."""

    enabled: bool = True
    seconds: float = 2.0
    pixel_delta: int = 2


@dataclass(frozen=True)
class ObstructionSettings:
    """``[selection.obstruction]``: part of the picture went flat (a hand, a leaf, dirt on the lens)."""

    enabled: bool = True
    max_covered_fraction: float = 0.25
    flat_contrast: float = 4.0
    relative_contrast: float = 0.3
    adapt_s: float = 60.0


@dataclass(frozen=True)
class TrackEventSettings:
    """``[selection.track_events]``: a tracked object appears, or leaves for good."""

    enabled: bool = True
    on_start: bool = True
    on_end: bool = True
    start_priority: float = 0.8
    end_priority: float = 0.4


@dataclass(frozen=True)
class ClassRaritySettings:
    """``[selection.classes]``: a class never kept before, or rarely."""

    enabled: bool = True
    min_score: float = 0.5
    on_new: bool = True
    on_rare: bool = True
    rare_fraction: float = 0.05
    new_priority: float = 0.9
    rare_priority: float = 0.7


@dataclass(frozen=True)
class UncertaintySettings:
    """``[selection.uncertainty]``: detections with a score in the band where the detector hesitates."""

    enabled: bool = True
    low: float = 0.3
    high: float = 0.45
    min_boxes: int = 1
    same_box_iou: float = 0.5
    priority: float = 0.45


@dataclass(frozen=True)
class ObjectCountSettings:
    """``[selection.object_count]``: the number of objects (per class) changed and stayed changed."""

    enabled: bool = True
    min_score: float = 0.5
    min_change: int = 1
    stable_frames: int = 5
    priority: float = 0.5


@dataclass(frozen=True)
class BudgetSettings:
    """``[selection.budget]``: token buckets on kept frames and on JPEG bytes."""

    enabled: bool = True
    keyframes_per_minute: float = 12.0
    """0: no limit on the number of frames."""
    megabytes_per_hour: float = 100.0
    """0: no limit on bytes."""
    window_s: float = 30.0
    reserve_frames: float = 5.0


@dataclass(frozen=True)
class SelectionConfig:
    """``[selection]``: which frames the agent keeps (see ``edge.selection``)."""

    analysis_max_side: int = 320
    """Longest side of the gray image every per-frame measure works on."""
    interval: IntervalSettings = field(default_factory=IntervalSettings)
    scene_change: SceneChangeSettings = field(default_factory=SceneChangeSettings)
    novelty: NoveltySettings = field(default_factory=NoveltySettings)
    blur: BlurSettings = field(default_factory=BlurSettings)
    exposure: ExposureSettings = field(default_factory=ExposureSettings)
    frozen: FrozenSettings = field(default_factory=FrozenSettings)
    obstruction: ObstructionSettings = field(default_factory=ObstructionSettings)
    track_events: TrackEventSettings = field(default_factory=TrackEventSettings)
    classes: ClassRaritySettings = field(default_factory=ClassRaritySettings)
    uncertainty: UncertaintySettings = field(default_factory=UncertaintySettings)
    object_count: ObjectCountSettings = field(default_factory=ObjectCountSettings)
    budget: BudgetSettings = field(default_factory=BudgetSettings)


# --- [source], [detector], [uplink], [metrics] ---------------------------------------------------
# The rest of ``run``'s settings. TOML has no null, so "not set" is "" for text and 0 for numbers
# whose flag has no default. Ranges are written next to each field (``check``) and checked when the
# file is read, so ``check-config`` catches them before anything starts.


def check(predicate, expected: str) -> dict:
    """Field metadata: the value must satisfy ``predicate``; otherwise "expected ``expected``"."""
    return {"check": (predicate, expected)}


def _host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host.strip("[]") and port.isdigit() and 0 <= int(port) <= 65535)


def address(default: str = "") -> Any:
    """A ``HOST:PORT`` field, "" for off."""
    return field(default=default, metadata=check(lambda v: v == "" or _host_port(v),
                                                 'HOST:PORT such as 127.0.0.1:9465, or "" for off'))


@dataclass(frozen=True)
class SourceConfig:
    """``[source]``: where frames come from."""

    source: str = ""
    """Required (here or ``--source``): video file, image directory, camera index or rtsp:// / http(s):// URL."""
    image_fps: float = field(default=10.0, metadata=check(lambda v: v > 0, "a frame rate above 0"))
    pace: float = field(default=0.0, metadata=check(lambda v: v >= 0, "a speed >= 0 (0: as fast as possible)"))
    decoder: str = field(default="ffmpeg", metadata=check(lambda v: v in DECODERS,
                                                          'one of "ffmpeg", "jetson"'))
    """Video files and streams: "ffmpeg" (the CPU) or "jetson" (NVDEC via GStreamer, else FFmpeg)."""


LAYOUTS = ("yolox", "yolov5", "yolov8", "end2end")
"""Detector output layouts a model may be forced to (see ``edge.detection.layouts``)."""
SCORE_THRESHOLD = 0.3
"""The detector's score threshold unless told otherwise: ``detector.score_threshold``, every
command's ``--score-threshold`` and :class:`edge.detection.runner.Detector`."""
RUNTIME_CHOICES = ("auto", "onnxruntime", "openvino")
"""``auto``: OpenVINO for an OpenVINO IR model (.xml), ONNX Runtime for an ONNX file."""
PRECISIONS = ("f32", "bf16", "f16", "default")
"""OpenVINO's inference precision for a model's float layers. ``default`` is the device's own
choice: bf16 on CPUs with AMX or AVX-512 BF16, f32 elsewhere. ``f32`` is what quantization checks
accuracy with, so it is the default."""


@dataclass(frozen=True)
class OpenVinoConfig:
    """``[detector.openvino]``: where and how OpenVINO runs the model (``runtime = "openvino"``)."""

    device: str = field(default="CPU", metadata=check(lambda v: v.split(".")[0].split(":")[0].upper() in
                                                      ("CPU", "GPU", "NPU", "AUTO", "HETERO", "MULTI"),
                                                      'an OpenVINO device: "CPU", "GPU", "NPU" or "AUTO"'))
    precision: str = field(default="f32", metadata=check(lambda v: v in PRECISIONS,
                                                         "one of " + ", ".join(f'"{p}"' for p in PRECISIONS)))
    """Float layers' precision. "f32" is what ``quantize`` checks accuracy with; "default" lets
    the CPU pick (bf16 where it has AMX or AVX-512 BF16: faster, slightly different boxes)."""


@dataclass(frozen=True)
class TensorRtConfig:
    """``[detector.tensorrt]``: ONNX Runtime's TensorRT provider (Jetson); see edge.detection.tensorrt."""

    fp16: bool = False
    int8: bool = False
    """int8 kernels: for a QDQ model from ``quantize --target onnxruntime``, or with a calibration table."""
    int8_calibration_table: str = ""
    engine_cache_dir: str = ""
    timing_cache: bool = True
    max_workspace_mb: int = field(default=0, metadata=check(lambda v: v >= 0, "megabytes >= 0 (0: TensorRT's default)"))


@dataclass(frozen=True)
class DetectorConfig:
    """``[detector]``: the detector that pre-labels every frame, and the runtime that runs it."""

    model: str = ""
    """Required (here or ``--model``): ONNX or OpenVINO IR path, or a known name such as yolox-nano."""
    runtime: str = field(default="auto", metadata=check(lambda v: v in RUNTIME_CHOICES,
                                                        "one of " + ", ".join(f'"{r}"' for r in RUNTIME_CHOICES)))
    """"auto": OpenVINO for an OpenVINO IR model (.xml), ONNX Runtime for an ONNX file."""
    score_threshold: float = field(default=SCORE_THRESHOLD, metadata=check(lambda v: 0 <= v <= 1, "a score in [0, 1]"))
    threads: int = field(default=0, metadata=check(lambda v: v >= 0, "a thread count >= 0 (0: the runtime's choice)"))
    providers: tuple[str, ...] = field(default=("CPUExecutionProvider",),
                                       metadata=check(lambda v: len(v) > 0, "at least one execution provider"))
    streams: int = field(default=0, metadata=check(lambda v: v >= 0, "a stream count >= 0 (0: automatic)"))
    tiles: str = field(default="auto", metadata=check(valid_tiles, 'auto, off or ROWSxCOLS such as "2x4"'))
    """Sliced inference: "auto" cuts frames more than twice the model's input into a grid of tiles."""
    tile_overlap: float = field(default=0.2, metadata=check(lambda v: 0 <= v < 0.9, "a share in [0, 0.9)"))
    tile_full_frame: bool = True
    """Inferences side by side (frames in detection at once); 0: two on a machine with two or more
    cores, else one."""
    openvino: OpenVinoConfig = field(default_factory=OpenVinoConfig)
    tensorrt: TensorRtConfig = field(default_factory=TensorRtConfig)
    layout: str = field(default="", metadata=check(lambda v: v in ("",) + LAYOUTS,
                                                   'one of "", ' + ", ".join(f'"{x}"' for x in LAYOUTS)))
    labels: str = ""
    detect_every: int = field(default=1, metadata=check(lambda v: v >= 1, "an integer >= 1"))


@dataclass(frozen=True)
class TrackerDefaults:
    """The tracker's settings that ``track`` has flags for; :class:`edge.tracking.ByteTracker` takes
    its defaults from here (the config file has no ``[tracker]`` table)."""

    low_score_threshold: float = 0.1
    """The weakest detection ByteTrack uses: its second association matches boxes below its high
    threshold, down to this score, to tracks it already has (carrying them through occlusions)."""
    lost_track_buffer_frames: int = 30
    """Source frames a lost track is kept to be found again."""


@dataclass(frozen=True)
class UplinkConfig:
    """``[uplink]``: the connection to the collector and the spool in front of it."""

    collector: str = field(default="", metadata=check(lambda v: v == "" or v.startswith(("tcp://", "ipc://")),
                                                      'an endpoint such as "tcp://collector:5555", or ""'))
    credentials: str = ""
    insecure: bool = False
    device: str = ""
    jpeg_quality: int = field(default=85, metadata=check(lambda v: 1 <= v <= 100, "an integer in 1..100"))
    window: int = field(default=32, metadata=check(lambda v: v >= 1, "an integer >= 1"))
    ack_timeout_s: float = field(default=5.0, metadata=check(lambda v: v > 0, "seconds above 0"))
    flush_timeout_s: float = field(default=60.0, metadata=check(lambda v: v >= 0, "seconds >= 0"))
    spool_dir: str = ""
    spool_max_mb: float = field(default=1024.0, metadata=check(lambda v: v > 0, "megabytes above 0"))
    status_interval_s: float = field(default=10.0, metadata=check(lambda v: v > 0, "seconds above 0"))


CAMERA_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
"""A camera's name: it becomes the device name ``{agent}/{camera}`` at the collector."""


@dataclass(frozen=True)
class CameraConfig:
    """One ``[[cameras]]`` table: a camera of a multi-camera agent. Unset overrides (-1, 0 or "")
    take the value of ``[source]``, ``[detector]`` or ``[selection.budget]``."""

    name: str = field(default="", metadata=check(lambda v: bool(re.match(CAMERA_NAME, v)),
                                                 "a name of letters, digits, '.', '_' or '-' (1..63), e.g. \"gate\""))
    source: str = field(default="", metadata=check(bool, "a video file, image directory, camera index or URL"))
    image_fps: float = field(default=0.0, metadata=check(lambda v: v >= 0, "a frame rate >= 0 (0: [source]'s)"))
    pace: float = field(default=-1.0, metadata=check(lambda v: v == -1 or v >= 0, "a speed >= 0 (-1: [source]'s)"))
    keyframes_per_minute: float = field(default=-1.0, metadata=check(lambda v: v == -1 or v >= 0,
                                                                     "a rate >= 0 (-1: [selection.budget]'s)"))
    megabytes_per_hour: float = field(default=-1.0, metadata=check(lambda v: v == -1 or v >= 0,
                                                                   "megabytes >= 0 (-1: [selection.budget]'s)"))
    detect_every: int = field(default=0, metadata=check(lambda v: v >= 0, "an integer >= 0 (0: [detector]'s)"))
    tiles: str = field(default="", metadata=check(lambda v: v == "" or valid_tiles(v),
                                                  '"" ([detector]\'s), auto, off or ROWSxCOLS'))
    decoder: str = field(default="", metadata=check(lambda v: v in ("", *DECODERS),
                                                    '"" ([source]\'s), "ffmpeg" or "jetson"'))


@dataclass(frozen=True)
class MetricsConfig:
    """``[metrics]``: the agent's Prometheus endpoint."""

    address: str = address()


@dataclass(frozen=True)
class AgentConfig:
    """The whole file: one field per top-level table."""

    selection: SelectionConfig = field(default_factory=SelectionConfig)
    source: SourceConfig = field(default_factory=SourceConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    uplink: UplinkConfig = field(default_factory=UplinkConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    cameras: tuple[CameraConfig, ...] = ()
    """Several cameras in one agent; empty: the one camera of ``[source]``."""
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Where each value given explicitly came from (``"agent.toml"`` or ``"--min-gap"``), by
    dotted key; keys left at their default are absent. Used to say where a bad value came from."""

    def origin_of(self, key: str) -> str | None:
        return self.origins.get(key)


# --- loading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A command-line flag that sets a key of the file (and wins over it)."""

    value: Any
    flag: str
    """How the user wrote it, for error messages: ``--min-gap``."""


def load_config(path: str | Path | None = None, overrides: Mapping[str, Override] | None = None) -> AgentConfig:
    """Read ``path`` (None: defaults only), apply ``overrides`` by dotted key, check every type.

    Raises :class:`SettingError` (a :class:`ConfigError`) for a bad value or key and
    :class:`ConfigError` for a file that cannot be read or is not TOML.
    """
    return load_file(AgentConfig, path, overrides)


def load_file(root: type, path: str | Path | None = None, overrides: Mapping[str, Override] | None = None):
    """:func:`load_config` for any root dataclass with an ``origins`` field (the collector's too)."""
    document: dict[str, Any] = {}
    origins: dict[str, str] = {}
    if path is not None:
        path = Path(path)
        document = _read_toml(path)
        origins.update((key, str(path)) for key in _leaf_keys(document))
    for key, override in (overrides or {}).items():
        _set_dotted(document, key, override.value)
        origins[key] = override.flag
    values = _table_values(root, document, prefix="", origins=origins, skip=("origins",))
    return root(**values, origins=origins)


def as_dict(config: Any) -> dict[str, Any]:
    """The effective settings as plain data (tables as dicts, tuples as lists), ``origins`` left out."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name == "origins":
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = as_dict(value)
        elif isinstance(value, tuple):
            out[f.name] = [as_dict(v) if dataclasses.is_dataclass(v) else v for v in value]
        else:
            out[f.name] = value
    return out


def as_toml(config: Any, prefix: str = "") -> str:
    """The effective settings written as TOML (for ``check-config``)."""
    leaves, tables = [], []
    for f in dataclasses.fields(config):
        if f.name == "origins":
            continue
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            tables.append(as_toml(value, f"{prefix}{f.name}."))
        elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            for item in value:  # an array of tables
                body = "\n".join(f"{g.name} = {show(getattr(item, g.name))}" for g in dataclasses.fields(item))
                tables.append(f"[[{prefix}{f.name}]]\n{body}")
        else:
            leaves.append(f"{f.name} = {show(value)}")
    head = [f"[{prefix.rstrip('.')}]"] if prefix and leaves else []
    return "\n\n".join(part for part in ["\n".join(head + leaves), *tables] if part)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _leaf_keys(table: Mapping[str, Any], prefix: str = ""):
    """Every dotted key of a TOML document, tables included."""
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        yield dotted
        if isinstance(value, dict):
            yield from _leaf_keys(value, dotted + ".")


def _set_dotted(document: dict[str, Any], key: str, value: Any) -> None:
    *tables, leaf = key.split(".")
    node = document
    for name in tables:
        node = node.setdefault(name, {})
    node[leaf] = value


def _table_values(cls: type, table: Any, prefix: str, origins: Mapping[str, str], skip: tuple[str, ...] = ()) -> dict:
    names = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    where = prefix.rstrip(".") or "the file"
    if not isinstance(table, dict):
        raise SettingError(where, table, "a table", _origin(origins, where))
    unknown = [key for key in table if key not in names]
    if unknown:
        key = prefix + unknown[0]
        raise SettingError(key, table[unknown[0]], f"no such key; {where} has {', '.join(names)}",
                           _origin(origins, key))
    hints = typing.get_type_hints(cls)
    checks = {f.name: f.metadata["check"] for f in dataclasses.fields(cls) if "check" in f.metadata}
    values = {}
    for name in names:
        if name in table:
            key = prefix + name
            values[name] = _convert(hints[name], table[name], key, origins)
            if name in checks and not checks[name][0](values[name]):
                raise SettingError(key, values[name], checks[name][1], _origin(origins, key))
    return values


def _origin(origins: Mapping[str, str], key: str) -> str | None:
    if key in origins:
        return origins[key]
    if "[" in key:  # inside an array of tables: the array's origin
        return _origin(origins, key.split("[", 1)[0])
    # A whole table given with the wrong type: name where any of its values came from.
    inside = [origin for dotted, origin in origins.items() if dotted.startswith(key + ".")]
    return inside[0] if inside else None


def _convert(kind: Any, value: Any, key: str, origins: Mapping[str, str]) -> Any:
    origin = _origin(origins, key)
    if dataclasses.is_dataclass(kind):
        return kind(**_table_values(kind, value, key + ".", origins))
    if kind is bool:
        if not isinstance(value, bool):
            raise SettingError(key, value, "true or false", origin)
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(key, value, "an integer", origin)
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SettingError(key, value, "a finite number", origin)
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise SettingError(key, value, "a string", origin)
        return value
    if typing.get_origin(kind) is tuple and typing.get_args(kind)[1:] == (Ellipsis,):
        item = typing.get_args(kind)[0]
        if not isinstance(value, list):
            raise SettingError(key, value, "a list" if not dataclasses.is_dataclass(item) else "tables [[...]]", origin)
        if dataclasses.is_dataclass(item):  # an array of tables: each one named by its position
            return tuple(_convert(item, v, f"{key}[{i}]", origins) for i, v in enumerate(value))
        return tuple(_convert(item, v, key, origins) for v in value)
    raise TypeError(f"{key}: unsupported setting type {kind!r}")
