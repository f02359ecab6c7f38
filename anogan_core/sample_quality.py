"""How close generated patches come to real ones at the finest scales: checkerboard and speckle.

Checkerboard. A 5x5 kernel with stride 2 (Section 3's generator) overlaps unevenly on
the output grid, which leaves a period-2 pattern (Odena et al., "Deconvolution and
checkerboard artifacts", Distill 2016). Its strength is the amplitude of the highest
spatial frequency: for each row, |mean_j (-1)^j x[i, j]| (across columns, vertical
stripes), and the same down each column (across rows, horizontal stripes). A perfect
+-1 checkerboard has amplitude 1 both ways; Gaussian speckle of deviation sigma alone
leaves a floor of sqrt(2 / pi) * sigma / 8 over 64 pixels, so generated patches are
judged against real ones.

Speckle. OCT images are grainy: what remains of a patch after subtracting its local
mean (over a ``window`` x ``window`` box, which removes the layers, and any linear
ramp exactly) is speckle. Its contrast is that residual's standard deviation, its
grain size the residual's correlation between neighbouring pixels, across columns and
down rows. Independent pixels give -1 / (window (window - 1)), i.e. -1/42 for a 7x7
box (the shared local mean); grains longer than a pixel one way correlate more that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter


def _check_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W); got {x.shape}")
    return x


def checkerboard_amplitude(images: np.ndarray) -> tuple[float, float]:
    """Mean period-2 amplitude of images (N, H, W) across columns and across rows."""
    x = _check_images(images)
    across_columns = np.abs((x * (-1.0) ** np.arange(x.shape[2])).mean(axis=2)).mean()
    across_rows = np.abs((x * (-1.0) ** np.arange(x.shape[1])[:, None]).mean(axis=1)).mean()
    return float(across_columns), float(across_rows)


@dataclass(frozen=True)
class SpeckleStats:
    contrast: float  # standard deviation of x minus its local mean
    correlation_across_columns: float  # of that residual between pixels (i, j) and (i, j + 1)
    correlation_down_rows: float  # between (i, j) and (i + 1, j)


def speckle_statistics(images: np.ndarray, window: int = 7) -> SpeckleStats:
    """Speckle contrast and grain of images (N, H, W), from the residual x - local mean.

    Only pixels whose whole ``window`` x ``window`` box lies inside the image count, so
    the edges are never padded.
    """
    x = _check_images(images)
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd number of pixels, at least 3; got {window}")
    half = window // 2
    if min(x.shape[1:]) < window + 1:
        raise ValueError(f"images of {x.shape[1]}x{x.shape[2]} pixels are too small for a {window}x{window} window")
    residual = (x - uniform_filter(x, size=(1, window, window)))[:, half:-half, half:-half]
    variance = (residual**2).mean()
    if np.sqrt(variance) <= 1e-9 * np.abs(x).max():  # what is left is float rounding, not speckle
        raise ValueError("the images have no speckle: each is linear within every window (e.g. constant)")
    return SpeckleStats(
        contrast=float(np.sqrt(variance)),
        correlation_across_columns=float((residual[:, :, 1:] * residual[:, :, :-1]).mean() / variance),
        correlation_down_rows=float((residual[:, 1:] * residual[:, :-1]).mean() / variance),
    )
