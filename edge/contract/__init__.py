"""What the edge agent and the collector share, and the only edge code the collector imports.

The wire messages and their limits, box formats with IoU and NMS, the perceptual hash, MOT files,
device credentials, the TOML config loader, pinned downloads, mean average precision (the agent's
quantization check and the collector's `models evaluate`) and the errors they raise.
``tests/test_boundaries.py`` keeps the collector to this package. Importing it imports nothing:
each module pulls in only what it needs (``wire`` and ``limits`` the standard library alone).
"""
