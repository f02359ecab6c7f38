import os
import time
from pathlib import Path

import matplotlib
import pytest
from PIL import Image

matplotlib.use("Agg")

from anogan_core import pipeline  # noqa: E402
from anogan_core.config import make_config  # noqa: E402
from anogan_core.phantom import make_scans  # noqa: E402

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


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A finished tiny phantom run: its trained GAN and encoder in the cache and its metrics.json."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ANOGAN_RUNS", str(tmp_path_factory.mktemp("runs")))
        cfg = make_config(
            "smoke", "synthetic", n_train_scans=6, n_test_scans=2, train_patches_per_scan=64,
            test_patches_per_scan=8, epochs=1, steps=10,
        )  # fmt: skip
        pipeline.trained_gan(cfg, progress=False)
        pipeline.trained_encoder(cfg, progress=False)
        pipeline.record(cfg, "02_dcgan", {}, time.perf_counter())
        return cfg.run_dir


@pytest.fixture(scope="session")
def phantom_files(tmp_path_factory):
    """Three healthy and three diseased phantom B-scans as PNG files (a seed no run trains on)."""
    folder = tmp_path_factory.mktemp("scans")
    for kind in ("normal", "fluid"):
        for i, scan in enumerate(make_scans(3, 101, diseased=kind == "fluid")):
            Image.fromarray(scan.image).save(folder / f"{kind}_{i}.png")
    return folder
