"""Keyframe selection on the device: which frames are worth sending, within a budget, and why.

Modules, one job each:

* :mod:`.core`: votes, decisions, the kept-frame history and :class:`KeyframeSelector`, which
  combines policies (read its docstring first);
* :mod:`.timing`: the first frame, the minimum gap, the heartbeat;
* :mod:`.novelty`: scene change and novelty against recently kept frames;
* :mod:`.quality`: gates rejecting blurred, black, badly exposed, frozen and obstructed frames;
* :mod:`.objects`: triggers from the detector and the tracker (tracks, classes, uncertainty, counts);
* :mod:`.budget`: keyframes per minute and bytes per hour, best frames first;
* :mod:`.coverage`: :class:`CoverageSelector`, the default: coverage of tracked objects at their
  best view as the objective, with a bounded look-ahead (:mod:`.views` rates each box's view);
* :mod:`.build`: a selector from the ``[selection]`` settings of the agent's config file;
* :mod:`.report`: what ``edgelabel-agent sample`` writes about the selector's choices (matplotlib
  for its timeline; the agent itself never imports it).
"""

from edge.selection.budget import KeyframeBudget, TokenBucket
from edge.selection.build import build_default_selector, build_selector
from edge.selection.core import (
    ABSTAIN,
    HISTORY_LENGTH,
    PRIORITY_FIRST,
    THUMBNAIL_SIZE,
    Candidate,
    Decision,
    KeptFrame,
    KeptHistory,
    KeyframeSelector,
    SelectionCounts,
    SelectionPolicy,
    Vote,
)
from edge.selection.coverage import CoverageSelector, Released
from edge.selection.novelty import NoveltyPolicy, SceneChangePolicy
from edge.selection.objects import ClassRarityPolicy, ObjectCountPolicy, TrackEventPolicy, UncertaintyPolicy
from edge.selection.quality import BlurGate, ExposureGate, FrozenGate, ObstructionGate
from edge.selection.timing import IntervalPolicy

__all__ = [
    "ABSTAIN",
    "HISTORY_LENGTH",
    "PRIORITY_FIRST",
    "THUMBNAIL_SIZE",
    "BlurGate",
    "Candidate",
    "ClassRarityPolicy",
    "CoverageSelector",
    "Decision",
    "ExposureGate",
    "FrozenGate",
    "IntervalPolicy",
    "KeptFrame",
    "KeptHistory",
    "KeyframeBudget",
    "KeyframeSelector",
    "NoveltyPolicy",
    "ObjectCountPolicy",
    "ObstructionGate",
    "Released",
    "SceneChangePolicy",
    "SelectionCounts",
    "SelectionPolicy",
    "TokenBucket",
    "TrackEventPolicy",
    "UncertaintyPolicy",
    "Vote",
    "build_default_selector",
    "build_selector",
]
