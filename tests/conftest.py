import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

SHARED_OCT = Path(__file__).resolve().parents[2] / "shared" / "data" / "oct"


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path, monkeypatch):
    """Every test writes its runs into its own temporary folder."""
    monkeypatch.setenv("ANOGAN_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("ANOGAN_DEVICE", raising=False)


@pytest.fixture
def oct_root() -> Path:
    """The real OCT data ($ANOGAN_DATA or ../shared/data/oct); tests using it skip without it."""
    root = Path(os.environ.get("ANOGAN_DATA", SHARED_OCT))
    if not (root / "kermany-oct2017").is_dir():
        pytest.skip(f"real OCT data not found at {root}")
    return root
