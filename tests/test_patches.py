import numpy as np
import pytest

from anogan_core.patches import PatchSet, decode, encode, extract_patches
from anogan_core.phantom import make_scans
from anogan_core.preprocess import FLAT_RPE_ROW, preprocess_scan


def _flats(diseased=False):
    scans = make_scans(2, 0, diseased=diseased)
    return [preprocess_scan(s.image, s.width_mm, 22.0, fluid=s.fluid, foci=s.foci) for s in scans]


def test_encode_decode_roundtrip():
    x = np.linspace(-1, 1, 64 * 64).reshape(1, 64, 64)
    back = decode(encode(x)).numpy()[:, 0]
    assert back.shape == (1, 64, 64) and np.abs(back - x).max() <= 1 / 127.5 + 1e-6


def test_same_seed_same_patches_and_patches_inside_retina():
    flats = _flats()
    info = [{"name": str(i), "patient": str(i), "label": "NORMAL", "source": "phantom"} for i in range(2)]
    a = extract_patches(flats, info, 20, seed=5)
    b = extract_patches(flats, info, 20, seed=5)
    c = extract_patches(flats, info, 20, seed=6)
    assert np.array_equal(a.x, b.x) and np.array_equal(a.pos, b.pos)
    assert not np.array_equal(a.pos, c.pos)
    assert len(a) == 40
    for (r, col), s in zip(a.pos, a.scan):
        top = flats[s].top[col : col + 64]
        rows = np.arange(r, r + 64)[:, None]
        retina = (rows >= top[None, :]) & (rows <= FLAT_RPE_ROW)
        assert retina.mean() >= 0.5


def test_retina_patches_hold_neither_vitreous_nor_choroid():
    flats = _flats(diseased=True)
    info = [{"name": str(i), "patient": str(i), "label": "FLUID", "source": "phantom"} for i in range(2)]
    window = extract_patches(flats, info, 40, seed=1)
    retina = extract_patches(flats, info, 40, seed=1, region="retina")
    assert len(retina) == 80

    def outside(ps):
        counts = []
        for (r, col), s in zip(ps.pos, ps.scan):
            rows = np.arange(r, r + 64)[:, None]
            top = flats[s].top[col : col + 64][None, :]
            counts.append(int(((rows < top) | (rows > FLAT_RPE_ROW)).sum()))
        return np.array(counts)

    assert outside(retina).max() == 0
    assert (outside(window) > 0).mean() > 0.5  # most window patches reach beyond the retina
    with pytest.raises(ValueError, match="unknown patch region 'all'; allowed: window, retina"):
        extract_patches(flats, info, 4, seed=1, region="all")


def test_labels_follow_masks_and_roundtrip_on_disk(tmp_path):
    flats = _flats(diseased=True)
    info = [{"name": str(i), "patient": str(i), "label": "FLUID", "source": "phantom"} for i in range(2)]
    ps = extract_patches(flats, info, 30, seed=0, with_masks=True)
    assert np.array_equal(ps.label, ps.mask.reshape(len(ps), -1).any(1))
    assert ps.label.any()
    ps.save(tmp_path / "p")
    back = PatchSet.load(tmp_path / "p")
    assert np.array_equal(back.x, ps.x) and np.array_equal(back.mask, ps.mask)
    assert back.column("label").tolist() == ["FLUID"] * len(ps)
