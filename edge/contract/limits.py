"""The limits of what one message may carry, each defined once.

The wire enforces them on every message; the collector applies the same ones to what reaches it by
other ways (imported images, a reviewer's boxes, class names of its taxonomy). Standard library only.
"""

MAX_HEADER_BYTES = 256 * 1024
MAX_IMAGE_BYTES = 16 * 1024 * 1024
MAX_IMAGE_SIDE = 16384
MAX_IMAGE_PIXELS = 50_000_000
"""An 8K frame is 33 MP; the cap keeps the collector's full decode of one image under ~150 MB."""
MAX_BOXES = 2000
"""Boxes of one frame."""
MAX_CLASSES = 4096
MAX_NAME_CHARS = 128
"""Longest device, model, class or reason name."""
MAX_REASONS = 32
MAX_REDACTION_KINDS = 32
"""Kinds of redaction one frame reports (faces, heads, a few classes)."""
MAX_REDACTION_COUNT = 100_000
MAX_STATUS_COUNTERS = 64
