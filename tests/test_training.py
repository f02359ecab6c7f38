from dataclasses import replace

import numpy as np
import pytest
import torch

from anogan_core import training
from anogan_core.models import Discriminator, Generator
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


@pytest.mark.parametrize("resize_conv", [False, True])
def test_the_loop_equals_the_textbook_dcgan_step(tmp_path, resize_conv):
    """Our loop (channels_last, D's weight gradients skipped in G's step, logging) gives the
    same weights, bit for bit, as the plain pytorch/examples step with the same seeds, data
    order and z draws (the order of the seeded generators is training.py's)."""
    s = _settings(epochs=1, resize_conv=resize_conv)
    G_ours, D_ours, _ = train_dcgan(_patches(), s, tmp_path, progress=False)

    torch.manual_seed(s.seed)
    G, D = Generator(s.z_dim, s.width, resize_conv), Discriminator(s.width)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=s.lr_g, betas=(s.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=s.lr_d, betas=(s.beta1, 0.999))
    data = torch.from_numpy(_patches()).float() / 127.5 - 1
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(s.seed))
    z_gen = torch.Generator().manual_seed(s.seed)
    ones, zeros = torch.ones(s.batch_size), torch.zeros(s.batch_size)
    for i in range(len(data) // s.batch_size):
        real = data[perm[i * s.batch_size : (i + 1) * s.batch_size]].unsqueeze(1)
        fake = G(torch.rand(s.batch_size, s.z_dim, generator=z_gen) * 2 - 1)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        loss_d = bce(D(real)[0], ones) + bce(D(fake.detach())[0], zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(D(fake)[0], ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
    assert all(torch.equal(x, y) for x, y in zip(_weights(G_ours, D_ours), _weights(G, D)))
    assert all(p.requires_grad for p in D_ours.parameters())  # D is handed back trainable


@pytest.mark.parametrize("spectral_norm", [False, True])
def test_resuming_equals_continuing(tmp_path, spectral_norm):
    settings = _settings(spectral_norm=spectral_norm)
    full = train_dcgan(_patches(), settings, tmp_path / "full", progress=False)
    # stop mid-epoch (step 5 of 8), then start again: resumes from the checkpoint
    train_dcgan(_patches(), replace(settings, stop_after_steps=5), tmp_path / "cut", progress=False)
    resumed = train_dcgan(_patches(), settings, tmp_path / "cut", progress=False)
    assert all(torch.equal(x, y) for x, y in zip(_weights(*full[:2]), _weights(*resumed[:2])))
    # D's state includes spectral norm's power-iteration vectors, which the checkpoint carries too
    assert all(torch.equal(x, y) for x, y in zip(full[1].state_dict().values(), resumed[1].state_dict().values()))
    G, D, history, samples = load_dcgan(tmp_path / "cut")
    assert samples.shape == (2, 16, 64, 64) and len(history) == len(full[2])
    assert D.spectral_norm is spectral_norm  # the checkpoint says which D it holds
    x = torch.rand(4, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(D(x)[0], resumed[1].eval()(x)[0])  # channels-last there: float rounding


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
