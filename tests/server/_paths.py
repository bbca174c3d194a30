"""Where the shared real test data lives (outside the repository; never copied into it)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
IMAGES_DIR = DATA_DIR / "images"
