"""Where the shared real test data lives (outside the repository; never copied into it)."""

from tests.conftest import DATA_DIR

IMAGES_DIR = DATA_DIR / "images"

__all__ = ["DATA_DIR", "IMAGES_DIR"]
