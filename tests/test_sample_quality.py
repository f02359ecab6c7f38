import numpy as np
import pytest

from anogan_core.sample_quality import checkerboard_amplitude


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
