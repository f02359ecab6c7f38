import numpy as np

from anogan_core.phantom import ROWS, make_scan, make_scans


def test_deterministic_and_sized():
    a, b = make_scans(2, seed=3), make_scans(2, seed=3)
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b))
    assert a[0].image.shape[0] == ROWS and a[0].image.shape[1] in (512, 768)
    assert a[0].image.dtype == np.uint8
    assert not np.array_equal(make_scans(1, seed=4)[0].image, a[0].image)


def test_healthy_scans_hold_no_fluid():
    for s in make_scans(3, seed=0):
        assert not s.fluid.any() and not s.diseased


def test_geometry_and_masks_are_consistent():
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = make_scan(rng, diseased=True, foci=True)
        thickness = s.bottom - s.top
        assert thickness.min() > 25 and thickness.max() < 160
        assert s.fluid.any() and s.foci.any()
        rows = np.arange(ROWS)[:, None]
        inside = (rows >= s.top[None, :] - 1) & (rows <= s.bottom[None, :] + 1)
        assert inside[s.fluid].all(), "fluid lies inside the retina"
        # fluid is dark, foci are bright, relative to the retina around them
        retina = inside & ~s.fluid & ~s.foci
        assert s.image[s.fluid].mean() < s.image[retina].mean() - 30
        assert s.image[s.foci].mean() > s.image[retina].mean() + 30
