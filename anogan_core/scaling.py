"""Trends over scale: does AUC grow with healthy scans, width or training length?

The points are those of ``benchmarks/scaling.py``: the ``cpu`` recipe with one change (the
number N of healthy training scans at a fixed patch count, the width, the number of
updates), each trained with several GAN seeds and scored on the validation split; one JSON
row per (dataset, point, seed) in ``results/scaling/``.

Each series is fitted by least squares with a line in log2 of its scale, AUC = a + b log2(x),
over every seed's value (seeds are replicates), with a t-interval on the slope b: a doubling
of the scale moves the AUC by b. Where the interval holds 0 the series is flat at this range.
:meth:`Trend.reaches` extrapolates the line to a target AUC (the darkness floor, the paper's
0.89); how far beyond the measured range that lies is the honest caveat of any such number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from .report import fmt_ci, markdown_table

POINTS: dict[str, dict[str, Any]] = {  # each point: the cpu recipe with this change
    "base": {},
    "N=25": {"n_train_scans": 25},
    "N=50": {"n_train_scans": 50},
    "N=100": {"n_train_scans": 100},
    "width 8": {"width": 8},
    "width 32": {"width": 32},
    "2x updates": {"epochs": 12},
}
NOTHING_RECORDED = "No point recorded yet"
AXES = {"N": "training scans", "width": "width", "updates": "updates"}  # series -> its scale's key in a row
PAPER_SCALE = {  # the paper's scale on each axis: 270 healthy volumes of 49 B-scans, D's first layer 64 wide,
    "N": 270 * 49,  # 20 epochs of 1,000,000 patches (at batch 64, DCGAN's, which the paper does not state)
    "width": 64,
    "updates": 20 * 1_000_000 // 64,
}
SERIES = {  # the points of each series (``base`` is today's setting, on every axis)
    "N": ("N=25", "N=50", "N=100", "base"),
    "width": ("width 8", "base", "width 32"),
    "updates": ("base", "2x updates"),
}


@dataclass(frozen=True)
class Trend:
    """AUC = intercept + slope * log2(scale), fitted to ``n`` values over ``[low, high]``; the line
    passes through (``centre``, its mean AUC), ``centre`` being the mean of log2(scale)."""

    intercept: float
    slope: float  # AUC per doubling
    slope_lo: float  # 95% t-interval
    slope_hi: float
    n: int
    low: float
    high: float
    centre: float

    @property
    def flat(self) -> bool:
        """No trend at this range: the slope's interval holds 0."""
        return self.slope_lo <= 0.0 <= self.slope_hi

    def predict(self, scale: float | np.ndarray) -> float | np.ndarray:
        return self.intercept + self.slope * np.log2(scale)

    def reaches(self, target: float) -> float | None:
        """The scale at which the line reaches ``target``, or None if it never does going up (a slope
        of 0 or less). A value beyond ``high`` is an extrapolation by ``value / high`` times."""
        if self.slope <= 0:
            return None
        return float(2 ** ((target - self.intercept) / self.slope))

    def steepest(self) -> Trend:
        """The most hopeful line the data allow: the top of the slope's interval, through the same
        centre (a least-squares line always passes through the mean of x and of y)."""
        level = self.intercept + self.slope * self.centre
        return replace(self, intercept=level - self.slope_hi * self.centre, slope=self.slope_hi,
                       slope_lo=self.slope_hi)  # fmt: skip


def fit_log_trend(scale: np.ndarray, auc: np.ndarray) -> Trend:
    """Least-squares line of ``auc`` against log2(``scale``) with a 95% t-interval on the slope."""
    scale = np.asarray(scale, float)
    x, y = np.log2(scale), np.asarray(auc, float)
    if len(np.unique(x)) < 2:
        raise ValueError("a trend needs at least two different scales")
    fit = stats.linregress(x, y)
    dof = len(x) - 2
    half = float(stats.t.ppf(0.975, dof) * fit.stderr) if dof > 0 else math.inf
    slope = float(fit.slope)
    return Trend(float(fit.intercept), slope, slope - half, slope + half, len(x), float(scale.min()),
                 float(scale.max()), float(x.mean()))  # fmt: skip


def load_points(folder: Path) -> list[dict[str, Any]]:
    """Every recorded point of the scaling benchmark (empty without any; the headline's test-split
    spread, :func:`headline_spread`, is not a point)."""
    rows = [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
    return [r for r in rows if "point" in r]


def series(rows: list[dict[str, Any]], dataset: str, axis: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(scale, value) of every seed of every point of ``axis`` ('N', 'width' or 'updates') that
    holds ``column``."""
    if axis not in SERIES:
        raise ValueError(f"unknown axis {axis!r}; allowed: {', '.join(SERIES)}")
    picked = [r for r in rows if r["dataset"] == dataset and r["point"] in SERIES[axis] and column in r]
    return np.array([r[AXES[axis]] for r in picked], float), np.array([r[column] for r in picked], float)


def point_summary(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    """Per (dataset, point), in the order of :data:`SERIES`: the seeds, and mean, sd, min and max over
    them of each column."""
    out = []
    order = [p for points in SERIES.values() for p in points]
    keys = dict.fromkeys((r["dataset"], r["point"]) for r in rows)
    for key in sorted(keys, key=lambda k: (k[0], order.index(k[1]) if k[1] in order else len(order), k[1])):
        mine = [r for r in rows if (r["dataset"], r["point"]) == key]
        line: dict[str, Any] = {"dataset": key[0], "point": key[1], "seeds": len(mine)}
        for column in columns:
            values = np.array([r[column] for r in mine if column in r], float)
            if len(values):
                sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
                line[column] = {"mean": float(values.mean()), "sd": sd, "min": float(values.min()),
                                "max": float(values.max())}  # fmt: skip
        out.append(line)
    return out


def _reach(trend: Trend, targets: dict[str, float]) -> str:
    """Where a rising line reaches each target: 'the darkness floor (0.724) at about 2,000, 11.2 times
    the largest measured (178)', or 'within the measured range'."""
    said = []
    for name, target in targets.items():
        where = trend.reaches(target)
        if where is None:
            said.append(f"never the {name} ({target:.3f})")
        elif where <= trend.high:
            said.append(f"the {name} ({target:.3f}) within the measured range")
        else:
            said.append(f"the {name} ({target:.3f}) at about {where:,.0f}, {where / trend.high:,.1f} times the "
                        f"largest measured ({trend.high:g})")  # fmt: skip
    return " and ".join(said)


def verdict(trend: Trend, axis: str, targets: dict[str, float]) -> str:
    """One sentence on a fitted series: its slope per doubling and where the line would reach each
    target (name: AUC), with how far that lies beyond the largest measured scale. A flat series says
    where even the steepest line its interval allows (:meth:`Trend.steepest`) would reach them."""
    change = f"{trend.slope:+.3f} [{trend.slope_lo:+.3f}, {trend.slope_hi:+.3f}] per doubling of {AXES[axis]}"
    if trend.flat:
        said = f"{change}: flat at {trend.low:g} to {trend.high:g}, no effect of this range can be told from noise"
        steepest = trend.steepest()
        if steepest.slope > 0:
            said += f"; even at the top of its interval the line would reach {_reach(steepest, targets)}"
        return said + "."
    if trend.slope < 0:
        return f"{change}: falling, so more of it does not reach the {next(iter(targets))}."
    return f"{change}: the line would reach {_reach(trend, targets)}."


COMPARISONS = {"fluid/non-fluid": "Duke fluid vs Duke non-fluid", "fluid/normal": "Duke fluid vs Kermany normal",
               "domain": "Duke non-fluid vs Kermany normal"}  # fmt: skip
COLUMNS = [*COMPARISONS, "darkness floor", "pixel AUROC", "phantom", "GAN s", "map s"]  # the benchmark's table
CAVEAT = "Every extrapolation assumes the line holds beyond the measured range, which nothing here tests."


def summary_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The benchmark's table: per dataset and point, its seeds and a :func:`summary_cell` per column
    of :data:`COLUMNS`."""
    return [
        {"point": f"{line['dataset']} {line['point']}", "seeds": line["seeds"],
         **{column: summary_cell(line.get(column), column) for column in COLUMNS}}
        for line in point_summary(rows, COLUMNS)
    ]  # fmt: skip


def summary_cell(value: dict[str, float] | None, column: str) -> str:
    """A table cell of :func:`point_summary`: seconds as their mean, AUCs as mean ± sd [min, max]
    (a single seed's value alone)."""
    if value is None:
        return ""
    if column.endswith(" s"):
        return f"{value['mean']:.0f}"
    if not math.isfinite(value["sd"]):  # one seed so far
        return f"{value['mean']:.3f}"
    return f"{value['mean']:.3f} ± {value['sd']:.3f} [{value['min']:.3f}, {value['max']:.3f}]"


def darkness_floor(rows: list[dict[str, Any]]) -> float | None:
    """The darkness floor of the validation patches (the same at every point), or None before any point."""
    values = [r["darkness floor"] for r in rows if "darkness floor" in r]
    return float(np.mean(values)) if values else None


def fit_if_two_scales(x: np.ndarray, y: np.ndarray) -> Trend | None:
    """:func:`fit_log_trend`, or None while fewer than two different scales are recorded."""
    return fit_log_trend(x, y) if len(np.unique(x)) > 1 else None


def _fitted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, Trend | None]:
    return x, y, fit_if_two_scales(x, y)


def curve_panels(rows: list[dict[str, Any]], axis: str) -> dict[str, dict[str, tuple]]:
    """The panels of one series for :func:`figures.scaling_curves`: the real-OCT comparisons, and the
    phantom control where recorded; each curve (scale, AUC, trend or None for a single scale)."""
    panels = {}
    real = {c: _fitted(*series(rows, "oct", axis, c)) for c in COMPARISONS}
    real = {c: v for c, v in real.items() if len(v[0])}
    if real:
        panels["real OCT, validation split"] = real
    x, y = series(rows, "synthetic", axis, "phantom")
    if len(x):
        panels["phantom (control), fluid vs normal"] = {"phantom": _fitted(x, y)}
    return panels


def findings(rows: list[dict[str, Any]], paper_auc: float) -> str:
    """What the recorded points say, in sentences: the spread between GAN seeds at today's settings,
    per series the trend of fluid vs non-fluid against the darkness floor and the paper's AUC, the
    trends against Kermany normal that clear the noise, the answer in short, and the caveat of
    extrapolation."""
    said = []
    base = [r["fluid/non-fluid"] for r in rows if r["dataset"] == "oct" and r["point"] == "base"
            and "fluid/non-fluid" in r]  # fmt: skip
    if len(base) > 1:
        sd = np.std(base, ddof=1)
        said.append(f"Between GAN seeds at today's settings, fluid vs non-fluid on the validation split spans "
                    f"{min(base):.3f} to {max(base):.3f} (sd {sd:.3f}, {len(base)} seeds).")  # fmt: skip
    floor = darkness_floor(rows)
    fitted = {axis: fit_if_two_scales(*series(rows, "oct", axis, "fluid/non-fluid")) for axis in SERIES}
    trends = {axis: t for axis, t in fitted.items() if t is not None and floor is not None}
    targets = {"darkness floor": floor, "paper's AUC": paper_auc}
    for axis, trend in trends.items():
        ratio = PAPER_SCALE[axis] / trend.high
        paper = f"The paper's is {PAPER_SCALE[axis]:,}, {ratio:,.0f} times the largest measured."
        said.append(f"*{axis}*, fluid vs non-fluid: {verdict(trend, axis, targets)} {paper}")
    if not trends:
        said.append("No series has two scales recorded yet: no trend to state.")
    else:
        said += [other_trends(rows), conclusion(rows, trends, floor)]
    return " ".join([part for part in said if part] + [CAVEAT])


def other_trends(rows: list[dict[str, Any]]) -> str:
    """The trends of the comparisons against Kermany normal whose interval excludes 0, or ''."""
    moved = []
    for column in ("fluid/normal", "domain"):
        for axis in SERIES:
            t = fit_if_two_scales(*series(rows, "oct", axis, column))
            if t is not None and not t.flat:
                moved.append(f"{column} {'rises' if t.slope > 0 else 'falls'} with {AXES[axis]} "
                             f"({t.slope:+.3f} [{t.slope_lo:+.3f}, {t.slope_hi:+.3f}] per doubling)")  # fmt: skip
    if not moved:
        return ""
    return ("Against Kermany normal tissue, " + "; ".join(moved) + ". The domain comparison (Duke non-fluid vs "
            "Kermany normal) measures the scanner alone, so a fall there means less of the scanner is read as "
            "anomaly, and fluid vs normal, which holds the scanner too, moves with it.")  # fmt: skip


def conclusion(rows: list[dict[str, Any]], trends: dict[str, Trend], floor: float) -> str:
    """The answer in short: does any measured series rise, does any seed reach the floor, and on which
    axes the most hopeful line the data allow would reach the floor by the paper's scale."""
    real = [r["fluid/non-fluid"] for r in rows if r["dataset"] == "oct" and "fluid/non-fluid" in r]
    rising = [a for a, t in trends.items() if not t.flat and t.slope > 0]
    below = max(real) < floor
    where = f"the darkness floor ({floor:.3f}) lies above every seed of every point" if below else (
        f"{sum(a >= floor for a in real)} of {len(real)} seeds reach the darkness floor ({floor:.3f})")  # fmt: skip
    if rising:
        said = (f"**In short:** {', '.join(rising)} rise{'s' if len(rising) == 1 else ''} measurably and {where}, "
                f"so more of {'it' if len(rising) == 1 else 'them'} is the scale to try next.")  # fmt: skip
    else:
        said = (f"**In short:** no series ({', '.join(trends)}) rises measurably at the scales measured and "
                f"{where}: scale within this range does not explain the gap.")  # fmt: skip
    hopeful = {a: t.steepest().reaches(floor) for a, t in trends.items()}
    open_axes = [a for a, at in hopeful.items() if at is not None and at <= PAPER_SCALE[a]]
    if open_axes:
        return said + (f" Whether the paper's scale would is left open for {' and '.join(open_axes)}: the most "
                       "hopeful line the data allow reaches the floor before the paper's scale ("
                       + ", ".join(f"{AXES[a]} {PAPER_SCALE[a]:,}" for a in open_axes) + ").")  # fmt: skip
    return said + " Even the most hopeful line the data allow stays below the floor at the paper's scale."


SPREAD_PATTERN = "test-spread-seed*.json"  # the recorded headline (cpu profile, oct, test split) per GAN seed


def headline_spread(folder: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Per comparison and method, the test-split AUC of the ``cpu`` profile on ``oct`` over the GAN
    seeds recorded by ``benchmarks/scaling.py --test-spread``: mean, min, max and the number of seeds
    (empty before any)."""
    runs = [json.loads(p.read_text()) for p in sorted(Path(folder).glob(SPREAD_PATTERN))]
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for comparison, block in run["auc"].items():
            for method, auc in block.items():
                values.setdefault(comparison, {}).setdefault(method, []).append(auc)
    return {c: {m: {"mean": float(np.mean(v)), "min": float(min(v)), "max": float(max(v)), "seeds": len(v)}
                for m, v in block.items()} for c, block in values.items()}  # fmt: skip


def spread_cell(spread: dict[str, float] | None) -> str:
    """'mean [min, max] (k seeds)', or '' where nothing was recorded."""
    if not spread:
        return ""
    k = spread["seeds"]
    return f"{spread['mean']:.3f} [{spread['min']:.3f}, {spread['max']:.3f}] ({k} seed{'s' if k != 1 else ''})"


def spread_table(this_run: dict[str, dict[str, float]], spread: dict[str, dict[str, float]]) -> str:
    """A Markdown table, per method recorded over GAN seeds: this run's AUC [95% CI] beside the
    mean [min, max] over seeds (``spread``: one comparison of :func:`headline_spread`); '' if none."""
    rows = [{"method": m, "this run": fmt_ci(r), "over GAN seeds: mean [min, max]": spread_cell(spread[m])}
            for m, r in this_run.items() if m in spread]  # fmt: skip
    return markdown_table(rows, ["method", "this run", "over GAN seeds: mean [min, max]"]) if rows else ""
