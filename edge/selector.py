"""Keyframe selection; the code lives in :mod:`edge.selection` (one module per policy family).

Kept so that ``from edge.selector import KeyframeSelector, build_default_selector, Decision``
and the other names of the first selector keep working.
"""

from edge.selection import *  # noqa: F403 - this module only re-exports edge.selection
from edge.selection import __all__  # noqa: F401
