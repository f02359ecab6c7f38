import numpy as np
import torch

from anogan_core.baselines import (
    AdversarialAutoencoder,
    acae_scores,
    discriminator_features,
    discriminator_score,
    floor_scores,
    train_acae,
)
from anogan_core.models import Discriminator


def test_acae_trains_resumes_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 255, (64, 64, 64), dtype=np.uint8)
    model = train_acae(patches, 4, 8, 1, 16, 2e-4, 0, tmp_path, progress=False)
    again = train_acae(patches, 4, 8, 1, 16, 2e-4, 0, tmp_path, progress=False)  # already done: loads
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    x = torch.rand(5, 1, 64, 64) * 2 - 1
    s = acae_scores(model, x, lam=0.1, chunk=2)
    assert s["reconstruction"].shape == (5, 64, 64)
    assert np.allclose(s["anomaly"], 0.9 * s["residual"] + 0.1 * s["discrimination"])
    code, _ = AdversarialAutoencoder(8, 4).encode(x)
    assert code.abs().max() <= 1


def test_p_d_and_features():
    D = Discriminator(4).eval()
    x = torch.rand(7, 1, 64, 64) * 2 - 1
    p = discriminator_score(D, x, chunk=3)
    with torch.no_grad():
        expected = 1 - torch.sigmoid(D(x)[0]).numpy()
    assert np.allclose(p, expected, atol=1e-6)
    assert discriminator_features(D, x, chunk=3).shape == (7, 32 * 16)


def test_floor_scores_direction():
    dark = np.full((1, 64, 64), 20, np.uint8)
    bright = np.full((1, 64, 64), 200, np.uint8)
    s = floor_scores(np.concatenate([dark, bright]))
    assert s["darkness (-mean)"][0] > s["darkness (-mean)"][1]
