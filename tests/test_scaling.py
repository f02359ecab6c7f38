import math

import numpy as np
import pytest
from scipy import stats

from anogan_core.scaling import (
    CAVEAT,
    Trend,
    conclusion,
    curve_panels,
    darkness_floor,
    findings,
    fit_log_trend,
    headline_spread,
    load_points,
    other_trends,
    point_summary,
    series,
    spread_cell,
    spread_table,
    summary_cell,
    summary_rows,
    verdict,
)
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
    text = verdict(rising, "N", {"darkness floor": 0.7})
    assert "about 400, 4.0 times the largest measured (100)" in text and text.startswith("+0.050")
    assert "within the measured range" in verdict(rising, "N", {"darkness floor": 0.55})
    noise = np.tile([-0.01, 0.0, 0.01], 3)
    falling = fit_log_trend(scale, 0.6 - 0.05 * np.log2(scale) + noise)
    assert "falling" in verdict(falling, "width", {"floor": 0.7})


def test_a_flat_series_says_where_the_steepest_line_its_interval_allows_would_reach():
    scale = np.repeat([25, 50, 100], 3)
    flat = fit_log_trend(scale, 0.6 + np.tile([-0.01, 0.0, 0.01], 3))  # slope 0, residuals +-0.01, 0
    # by hand: SSE 6 * 1e-4 over 7 degrees of freedom, Sxx = 3 * (1 + 0 + 1) in log2 units
    half = stats.t.ppf(0.975, 7) * math.sqrt(6e-4 / 7 / 6)
    assert flat.flat and flat.slope == pytest.approx(0, abs=1e-12) and flat.slope_hi == pytest.approx(half)
    steepest = flat.steepest()
    assert steepest.slope == pytest.approx(half) and steepest.predict(50) == pytest.approx(0.6)  # same centre
    where = 50 * 2 ** (0.1 / half)  # from 0.6 at the centre (50) to 0.7
    assert steepest.reaches(0.7) == pytest.approx(where)
    text = verdict(flat, "N", {"floor": 0.7, "paper's AUC": 0.89})
    assert text.startswith(f"+0.000 [{-half:+.3f}, {half:+.3f}] per doubling of training scans: flat at 25 to 100")
    assert f"even at the top of its interval the line would reach the floor (0.700) at about {where:,.0f}" in text
    assert "and the paper's AUC (0.890) at about" in text


def _row(point, seed, scans, fnn, dataset="oct", **extra):
    return {"dataset": dataset, "point": point, "gan_seed": seed, "training scans": scans, "width": 16,
            "updates": 4000, "fluid/non-fluid": fnn, "darkness floor": 0.7, **extra}  # fmt: skip


def test_findings_state_the_seed_spread_each_trend_and_the_caveat():
    assert findings([], 0.89) == "No series has two scales recorded yet: no trend to state. " + CAVEAT
    base = [_row("base", k, 178, a) for k, a in enumerate((0.55, 0.57, 0.59))]
    text = findings(base, 0.89)
    assert text.startswith("Between GAN seeds at today's settings, fluid vs non-fluid on the validation split "
                           "spans 0.550 to 0.590 (sd 0.020, 3 seeds).")  # fmt: skip
    assert "No series has two scales" in text and text.endswith(CAVEAT)
    # N: 25 -> 0.45, 50 -> 0.50, 100 -> 0.55, base 200 -> 0.60 (3 seeds, tiny noise): a rising line in log2 N
    points = [("N=25", 25), ("N=50", 50), ("N=100", 100), ("base", 200)]
    rising = [_row(p, k, n, 0.45 + 0.05 * np.log2(n / 25) + (k - 1) * 1e-3) for p, n in points for k in range(3)]
    text = findings(rising, 0.89)
    assert "*N*, fluid vs non-fluid: +0.050" in text
    assert "would reach the darkness floor (0.700) at about 800" in text
    assert f"and the paper's AUC (0.890) at about {25 * 2 ** (0.44 / 0.05):,.0f}" in text  # 0.45 at 25, +0.05 each
    assert "**In short:** N rises measurably and the darkness floor (0.700) lies above every seed" in text
    assert f"The paper's is 13,230, {13230 / 200:,.0f} times the largest measured." in text
    flat_points = (("N=100", 100, 16), ("base", 200, 16), ("width 8", 178, 8))
    flat = [_row(p, k, n, 0.6 + (k - 1) * 0.01, width=w) for p, n, w in flat_points for k in range(3)]
    text = findings(flat, 0.89)
    assert ("**In short:** no series (N, width) rises measurably at the scales measured and the darkness "
            "floor (0.700) lies above every seed of every point: scale within this range does not explain the gap."
            ) in text  # fmt: skip
    # +-0.01 around 0.6 at both scales: the top of the slope's interval is t(0.975, 4) * sqrt(1e-4 / 1.5) per
    # doubling, from 0.6 at the centre; N's centre is sqrt(100 * 200), width's sqrt(8 * 16)
    doublings = 0.1 / (stats.t.ppf(0.975, 4) * math.sqrt(1e-4 / 1.5))
    assert math.sqrt(100 * 200) * 2**doublings < 13230 and math.sqrt(8 * 16) * 2**doublings > 64
    assert text.endswith("Whether the paper's scale would is left open for N: the most hopeful line the data allow "
                         "reaches the floor before the paper's scale (training scans 13,230). " + CAVEAT)  # fmt: skip
    width_only = {"width": fit_log_trend(*series(flat, "oct", "width", "fluid/non-fluid"))}
    assert conclusion(flat, width_only, 0.7).endswith(
        "Even the most hopeful line the data allow stays below the floor at the paper's scale."
    )
    trends = {"N": fit_log_trend(*series(flat, "oct", "N", "fluid/non-fluid"))}
    reached = conclusion([*flat, _row("N=25", 0, 25, 0.75)], trends, 0.7)
    assert "1 of 10 seeds reach the darkness floor (0.700)" in reached
    assert darkness_floor(rising) == pytest.approx(0.7) and darkness_floor([]) is None
    assert summary_cell({"mean": 0.5, "sd": 0.01, "min": 0.49, "max": 0.51}, "fluid/non-fluid") == (
        "0.500 ± 0.010 [0.490, 0.510]"
    )
    assert (
        summary_cell({"mean": 314.4, "sd": 2, "min": 1, "max": 3}, "GAN s") == "314" and summary_cell(None, "x") == ""
    )


def test_curve_panels_hold_each_comparison_and_the_phantom_control():
    rows = [_row("N=25", 0, 25, 0.5, **{"fluid/normal": 0.4}), _row("base", 0, 178, 0.6),
            _row("base", 0, 150, None, dataset="synthetic", phantom=0.98)]  # fmt: skip
    rows[2].pop("fluid/non-fluid")
    panels = curve_panels(rows, "N")
    real = panels["real OCT, validation split"]
    assert sorted(real) == ["fluid/non-fluid", "fluid/normal"]
    assert real["fluid/non-fluid"][2] is not None and real["fluid/normal"][2] is None  # one scale: no trend
    assert panels["phantom (control), fluid vs normal"]["phantom"][1].tolist() == [0.98]


def test_the_test_split_spread_over_gan_seeds(tmp_path):
    assert headline_spread(tmp_path) == {} and spread_cell(None) == ""
    for k, a in enumerate((0.60, 0.64, 0.65)):
        block = {"Duke fluid vs Duke non-fluid": {"AnoGAN": a, "darkness (-mean)": 0.7}}
        save_json(tmp_path / f"test-spread-seed{k}.json", {"gan_seed": k, "auc": block})
    save_json(tmp_path / "oct-base-seed0.json", {"dataset": "oct", "point": "base"})  # not a spread file
    assert load_points(tmp_path) == [{"dataset": "oct", "point": "base"}]  # and the spread is no point
    spread = headline_spread(tmp_path)["Duke fluid vs Duke non-fluid"]
    assert spread["AnoGAN"]["mean"] == pytest.approx(0.63) and spread["AnoGAN"]["seeds"] == 3
    assert spread_cell(spread["AnoGAN"]) == "0.630 [0.600, 0.650] (3 seeds)"
    assert spread_cell(spread["darkness (-mean)"]) == "0.700 [0.700, 0.700] (3 seeds)"
    assert spread_cell({"mean": 0.6, "min": 0.6, "max": 0.6, "seeds": 1}) == "0.600 [0.600, 0.600] (1 seed)"
    this_run = {
        "AnoGAN": {"auc": 0.6, "auc_lo": 0.5, "auc_hi": 0.7},
        "P_D": {"auc": 0.55, "auc_lo": 0.5, "auc_hi": 0.6},
    }
    table = spread_table(this_run, spread).splitlines()
    assert table[2:] == ["| AnoGAN | 0.600 [0.500, 0.700] | 0.630 [0.600, 0.650] (3 seeds) |"]
    assert spread_table(this_run, {}) == ""


def test_trends_against_kermany_normal_are_named_only_when_their_interval_excludes_zero():
    wobble = np.array([-0.001, 0.0, 0.001])
    rows = [_row(p, k, n, 0.6, domain=0.5 - 0.03 * np.log2(n / 25) + wobble[k], **{"fluid/normal": 0.6 + wobble[k]})
            for p, n in (("N=25", 25), ("N=50", 50), ("base", 100)) for k in range(3)]  # fmt: skip
    text = other_trends(rows)
    assert text.startswith("Against Kermany normal tissue, domain falls with training scans (-0.030 [")
    assert "fluid/normal falls" not in text and "fluid/normal rises" not in text  # flat: not named
    assert other_trends([_row("N=25", k, 25, 0.6, domain=0.5) for k in range(3)]) == ""  # one scale: no trend
    assert "domain falls with training scans" in findings(rows, 0.89)


def test_summary_rows_give_one_line_per_point_in_the_series_order():
    rows = [_row("base", k, 178, a, **{"GAN s": 300.0 + k}) for k, a in enumerate((0.5, 0.6))]
    rows.append(_row("N=25", 0, 25, 0.55))
    lines = summary_rows(rows)
    assert [(line["point"], line["seeds"]) for line in lines] == [("oct N=25", 1), ("oct base", 2)]
    base = lines[1]
    assert base["fluid/non-fluid"] == f"0.550 ± {math.sqrt(0.005):.3f} [0.500, 0.600]"
    assert base["GAN s"] == "300" and base["phantom"] == "" and lines[0]["fluid/non-fluid"] == "0.550"


def test_the_most_hopeful_line_of_a_rising_series_is_the_top_of_its_interval_too():
    centre = math.log2(67)  # 0.6 at 67 scans; the fit rises 0.01 a doubling, the interval's top 0.05
    rising = Trend(0.6 - 0.01 * centre, 0.01, 0.005, 0.05, 12, 25, 178, centre)
    assert rising.reaches(0.7) == pytest.approx(67 * 2**10)  # beyond the paper's 13,230
    assert rising.steepest().reaches(0.7) == pytest.approx(67 * 2**2)  # before it
    assert conclusion([_row("base", 0, 178, 0.6)], {"N": rising}, 0.7).endswith(
        "left open for N: the most hopeful line the data allow reaches the floor before the paper's scale "
        "(training scans 13,230)."
    )
