import numpy as np
import pytest
from scipy.ndimage import median_filter

from anogan_core.phantom import make_scan, make_scans
from anogan_core.preprocess import (
    FLAT_RPE_ROW,
    PreprocessError,
    flatten,
    normalize,
    padding_mask,
    preprocess_scan,
    resample_width,
    retina_mask,
    shortest_path,
    target_columns,
)


def test_normalize_maps_uint8_to_minus_one_one():
    x = np.array([[0, 255]], np.uint8)
    assert np.allclose(normalize(x), [[-1, 1]])
    with pytest.raises(PreprocessError, match="uint8"):
        normalize(x.astype(float))


def test_shortest_path_known_answer():
    cost = np.ones((5, 4))
    cost[[1, 2, 3, 2], [0, 1, 2, 3]] = 0  # a cheap zig-zag
    assert shortest_path(cost, max_step=1).tolist() == [1, 2, 3, 2]
    # a jump of two rows is not allowed with max_step=1: the path has to pay for it
    cost = np.ones((5, 2))
    cost[0, 0] = cost[4, 1] = 0
    path = shortest_path(cost, max_step=1)
    assert abs(int(path[1]) - int(path[0])) <= 1


def test_padding_mask_finds_white_wedges():
    img = np.full((50, 20), 80, np.uint8)
    img[:5, :10] = 255
    img[45:, 15:] = 255
    img[20, 5] = 255  # a bright pixel inside the image is not padding
    mask = padding_mask(img)
    assert mask[:5, :10].all() and mask[45:, 15:].all()
    assert not mask[20, 5] and not mask[25, 3]


def test_target_columns_is_22_um():
    assert target_columns(6.0, 22.0) == 273
    assert target_columns(8.7, 22.0) == 395


def test_boundaries_match_phantom_truth_over_many_seeds():
    """Tolerance: mean absolute error <= 1.5 px (~6 um) per boundary and scan, and
    95% of columns within 4 px, over 24 healthy and diseased phantom scans."""
    means, p95 = [], []
    for seed in range(6):
        for s in make_scans(2, seed) + make_scans(2, seed, diseased=True):
            f = preprocess_scan(s.image, s.width_mm, 22.0, fluid=s.fluid)
            cols = len(f.raw_top)
            for detected, truth in ((f.raw_top, s.top), (f.raw_bottom, s.bottom)):
                err = np.abs(detected - resample_width(truth[None, :], cols)[0])
                means.append(err.mean())
                p95.append(np.quantile(err, 0.95))
    assert max(means) <= 1.5, max(means)
    assert max(p95) <= 4.0, max(p95)


def test_fluid_pixel_lands_at_the_transformed_place():
    s = make_scan(np.random.default_rng(1), diseased=True, cols=512)
    f = preprocess_scan(s.image, s.width_mm, 22.0, fluid=s.fluid)
    rows, cols = np.nonzero(s.fluid)
    k = len(rows) // 2
    r, c = rows[k], cols[k]
    new_c = int(round((c + 0.5) * len(f.raw_top) / s.image.shape[1] - 0.5))
    smooth_bottom = np.convolve(np.pad(f.raw_bottom, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    new_r = int(round(r - smooth_bottom[new_c] + FLAT_RPE_ROW))
    assert f.fluid[new_r - 1 : new_r + 2, new_c - 1 : new_c + 2].any()
    # the flattened mask holds about as much fluid as the raw one, rescaled by the width change
    ratio = f.fluid.sum() / (s.fluid.sum() * len(f.raw_top) / s.image.shape[1])
    assert 0.8 < ratio < 1.6


def test_bad_masks_and_empty_scans_are_refused():
    s = make_scan(np.random.default_rng(0), cols=512)
    with pytest.raises(PreprocessError, match="fluid mask of shape"):
        preprocess_scan(s.image, 6.0, 22.0, fluid=np.zeros((10, 10), bool))
    with pytest.raises(PreprocessError, match="no detectable retina"):
        preprocess_scan(np.full((496, 512), 20, np.uint8), 6.0, 22.0)


def test_flattening_puts_the_rpe_on_one_row():
    s = make_scan(np.random.default_rng(2), cols=512)
    f = preprocess_scan(s.image, s.width_mm, 22.0)
    # the brightest band (RPE) sits just above FLAT_RPE_ROW in every column
    profile = f.image[:, 20:-20].mean(axis=1)
    assert FLAT_RPE_ROW - 12 <= int(np.argmax(profile)) <= FLAT_RPE_ROW


def test_despeckle_is_scipys_median_filter_before_flattening_and_keeps_the_boundaries():
    s = make_scan(np.random.default_rng(3), cols=512)
    plain = preprocess_scan(s.image, s.width_mm, 22.0)
    filtered = preprocess_scan(s.image, s.width_mm, 22.0, despeckle=5)
    assert np.array_equal(plain.raw_top, filtered.raw_top) and np.array_equal(plain.raw_bottom, filtered.raw_bottom)
    # flattening the median-filtered scan; compared inside the retina, away from the edges
    expected = flatten(median_filter(plain.resampled, size=5, mode="nearest"), plain.raw_bottom, fill=-1.0)
    inner = retina_mask(plain)
    inner[:, :10] = inner[:, -10:] = False
    np.testing.assert_allclose(filtered.image[inner], np.clip(expected, -1, 1)[inner], atol=1e-5)

    def grain(img):  # mean absolute difference of vertical neighbours: speckle's fine scale
        return np.abs(np.diff(img, axis=0))[inner[1:] & inner[:-1]].mean()

    assert grain(filtered.image) < 0.5 * grain(plain.image)
    with pytest.raises(PreprocessError, match="despeckle must be 0"):
        preprocess_scan(s.image, s.width_mm, 22.0, despeckle=-3)
