import numpy as np
import pytest

from anogan_core.anomaly_maps import pixel_metrics, stitch, window_positions
from anogan_core.phantom import make_scan
from anogan_core.preprocess import FLAT_RPE_ROW, preprocess_scan, retina_mask


def test_stitch_averages_overlaps():
    values = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 3.0)])
    out = stitch(values, np.array([[0, 0], [0, 1]]), (2, 4))
    assert out[0].tolist()[:3] == [1.0, 2.0, 3.0]
    assert np.isnan(out[0, 3])


def test_pixel_metrics_known_answers():
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    perfect = mask.astype(float)
    m = pixel_metrics(perfect, mask)
    assert m["pixel_auroc"] == 1.0 and m["best_dice"] == pytest.approx(1.0)
    inverted = pixel_metrics(1 - perfect, mask)
    assert inverted["pixel_auroc"] == 0.0
    heat = perfect.copy()
    heat[0, 0] = np.nan  # pixels without a value are left out
    assert pixel_metrics(heat, mask)["pixel_auroc"] == 1.0
    with pytest.raises(ValueError, match="both fluid and non-fluid"):
        pixel_metrics(perfect, np.zeros((4, 4), bool))


def test_windows_cover_the_retina_with_valid_pixels():
    s = make_scan(np.random.default_rng(0), cols=512)
    f = preprocess_scan(s.image, s.width_mm, 22.0)
    pos = window_positions(f, 64, 16)
    assert len(pos) > 10
    assert all(f.valid[r : r + 64, c : c + 64].all() for r, c in pos)
    assert pos[:, 1].min() == 0 and pos[:, 1].max() == f.image.shape[1] - 64


def test_retina_windows_hold_only_retina_and_cover_thick_retina():
    s = make_scan(np.random.default_rng(0), diseased=True, cols=512)
    f = preprocess_scan(s.image, s.width_mm, 22.0)
    pos = window_positions(f, 64, 16, region="retina")
    inside = retina_mask(f)
    assert len(pos) > 5 and all(inside[r : r + 64, c : c + 64].all() for r, c in pos)
    covered = np.zeros(f.image.shape, bool)
    for r, c in pos:
        covered[r : r + 64, c : c + 64] = True
    thick = np.flatnonzero(FLAT_RPE_ROW + 1 - np.ceil(f.top) >= 64 + 16)  # columns of retina thicker than a window
    assert covered[:, thick].any(axis=0).mean() > 0.9


def test_bscan_map_equals_stitched_windows_mapped_alone():
    import torch

    from anogan_core.anomaly_maps import bscan_anomaly_map
    from anogan_core.mapping import map_to_latent
    from anogan_core.models import Discriminator, Generator
    from anogan_core.patches import decode, encode

    torch.manual_seed(0)
    G, D = Generator(8, 4).eval(), Discriminator(4).eval()
    s = make_scan(np.random.default_rng(0), cols=512)
    f = preprocess_scan(s.image, s.width_mm, 22.0)
    heat, n = bscan_anomaly_map(G, D, f, 32, steps=2, seed=1)
    pos = window_positions(f, 64, 32)
    assert n == len(pos) and heat.shape == f.image.shape
    windows = decode(encode(np.stack([f.image[r : r + 64, c : c + 64] for r, c in pos])))
    alone = map_to_latent(G, D, windows, steps=2, seed=1, chunk=1, progress=False)
    assert np.allclose(heat, stitch(alone.residual_image, pos, f.image.shape), atol=1e-4, equal_nan=True)


def test_encoder_map_equals_stitched_windows_scored_alone():
    import torch

    from anogan_core.anomaly_maps import bscan_encoder_map
    from anogan_core.encoder import Encoder, encode_and_score
    from anogan_core.models import Discriminator, Generator
    from anogan_core.patches import decode, encode

    torch.manual_seed(0)
    E, G, D = Encoder(8, 4).eval(), Generator(8, 4).eval(), Discriminator(4).eval()
    s = make_scan(np.random.default_rng(0), cols=512)
    f = preprocess_scan(s.image, s.width_mm, 22.0)
    heat, n = bscan_encoder_map(E, G, D, f, 32, sigma=1.0)
    pos = window_positions(f, 64, 32)
    assert n == len(pos)
    windows = decode(encode(np.stack([f.image[r : r + 64, c : c + 64] for r, c in pos])))
    alone = encode_and_score(E, G, D, windows, sigma=1.0, chunk=1)
    assert np.allclose(heat, stitch(alone.residual_image, pos, f.image.shape), atol=1e-5, equal_nan=True)
