"""Shared fixtures: where the real model and footage live (next to the repository, never inside it).

The repository is cloned beside ``shared/`` both here and in CI. If ``shared/`` is missing the
tests fail loudly rather than skip: a green run without the real model would prove nothing.
"""

from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_DIR.parent / "shared"
MODEL_PATH = SHARED_DIR / "models" / "yolox_nano.onnx"
DATA_DIR = SHARED_DIR / "data"
IMAGES_DIR = DATA_DIR / "images"


def pytest_configure(config: pytest.Config) -> None:
    # Stop the whole run up front with one clear line instead of a wall of confusing failures.
    if not SHARED_DIR.is_dir():
        raise pytest.UsageError(
            f"shared test fixtures not found at {SHARED_DIR}; clone the repository next to shared/"
        )


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(
            f"shared test fixture missing: {path} (clone the repository next to shared/, "
            f"see DESIGN.md 'Real components, always')",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require(SHARED_DIR)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real YOLOX-Nano model (COCO-80, 416x416)."""
    return _require(MODEL_PATH)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _require(DATA_DIR)


@pytest.fixture(scope="session")
def images_dir() -> Path:
    return _require(IMAGES_DIR)


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster for the whole session, started when a test first needs it
    (tests/server/_postgres.py); ``new_database()`` hands out fresh databases."""
    from tests.server._postgres import PostgresCluster

    cluster = PostgresCluster()
    yield cluster
    cluster.stop()
