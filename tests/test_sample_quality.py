from dataclasses import astuple

import numpy as np
import pytest

from anogan_core.sample_quality import checkerboard_amplitude, speckle_statistics


def test_known_patterns():
    i, j = np.mgrid[:64, :64]
    checkerboard = (-1.0) ** (i + j)
    vertical_stripes = (-1.0) ** j * 0.25
    ramp = np.linspace(-1, 1, 64)[None, :] * np.ones((64, 1))
    assert checkerboard_amplitude(checkerboard[None]) == pytest.approx((1.0, 1.0))
    assert checkerboard_amplitude(vertical_stripes[None]) == pytest.approx((0.25, 0.0))
    # a ramp alternates only by its step: |sum_j (-1)^j (2j/63 - 1)| / 64 = 32 * (2/63) / 64
    assert checkerboard_amplitude(ramp[None]) == pytest.approx((1 / 63, 0.0))


def test_noise_floor_and_bad_shape():
    noise = np.random.default_rng(0).normal(0, 1, (200, 64, 64))
    across_columns, across_rows = checkerboard_amplitude(noise)
    floor = np.sqrt(2 / np.pi) / 8  # E|mean of 64 N(0, 1)|
    assert across_columns == pytest.approx(floor, rel=0.05) and across_rows == pytest.approx(floor, rel=0.05)
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        checkerboard_amplitude(noise[0])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        speckle_statistics(noise[0])


@pytest.mark.parametrize("window", [5, 7])
def test_speckle_of_independent_pixels(window):
    # r = x - (box mean of w^2 pixels): Var r = s^2 (1 - 1/w^2); neighbours share w(w - 1) pixels of
    # their boxes, so Cov = s^2 (-2/w^2 + w(w - 1)/w^4) and the correlation is -1 / (w (w - 1))
    s, w = 2.0, window
    stats = speckle_statistics(np.random.default_rng(0).normal(0, s, (400, 64, 64)), window)
    assert stats.contrast == pytest.approx(s * np.sqrt(1 - 1 / w**2), rel=0.005)
    assert stats.correlation_across_columns == pytest.approx(-1 / (w * (w - 1)), abs=0.004)
    assert stats.correlation_down_rows == pytest.approx(-1 / (w * (w - 1)), abs=0.004)


def test_speckle_ignores_layers_that_are_linear_and_sees_grain_direction():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.1, (50, 64, 64))
    i, j = np.mgrid[:64, :64]
    stats = speckle_statistics(noise)
    # the box mean of a linear ramp is its centre value: the residual, so every statistic, is unchanged
    assert astuple(speckle_statistics(noise + 0.03 * i - 0.02 * j + 0.5)) == pytest.approx(astuple(stats))
    swapped = speckle_statistics(noise.transpose(0, 2, 1))
    assert swapped.correlation_across_columns == pytest.approx(stats.correlation_down_rows)
    assert swapped.correlation_down_rows == pytest.approx(stats.correlation_across_columns)
    # grains two pixels tall: half the pairs down a column are the same value (raw correlation 1/2,
    # a little less once the shared local mean is removed); across columns pixels stay independent
    tall = speckle_statistics(np.repeat(rng.normal(0, 1, (200, 32, 64)), 2, axis=1))
    assert 0.4 < tall.correlation_down_rows < 0.5
    assert tall.correlation_across_columns < 0


def test_speckle_rejects_what_it_cannot_measure():
    with pytest.raises(ValueError, match="window must be an odd number"):
        speckle_statistics(np.zeros((1, 64, 64)), window=6)
    with pytest.raises(ValueError, match="too small"):
        speckle_statistics(np.zeros((1, 7, 7)))
    i, j = np.mgrid[:64, :64]
    for flat in (np.zeros((2, 64, 64)), np.ones((2, 64, 64)), (0.01 * i + 0.003 * j)[None]):
        with pytest.raises(ValueError, match="no speckle"):
            speckle_statistics(flat)
