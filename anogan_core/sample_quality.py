"""How far generated patches show the checkerboard of strided transposed convolutions.

A 5x5 kernel with stride 2 (Section 3's generator) overlaps unevenly on the output
grid, which leaves a period-2 pattern (Odena et al., "Deconvolution and checkerboard
artifacts", Distill 2016). Its strength is the amplitude of the highest spatial
frequency: for each row, |mean_j (-1)^j x[i, j]| (across columns, vertical stripes),
and the same down each column (across rows, horizontal stripes). A perfect +-1
checkerboard has amplitude 1 both ways; Gaussian speckle of deviation sigma alone
leaves a floor of sqrt(2 / pi) * sigma / 8 over 64 pixels, so generated patches are
judged against real ones.
"""

from __future__ import annotations

import numpy as np


def checkerboard_amplitude(images: np.ndarray) -> tuple[float, float]:
    """Mean period-2 amplitude of images (N, H, W) across columns and across rows."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W); got {x.shape}")
    across_columns = np.abs((x * (-1.0) ** np.arange(x.shape[2])).mean(axis=2)).mean()
    across_rows = np.abs((x * (-1.0) ** np.arange(x.shape[1])[:, None]).mean(axis=1)).mean()
    return float(across_columns), float(across_rows)
