import numpy as np
import pytest
import torch

from anogan_core import training
from anogan_core.training import TrainingError, TrainSettings, load_dcgan, train_dcgan


def _patches(n=128, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, 64, dtype=np.float32)[:, None] * np.ones((1, 64), np.float32)
    return np.clip(base[None] + rng.normal(0, 10, (n, 64, 64)), 0, 255).astype(np.uint8)


def _settings(**kw):
    return TrainSettings(**{"width": 4, "z_dim": 8, "epochs": 2, "batch_size": 16, "seed": 0, **kw})


def _weights(G, D):
    return [p.detach().clone() for p in [*G.parameters(), *D.parameters()]]


@pytest.mark.parametrize("resize_conv", [False, True])
def test_two_seeded_runs_give_identical_weights(tmp_path, resize_conv):
    a = train_dcgan(_patches(), _settings(resize_conv=resize_conv), tmp_path / "a", progress=False)
    b = train_dcgan(_patches(), _settings(resize_conv=resize_conv), tmp_path / "b", progress=False)
    assert all(torch.equal(x, y) for x, y in zip(_weights(*a[:2]), _weights(*b[:2])))
    G, _, _, _ = load_dcgan(tmp_path / "a")  # the checkpoint says which upsampling G has
    assert G.resize_conv is resize_conv and all(torch.equal(x, y) for x, y in zip(G.parameters(), a[0].parameters()))


def test_resuming_equals_continuing(tmp_path):
    full = train_dcgan(_patches(), _settings(), tmp_path / "full", progress=False)
    # stop mid-epoch (step 5 of 8), then start again: resumes from the checkpoint
    train_dcgan(_patches(), _settings(stop_after_steps=5), tmp_path / "cut", progress=False)
    resumed = train_dcgan(_patches(), _settings(), tmp_path / "cut", progress=False)
    assert all(torch.equal(x, y) for x, y in zip(_weights(*full[:2]), _weights(*resumed[:2])))
    G, D, history, samples = load_dcgan(tmp_path / "cut")
    assert samples.shape == (2, 16, 64, 64) and len(history) == len(full[2])


def test_a_few_steps_move_d_loss_down(tmp_path):
    # with G's learning rate at zero, D only has to learn to tell fixed fakes from reals
    _, _, history = train_dcgan(_patches(256), _settings(epochs=3, lr_g=0.0), tmp_path, progress=False)
    assert history[-1]["loss_d"] < history[0]["loss_d"] - 0.2
    assert history[-1]["d_real"] > history[-1]["d_fake"]


def test_non_finite_loss_stops_with_a_clear_message(tmp_path, monkeypatch):
    real_bce = training.F.binary_cross_entropy_with_logits

    def broken(logits, target, **kw):
        return real_bce(logits, target, **kw) * float("nan")

    monkeypatch.setattr(training.F, "binary_cross_entropy_with_logits", broken)
    with pytest.raises(TrainingError, match=r"discriminator loss became nan at epoch 1.*lower the learning rates"):
        train_dcgan(_patches(), _settings(), tmp_path, progress=False)


def test_too_few_patches_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_dcgan(_patches(8), _settings(), tmp_path, progress=False)
