"""Build a :class:`KeyframeSelector` from the ``[selection]`` settings of the agent's config file."""

from __future__ import annotations

from dataclasses import replace

from edge.config import SelectionConfig
from edge.contract.config_files import SettingError
from edge.jpeg import DEFAULT_QUALITY
from edge.selection.budget import KeyframeBudget
from edge.selection.core import KeyframeSelector
from edge.selection.coverage import CoverageSelector
from edge.selection.novelty import NoveltyPolicy, SceneChangePolicy
from edge.selection.objects import ClassRarityPolicy, ObjectCountPolicy, TrackEventPolicy, UncertaintyPolicy
from edge.selection.quality import BlurGate, ExposureGate, FrozenGate, ObstructionGate
from edge.selection.timing import IntervalPolicy


def build_selector(config: SelectionConfig, jpeg_quality: int = DEFAULT_QUALITY,
                   origins: dict[str, str] | None = None) -> KeyframeSelector:
    """The selector ``config`` describes: the enabled policies, in the order their reasons are listed.

    Order: time bounds, quality gates, picture triggers, detector triggers. ``jpeg_quality`` is
    the uplink's, which the bytes budget measures frames with. ``origins`` (dotted key -> file
    or flag, as in ``AgentConfig.origins``) only makes error messages say where a bad value came
    from. Raises :class:`SettingError` naming the ``selection.*`` key of a value out of range.
    """
    origins = origins or {}
    policies = []

    def add(table: str, settings, build) -> None:
        if not settings.enabled:
            return
        try:
            policies.append(build(settings))
        except SettingError as error:
            key = f"selection.{table}.{error.key}"
            raise error.within(f"selection.{table}", origins.get(key)) from None

    add("interval", config.interval, lambda s: IntervalPolicy(s.min_gap_s, s.max_gap_s if s.heartbeat else None,
                                                              s.heartbeat_priority))
    add("exposure", config.exposure, lambda s: ExposureGate(s.black_level, s.black_fraction, s.dark_mean, s.bright_mean,
                                                            s.max_saturated_fraction))
    add("frozen", config.frozen, lambda s: FrozenGate(s.seconds, s.pixel_delta))
    add("blur", config.blur, lambda s: BlurGate(s.min_relative_sharpness, s.min_sharpness, s.adapt_s))
    add("obstruction", config.obstruction, lambda s: ObstructionGate(s.max_covered_fraction, s.flat_contrast,
                                                                     s.relative_contrast, s.adapt_s))
    add("scene_change", config.scene_change, lambda s: SceneChangePolicy(s.threshold, s.pixel_delta,
                                                                        s.compare_with_last, s.priority))
    add("novelty", config.novelty, lambda s: NoveltyPolicy(s.min_distance_bits, s.compare_with_last, s.priority))
    add("track_events", config.track_events, lambda s: TrackEventPolicy(s.on_start, s.on_end, s.start_priority,
                                                                        s.end_priority))
    add("classes", config.classes, lambda s: ClassRarityPolicy(s.min_score, s.on_new, s.on_rare, s.rare_fraction,
                                                               s.new_priority, s.rare_priority))
    add("uncertainty", config.uncertainty, lambda s: UncertaintyPolicy(s.low, s.high, s.min_boxes, s.same_box_iou,
                                                                       s.priority))
    add("object_count", config.object_count, lambda s: ObjectCountPolicy(s.min_score, s.min_change, s.stable_frames,
                                                                         s.priority))
    budget = None
    if config.budget.enabled:
        settings = config.budget
        try:
            budget = KeyframeBudget(settings.keyframes_per_minute, settings.megabytes_per_hour, settings.window_s,
                                    settings.reserve_frames, jpeg_quality)
        except SettingError as error:
            if error.key == "jpeg_quality":
                raise
            raise error.within("selection.budget", origins.get(f"selection.budget.{error.key}")) from None
    if config.coverage.enabled:
        settings = config.coverage
        try:
            return CoverageSelector(policies, budget, settings.lookahead_s, settings.max_held, settings.leave_s,
                                    config.analysis_max_side, settings.max_held_megabytes)
        except SettingError as error:
            table = "selection" if error.key in ("policies", "analysis_max_side") else "selection.coverage"
            raise error.within(table, origins.get(f"{table}.{error.key}")) from None
    try:
        return KeyframeSelector(policies, budget, config.analysis_max_side)
    except SettingError as error:
        raise error.within("selection", origins.get(f"selection.{error.key}")) from None


def build_default_selector(min_gap_s: float = 1.0, max_gap_s: float | None = 30.0,
                           scene_threshold: float | None = None) -> KeyframeSelector:
    """The full default selector (every policy and the budget at the defaults of ``edge.config``),
    with the time bounds and the scene-change threshold given here. ``max_gap_s`` None: no heartbeat."""
    config = SelectionConfig()
    interval = replace(config.interval, min_gap_s=min_gap_s, heartbeat=max_gap_s is not None,
                       max_gap_s=config.interval.max_gap_s if max_gap_s is None else max_gap_s)
    scene = config.scene_change if scene_threshold is None else replace(config.scene_change, threshold=scene_threshold)
    return build_selector(replace(config, interval=interval, scene_change=scene))
