import math

import numpy as np
import pytest

from anogan_core.scaling import fit_log_trend, load_points, point_summary, series, verdict
from anogan_core.storage import save_json


def test_an_exact_log_line_is_recovered_and_extrapolated():
    scale = np.array([25, 50, 100, 200] * 3)
    trend = fit_log_trend(scale, 0.5 + 0.1 * np.log2(scale / 25))
    assert trend.slope == pytest.approx(0.1) and trend.slope_lo == pytest.approx(0.1)
    assert not trend.flat and (trend.low, trend.high, trend.n) == (25, 200, 12)
    assert trend.reaches(0.8) == pytest.approx(200)  # three doublings from 25
    assert trend.reaches(0.9) == pytest.approx(400)  # one doubling beyond what was measured
    assert trend.predict(50) == pytest.approx(0.6)


def test_noise_without_a_trend_is_flat_and_a_falling_line_never_reaches():
    rng = np.random.default_rng(0)
    scale = np.repeat([8, 16, 32], 3)
    assert fit_log_trend(scale, 0.6 + rng.normal(0, 0.02, 9)).flat
    falling = fit_log_trend(scale, 0.7 - 0.05 * np.log2(scale))
    assert falling.slope < 0 and falling.reaches(0.9) is None
    with pytest.raises(ValueError, match="two different scales"):
        fit_log_trend(np.array([16, 16]), np.array([0.5, 0.6]))


def test_series_and_summary_read_the_benchmarks_rows(tmp_path):
    rows = [
        {"dataset": "oct", "point": p, "gan_seed": k, "training scans": n, "width": 16, "updates": 4000, "auc": a}
        for p, n, values in (("N=25", 25, (0.5, 0.6)), ("base", 178, (0.7, 0.8)))
        for k, a in enumerate(values)
    ]
    rows.append({"dataset": "synthetic", "point": "base", "gan_seed": 0, "training scans": 150, "phantom": 0.95})
    for i, r in enumerate(rows):
        save_json(tmp_path / f"{i}.json", r)
    loaded = load_points(tmp_path)
    x, y = series(loaded, "oct", "N", "auc")
    assert sorted(zip(x, y)) == [(25, 0.5), (25, 0.6), (178, 0.7), (178, 0.8)]
    assert series(loaded, "oct", "width", "auc")[0].tolist() == [16, 16]  # base lies on every axis
    with pytest.raises(ValueError, match="unknown axis"):
        series(loaded, "oct", "depth", "auc")
    lines = {(s["dataset"], s["point"]): s for s in point_summary(loaded, ["auc", "phantom"])}
    assert lines[("oct", "N=25")]["seeds"] == 2
    assert lines[("oct", "N=25")]["auc"]["mean"] == pytest.approx(0.55)
    assert lines[("oct", "N=25")]["auc"]["sd"] == pytest.approx(math.sqrt(0.005))
    assert (lines[("oct", "base")]["auc"]["min"], lines[("oct", "base")]["auc"]["max"]) == (0.7, 0.8)
    assert "auc" not in lines[("synthetic", "base")] and math.isnan(lines[("synthetic", "base")]["phantom"]["sd"])


def test_the_verdict_says_flat_falling_or_how_far_to_extrapolate():
    scale = np.repeat([25, 50, 100], 3)
    rising = fit_log_trend(scale, 0.5 + 0.05 * np.log2(scale / 25) + np.tile([-0.001, 0, 0.001], 3))
    text = verdict(rising, "N", 0.7, "darkness floor")
    assert "about 400, 4.0 times the largest measured (100)" in text and text.startswith("+0.050")
    assert "within the measured range" in verdict(rising, "N", 0.55, "darkness floor")
    noise = np.tile([-0.01, 0.0, 0.01], 3)
    assert "flat at 25 to 100" in verdict(fit_log_trend(scale, 0.6 + noise), "N", 0.7, "floor")
    falling = fit_log_trend(scale, 0.6 - 0.05 * np.log2(scale) + noise)
    assert "falling" in verdict(falling, "width", 0.7, "floor")
