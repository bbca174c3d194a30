"""Scoring against ground truth: tracker output (MOTChallenge files, CLEAR-MOT, identity, HOTA) and
detectors on labeled image sets (:mod:`.labeled`, scored by :mod:`.mean_ap`)."""
