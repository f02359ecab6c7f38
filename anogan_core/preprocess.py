"""Preprocessing of Section 3: normalisation, lateral resampling, retina flattening.

The paper normalises grey values to [-1, 1], resizes each B-scan laterally to
~22 um per column (about 256 columns for a 6 mm scan), finds the top (ILM) and
bottom (RPE) boundaries of the retina with a graph-based layer segmentation and
flattens the retina. Here each boundary is a minimum-cost path through the image
found by dynamic programming (one row per column, at most ``max_step`` rows of
change between neighbouring columns), a standard graph-search segmentation.

Flattening shifts every column so that the bottom of the RPE lies on one row,
``FLAT_RPE_ROW``, of an image ``FLAT_ROWS`` tall. The axial scale is kept (no
vertical stretching), so a 64-row patch always covers ~250 um, about the
thickness of a healthy retina, and fluid-thickened retinas stay thick.

Beyond the paper (``despeckle`` > 1): a median filter of ``despeckle`` x ``despeckle``
pixels (``scipy.ndimage.median_filter``) over the resampled scan before flattening,
so that the model of normal appearance and its queries see tissue without most of
its speckle. The boundaries are detected on the unfiltered scan either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import gaussian_filter, map_coordinates, maximum_filter, median_filter, uniform_filter1d

if TYPE_CHECKING:
    from .datasets import Scan

FLAT_ROWS = 192
FLAT_RPE_ROW = 168  # rows above: ~650 um of retina room; rows below: choroid
SATURATED = 250  # export padding is saturated white
MIN_THICKNESS = 25  # rows; a retina thinner than ~100 um is a detection failure


class PreprocessError(ValueError):
    """A scan that cannot be preprocessed (no detectable retina, bad mask)."""


@dataclass
class FlatScan:
    """A resampled, flattened B-scan in [-1, 1] and everything that followed it."""

    image: np.ndarray  # (FLAT_ROWS, cols) float32 in [-1, 1]
    valid: np.ndarray  # (FLAT_ROWS, cols) bool: real pixels, graded, not padding
    fluid: np.ndarray | None  # (FLAT_ROWS, cols) bool or None when not annotated
    foci: np.ndarray | None
    top: np.ndarray  # (cols,) ILM row in the flattened image
    raw_top: np.ndarray  # (cols,) detected ILM row in the resampled scan
    raw_bottom: np.ndarray  # (cols,) detected RPE row in the resampled scan
    resampled: np.ndarray  # (rows, cols) the resampled scan in [-1, 1], for figures


def normalize(image: np.ndarray) -> np.ndarray:
    """uint8 grey values to float32 in [-1, 1] (Section 3)."""
    if image.dtype != np.uint8:
        raise PreprocessError(f"expected a uint8 image, got {image.dtype}")
    return image.astype(np.float32) / 127.5 - 1.0


def padding_mask(image: np.ndarray) -> np.ndarray:
    """Saturated export padding: white runs that touch the first or last row.

    Spectralis exports in both public sets fill the area outside the acquired
    window with white wedges at the top or bottom of the frame.
    """
    sat = image >= SATURATED
    from_top = np.cumprod(sat, axis=0).astype(bool)
    from_bottom = np.cumprod(sat[::-1], axis=0)[::-1].astype(bool)
    # JPEG ringing leaves a few near-white pixels at the edge of a wedge: grow by 3
    return maximum_filter((from_top | from_bottom).astype(np.uint8), size=7).astype(bool)


def resample_width(array: np.ndarray, cols: int) -> np.ndarray:
    """Resize the column axis to ``cols`` columns by linear interpolation (rows unchanged)."""
    return array.astype(np.float32) @ _interpolation_matrix(array.shape[1], cols)


@lru_cache(maxsize=32)
def _interpolation_matrix(src: int, cols: int) -> np.ndarray:
    """(src, cols) weights of linear interpolation at pixel centres, edges clamped."""
    x = np.clip((np.arange(cols) + 0.5) * src / cols - 0.5, 0, src - 1)
    left = np.floor(x).astype(int)
    right = np.minimum(left + 1, src - 1)
    frac = (x - left).astype(np.float32)
    weights = np.zeros((src, cols), np.float32)
    np.add.at(weights, (left, np.arange(cols)), 1 - frac)
    np.add.at(weights, (right, np.arange(cols)), frac)
    return weights


def target_columns(width_mm: float, column_um: float) -> int:
    """Columns after resampling to ``column_um`` per column (paper: 22 um)."""
    return max(64, int(round(width_mm * 1000.0 / column_um)))


def shortest_path(cost: np.ndarray, max_step: int = 2) -> np.ndarray:
    """Row per column of the left-to-right path of least total cost.

    Neighbouring columns differ by at most ``max_step`` rows. Exact dynamic
    programming over the (rows, cols) cost grid.
    """
    rows, cols = cost.shape
    acc = cost[:, 0].astype(np.float64)
    back = np.zeros((rows, cols), dtype=np.int32)
    idx = np.arange(rows)
    padded = np.full(rows + 2 * max_step, np.inf)
    window = sliding_window_view(padded, 2 * max_step + 1)  # (rows, 2 * max_step + 1), a view of padded
    for c in range(1, cols):
        padded[max_step : max_step + rows] = acc
        best = window.argmin(axis=1)
        back[:, c] = idx + best - max_step
        acc = window[idx, best] + cost[:, c]
    path = np.empty(cols, dtype=np.int32)
    path[-1] = int(np.argmin(acc))
    for c in range(cols - 1, 0, -1):
        path[c - 1] = back[path[c], c]
    return path


def detect_boundaries(image: np.ndarray, invalid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ILM (top) and bottom-of-RPE rows per column of a normalised B-scan.

    The bottom boundary is the *lowest* strong bright-to-dark transition: in
    edematous retinas the nerve-fibre layer or exudates can outshine the RPE, so
    "brightest row" fails, while the RPE stays the last bright band above the
    darker choroid. The top boundary is the first strong dark-to-bright edge at
    least ``MIN_THICKNESS`` rows above it.
    """
    img = (image + 1.0) / 2.0
    if invalid is not None and invalid.any():
        img = img.copy()
        img[invalid] = np.median(img[~invalid]) if (~invalid).any() else 0.0
    smooth = gaussian_filter(img, (2.5, 2.0))
    rows = smooth.shape[0]
    grad = np.zeros_like(smooth)
    grad[3:-3] = smooth[6:] - smooth[:-6]  # > 0: dark above, bright below
    # bright band above the edge, relative to each column's range
    lo = np.percentile(smooth, 5, axis=0, keepdims=True)
    hi = np.percentile(smooth, 99.5, axis=0, keepdims=True)
    level = (smooth - lo) / np.maximum(hi - lo, 1e-6)
    above = np.zeros_like(level)
    above[4:] = level[:-4]
    fall = np.clip(-grad, 0, None) * (above > 0.45)
    fall = fall / max(fall.max(), 1e-6)
    depth = np.arange(rows, dtype=np.float32)[:, None] / rows
    bottom = shortest_path(-(fall + 0.15 * depth * (fall > 0.15)), max_step=2)

    rise = np.clip(grad, 0, None)
    rise = rise / max(rise.max(), 1e-6)
    forbidden = np.arange(rows)[:, None] > (bottom[None, :] - MIN_THICKNESS)
    top_cost = -rise + 0.25 * depth
    top_cost[forbidden] = 10.0
    top = shortest_path(top_cost, max_step=3)
    if np.median(bottom - top) < MIN_THICKNESS:
        raise PreprocessError("no detectable retina: the boundaries are closer than ~100 um")
    return top.astype(np.float32), bottom.astype(np.float32)


def flatten(array: np.ndarray, bottom: np.ndarray, fill: float, order: int = 1) -> np.ndarray:
    """Shift each column so that ``bottom`` lands on ``FLAT_RPE_ROW``."""
    cols = array.shape[1]
    bottom = uniform_filter1d(bottom.astype(np.float64), 5, mode="nearest")
    rows_out = np.arange(FLAT_ROWS, dtype=float)[:, None]
    src_rows = rows_out - FLAT_RPE_ROW + bottom[None, :]
    src_cols = np.broadcast_to(np.arange(cols, dtype=float)[None, :], src_rows.shape)
    return map_coordinates(array.astype(np.float32), [src_rows, src_cols], order=order, mode="constant", cval=fill)


def preprocess_scan(
    image: np.ndarray,
    width_mm: float,
    column_um: float,
    fluid: np.ndarray | None = None,
    foci: np.ndarray | None = None,
    graded: np.ndarray | None = None,
    despeckle: int = 0,
) -> FlatScan:
    """Normalise, resample, segment and flatten one B-scan and its masks.

    ``graded`` marks the columns (of the raw scan) in which the annotation is
    valid; columns outside it are excluded from patch sampling. ``despeckle`` > 1
    median-filters the resampled scan before flattening (see the module docstring).
    """
    if despeckle < 0:
        raise PreprocessError(f"despeckle must be 0 (off) or a median window of 2 or more pixels, got {despeckle}")
    for name, mask in (("fluid mask", fluid), ("foci mask", foci)):
        if mask is not None and mask.shape != image.shape:
            raise PreprocessError(f"{name} of shape {mask.shape} does not match the image {image.shape}")
    cols = target_columns(width_mm, column_um)
    pad = padding_mask(image)
    norm = normalize(image)
    resampled = resample_width(norm, cols)
    invalid = resample_width(pad.astype(np.float32), cols) > 0.0
    top, bottom = detect_boundaries(resampled, invalid)
    background = float(np.median(resampled[~invalid])) if (~invalid).any() else -1.0
    source = np.where(invalid, background, resampled)
    if despeckle > 1:
        source = median_filter(source, size=despeckle, mode="nearest")
    flat = flatten(source, bottom, fill=background)
    valid = flatten((~invalid).astype(np.float32), bottom, fill=0.0) > 0.999
    if graded is not None:
        graded_cols = resample_width(graded.astype(np.float32)[None, :], cols)[0] > 0.999
        valid &= graded_cols[None, :]

    def follow(mask: np.ndarray | None) -> np.ndarray | None:
        # any fluid in the source stays fluid (linear interpolation > 0)
        if mask is None:
            return None
        return flatten(resample_width(mask.astype(np.float32), cols), bottom, fill=0.0) > 0.0

    smooth_bottom = uniform_filter1d(bottom.astype(np.float64), 5, mode="nearest")
    return FlatScan(
        image=np.clip(flat, -1, 1).astype(np.float32),
        valid=valid,
        fluid=follow(fluid),
        foci=follow(foci),
        top=(top - smooth_bottom + FLAT_RPE_ROW).astype(np.float32),
        raw_top=top,
        raw_bottom=bottom,
        resampled=resampled,
    )


def retina_mask(flat: FlatScan) -> np.ndarray:
    """Valid pixels between the ILM and the bottom of the RPE of a flattened scan."""
    rows = np.arange(flat.image.shape[0])[:, None]
    return flat.valid & (rows >= flat.top[None, :]) & (rows <= FLAT_RPE_ROW)


def prepare_scan(scan: Scan, column_um: float, despeckle: int = 0) -> FlatScan:
    """:func:`preprocess_scan` for a :class:`datasets.Scan` (its image, width and annotations); errors
    name the scan."""
    try:
        return preprocess_scan(scan.image, scan.width_mm, column_um, scan.fluid, scan.foci, scan.graded, despeckle)
    except PreprocessError as err:
        raise PreprocessError(f"{scan.source} scan {scan.name}: {err}") from err
