"""Scores with a meaning, chosen without test labels: a threshold at a stated false-positive rate.

A scan's score (the mean A(x) of its top quarter of windows) is a sum over 64x64 pixels with no
scale of its own. The model's held-out healthy scans fix one: the threshold is the score that a
stated share of them (``fpr``, 5% by default) exceed, so a healthy scan is called anomalous at about
that rate; and, as anomalib does, scores are normalised so that the threshold sits at 0.5,

    n(s) = clip(0.5 + (s - threshold) / (high - low), 0, 1)

with ``low`` and ``high`` the lowest and highest healthy calibration score. The same scans fix the
colour scale of every anomaly map of the model (0 to the 99th percentile of their residual maps), so
a healthy scan's map looks as cool as it is. Which scans: the validation split's healthy scans
(held-out training patients, never a test scan) on the public data, and fresh phantom scans from a
seed no run trains or tests on for the phantom; the same-scanner and folder datasets hold none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .config import Config, resolve_data_dir
from .datasets import Scan, load_scans, phantom_scans

DEFAULT_FPR = 0.05
HEAT_PERCENTILE = 99.0
PHANTOM_SEED = 202  # fresh healthy phantom scans: runs draw from seeds 0.., the CLI's examples from 101
PHANTOM_SCANS = 20


class CalibrationError(ValueError):
    """No held-out healthy scans to calibrate on, or a rate out of range."""


@dataclass(frozen=True)
class Calibration:
    """A threshold and a normalisation of scan scores, and the colour scale of anomaly maps."""

    threshold: float
    low: float
    high: float
    heat_max: float
    fpr: float
    n_scans: int
    source: str

    def normalise(self, scores: np.ndarray | float) -> np.ndarray:
        """0.5 at the threshold, clipped to [0, 1]."""
        span = max(self.high - self.low, 1e-12)
        return np.clip(0.5 + (np.asarray(scores, float) - self.threshold) / span, 0.0, 1.0)

    def label(self, scores: np.ndarray | float) -> np.ndarray:
        """'anomalous' above the threshold, else 'normal'."""
        return np.where(np.asarray(scores, float) > self.threshold, "anomalous", "normal")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def calibrate(scan_scores: np.ndarray, fpr: float, source: str, heat_values: np.ndarray | None = None) -> Calibration:
    """The calibration of healthy scans' scores: the threshold that ``fpr`` of them exceed, and the
    colour scale of their anomaly maps' values ``heat_values`` (NaN without them)."""
    if not 0.0 < fpr < 1.0:
        raise CalibrationError(f"fpr (false-positive rate) must lie in (0, 1), got {fpr}")
    scores = np.asarray(scan_scores, float)
    if len(scores) < 2:
        raise CalibrationError(f"need at least 2 healthy scans to calibrate on, got {len(scores)}")
    threshold = float(np.quantile(scores, 1.0 - fpr, method="higher"))
    heat = np.asarray([] if heat_values is None else heat_values, float)
    heat = heat[np.isfinite(heat)]
    heat_max = float(np.percentile(heat, HEAT_PERCENTILE)) if len(heat) else float("nan")
    return Calibration(threshold, float(scores.min()), float(scores.max()), heat_max, fpr, len(scores), source)


def calibration_scans(
    cfg: Config, data_dir: str | None = None, n_phantom: int = PHANTOM_SCANS
) -> tuple[list[Scan], str]:
    """(held-out healthy scans of the model's dataset, where they come from); ``data_dir`` is the
    public data's folder (default ``$ANOGAN_DATA`` or ``data/oct``)."""
    if cfg.dataset == "synthetic":
        _, test = phantom_scans(PHANTOM_SEED, 1, n_phantom)
        return [s for s in test if s.healthy], f"{n_phantom} fresh healthy phantom scans (seed {PHANTOM_SEED})"
    if cfg.dataset == "oct":
        folder = resolve_data_dir(cfg.dataset, data_dir)
        _, test = load_scans(cfg.dataset, folder, cfg.seed, cfg.n_train_scans, cfg.n_test_scans, 1)
        held_out = [s for s in test if s.split == "validation" and s.source == "kermany" and s.healthy]
        return held_out, "validation split: healthy Kermany scans of held-out training patients"
    raise CalibrationError(
        f"dataset {cfg.dataset!r} holds no held-out healthy B-scans to calibrate on (oct and synthetic do)"
    )
