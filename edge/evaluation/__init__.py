"""Scoring tracker output against ground truth (MOTChallenge files, CLEAR-MOT, identity, HOTA)."""
