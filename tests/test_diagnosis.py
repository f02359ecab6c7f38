import numpy as np
import pytest

from anogan_core import diagnosis
from anogan_core.patches import PatchSet
from anogan_core.preprocess import FLAT_RPE_ROW


def _patches(means, rows, fluid_rows):
    """Flat patches of the given grey values (uint8), tops at the given rows, and fluid
    masks covering the first ``fluid_rows`` rows."""
    n = len(means)
    x = np.stack([np.full((64, 64), m, np.uint8) for m in means])
    mask = np.zeros((n, 64, 64), bool)
    for i, k in enumerate(fluid_rows):
        mask[i, :k] = True
    pos = np.stack([np.array(rows), np.zeros(n, int)], 1).astype(np.int32)
    scans = [{"name": "s", "patient": "p", "label": "FLUID", "source": "duke", "split": "test"}]
    return PatchSet(x, np.zeros(n, np.int32), pos, mask.any((1, 2)).astype(np.int8), mask, np.zeros(n, np.int8), scans)


def test_patch_measures_are_known_answers():
    ps = _patches([0, 255, 127], [100, 104, 90], [0, 16, 64])
    assert diagnosis.patch_brightness(ps) == pytest.approx([-1.0, 1.0, -1 / 255])
    assert diagnosis.patch_depth(ps).tolist() == [FLAT_RPE_ROW - 100, FLAT_RPE_ROW - 104, FLAT_RPE_ROW - 90]
    assert diagnosis.fluid_share(ps).tolist() == [0.0, 0.25, 1.0]


def test_a_darkness_confounded_score_is_found_out_by_the_brightness_panel():
    rng = np.random.default_rng(1)
    n = 800
    means = rng.integers(40, 200, n)
    labels = (rng.uniform(size=n) < (means < 120) * 0.6 + 0.2).astype(int)  # darker patches hold fluid more often
    ps = _patches(means, rng.integers(80, 110, n), labels * 20)
    index = np.arange(n)
    residual_like = means + rng.normal(0, 5, n)  # grows with brightness, blind to fluid
    panels = diagnosis.auc_by_factor(ps, index, labels, {"R(x)": residual_like})
    overall_darkness = panels["by fluid share (each share vs all negatives)"][1]["darkness floor"]
    assert overall_darkness[0]["auc"] > 0.6  # the floor looks like a detector over all patches
    within = panels["within brightness quartiles"][1]["R(x)"]
    assert len(within) >= 3 and all(abs(r["auc"] - 0.5) < 0.15 for r in within)
    assert diagnosis.brightness_correlation(ps, np.flatnonzero(labels == 0), residual_like) > 0.9


def test_worst_misses_are_the_lowest_scored_positives():
    labels = np.array([1, 0, 1, 1, 0])
    scores = np.array([0.9, 0.0, 0.1, 0.5, 0.2])
    assert diagnosis.worst_misses(labels, scores, 2).tolist() == [2, 3]


def test_appearance_by_group_tells_a_smoother_scanner_apart():
    rng = np.random.default_rng(2)
    grainy = np.clip(120 + rng.normal(0, 30, (6, 64, 64)), 0, 255).astype(np.uint8)
    smooth = np.clip(120 + rng.normal(0, 10, (6, 64, 64)), 0, 255).astype(np.uint8)
    scans = [{"name": "k", "patient": "a", "label": "NORMAL", "source": "kermany", "split": "test"},
             {"name": "d", "patient": "b", "label": "DME", "source": "duke", "split": "test"}]  # fmt: skip
    n = 12
    ps = PatchSet(np.concatenate([grainy, smooth]), np.repeat([0, 1], 6).astype(np.int32), np.zeros((n, 2), np.int32),
                  np.zeros(n, np.int8), None, np.zeros(n, np.int8), scans)  # fmt: skip
    rows = {r["group"]: r for r in diagnosis.appearance_by_group(ps, np.arange(n))}
    assert set(rows) == {"kermany NORMAL, no fluid patches", "duke DME, no fluid patches"}
    ratio = (
        rows["duke DME, no fluid patches"]["speckle contrast"]
        / rows["kermany NORMAL, no fluid patches"]["speckle contrast"]
    )
    assert ratio == pytest.approx(1 / 3, rel=0.05)  # independent noise of a third the deviation
    assert all(r["patches"] == 6 and abs(r["grain across columns"]) < 0.1 for r in rows.values())
