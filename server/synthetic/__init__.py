"""Synthetic annotation for fixed cameras: reviewer-verified objects pasted onto the camera's own background.

The boxes of a synthetic frame are exact by construction. One module per step:

* :mod:`.source_frames` reads a device's verified frames and boxes (accepted/corrected, never synthetic);
* :mod:`.background` estimates the empty scene (masked temporal median) and keeps it fresh;
* :mod:`.masks` and :mod:`.bank` cut objects out of their frames (foreground, GrabCut or box mask);
* :mod:`.placement` learns where each class appears and how big it is there;
* :mod:`.composite` pastes objects (feathered, colour-matched, far ones first) and measures their boxes;
* :mod:`.generate` ties them together into frames, :mod:`.runs` stores them (the frame rows through
  :mod:`server.frames.state`), :mod:`.report` shows them; :mod:`.pipeline` orders the steps.

Tables (migration ``0007_synthetic`` in ``migrations/``): ``device_backgrounds``, ``synthetic_runs``,
``synthetic_frames`` and ``synthetic_objects``. A synthetic frame is an ordinary ``frames`` row with
``status = 'synthetic'`` (``pending`` when queued for review with ``--review``), a negative ``seq``
(edge sequence numbers are never negative) and ``reasons = ["synthetic"]``; its ``synthetic_frames``
row is what marks it synthetic for good, whatever its status becomes. Its labels live in
``synthetic_objects``, not in ``annotations`` (no reviewer made them) nor ``detections`` (no model did),
except that ``--review`` also offers them as the frame's pre-labels so a reviewer has boxes to judge.
"""
