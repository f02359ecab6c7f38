"""Pixel-level anomaly maps (Section 2.3: the residual image x_R = |x - G(z_Gamma)|).

Beyond the paper: whole-B-scan maps stitched from overlapping patch residuals
(a sliding window; overlaps are averaged) and their pixel-level evaluation
against fluid masks (pixel AUROC, best Dice over thresholds).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from .encoder import Encoder, encode_and_score
from .mapping import map_to_latent
from .models import Discriminator, Generator
from .patches import decode, encode
from .preprocess import FLAT_RPE_ROW, FlatScan


def _grid(first: int, last: int, stride: int) -> list[int]:
    """first, first + stride, ... and last itself (empty when last < first)."""
    if last < first:
        return []
    out = list(range(first, last + 1, stride))
    return out if out[-1] == last else [*out, last]


def window_positions(flat: FlatScan, size: int = 64, stride: int = 16, region: str = "window") -> np.ndarray:
    """(row, col) corners of a window grid covering the retina of a flattened scan,
    keeping windows whose pixels are all valid.

    ``region`` matches the patches the model was trained on (:func:`patches.sample_positions`):
    'window' lays one row grid from 8 rows above the highest ILM to 8 rows below the RPE;
    'retina' lays, for each column of windows, a row grid from the ILM to the bottom of the
    RPE, so that no window holds vitreous or choroid (and none is taken where the retina is
    thinner than a window).
    """
    rows, cols = flat.image.shape
    c_list = _grid(0, cols - size, stride)
    if region == "retina":
        out = [
            (r, c)
            for c in c_list
            for r in _grid(int(np.ceil(flat.top[c : c + size].max())), FLAT_RPE_ROW + 1 - size, stride)
        ]
    else:
        top = int(max(0, np.floor(np.nanmin(flat.top)) - 8))
        r_list = _grid(top, max(top, min(rows - size, FLAT_RPE_ROW + 8 - size)), stride)
        out = [(r, c) for r in r_list for c in c_list]
    out = [(r, c) for r, c in out if flat.valid[r : r + size, c : c + size].all()]
    return np.array(out, dtype=np.int32).reshape(-1, 2)


def stitch(values: np.ndarray, positions: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Average of overlapping (N, c, c) patch maps at ``positions``; NaN where none falls."""
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(shape, dtype=np.int32)
    size = values.shape[-1]
    for v, (r, c) in zip(values, positions):
        total[r : r + size, c : c + size] += v
        count[r : r + size, c : c + size] += 1
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def pixel_metrics(heat: np.ndarray, mask: np.ndarray, n_thresholds: int = 101) -> dict[str, float]:
    """Pixel AUROC and the best Dice (with its threshold) over the finite pixels of ``heat``."""
    keep = np.isfinite(heat)
    h, m = heat[keep].astype(np.float64), mask[keep].astype(bool)
    if m.all() or not m.any():
        raise ValueError("pixel metrics need both fluid and non-fluid pixels")
    thresholds = np.quantile(h, np.linspace(0, 1, n_thresholds))
    dices = [2 * np.sum((h >= t) & m) / (np.sum(h >= t) + m.sum()) for t in thresholds]
    best = int(np.argmax(dices))
    return {
        "pixel_auroc": float(roc_auc_score(m, h)),
        "best_dice": float(dices[best]),
        "dice_threshold": float(thresholds[best]),
    }


def bscan_anomaly_map(
    G: Generator, D: Discriminator, flat: FlatScan, stride: int = 16, region: str = "window", **mapping: object
) -> tuple[np.ndarray, int]:
    """(stitched residual map of a flattened scan, number of windows).

    All windows of the scan (:func:`window_positions` in ``region``) are mapped in one batched
    call of :func:`map_to_latent` (``mapping`` passes its settings: steps, lam, lr, clamp, chunk,
    seed, starts, sigma). Windows are quantised like the test patches (uint8) before mapping.
    """
    pos = window_positions(flat, 64, stride, region)
    windows = np.stack([flat.image[r : r + 64, c : c + 64] for r, c in pos])
    out = map_to_latent(G, D, decode(encode(windows)), progress=False, **mapping)
    return stitch(out.residual_image, pos, flat.image.shape), len(pos)


def bscan_encoder_map(
    E: Encoder,
    G: Generator,
    D: Discriminator,
    flat: FlatScan,
    stride: int = 16,
    region: str = "window",
    kappa: float = 1.0,
    sigma: float = 0.0,
) -> tuple[np.ndarray, int]:
    """:func:`bscan_anomaly_map` with the izi_f encoder (:mod:`encoder`, beyond the paper) in place of
    the iterative mapping: one forward pass per window."""  # fmt: skip
    pos = window_positions(flat, 64, stride, region)
    windows = np.stack([flat.image[r : r + 64, c : c + 64] for r, c in pos])
    out = encode_and_score(E, G, D, decode(encode(windows)), kappa, sigma)
    return stitch(out.residual_image, pos, flat.image.shape), len(pos)
