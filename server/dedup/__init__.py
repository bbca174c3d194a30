"""Duplicate detection at ingest: exact copies by content hash, near copies by a 64-bit block hash
searched with multi-index hashing and confirmed by a 32x32 thumbnail comparison.

``signature`` (what is kept per frame), ``index`` (the Hamming-radius search), ``compare`` (the
thumbnail check), ``policy`` (the knobs), ``engine`` (the decision and its records),
``edge_audit`` (checking the edge's hashes), ``report`` (reading groups back for audits).
"""
