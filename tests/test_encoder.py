import numpy as np
import pytest
import torch

from anogan_core.encoder import Encoder, EncoderSettings, encode_and_score, izif_terms, load_encoder, train_encoder
from anogan_core.models import Discriminator, Generator


def _nets(z_dim=8, width=4, seed=0):
    torch.manual_seed(seed)
    return Generator(z_dim, width).eval(), Discriminator(width).eval()


def test_izif_terms_are_mean_squared_errors():
    x, gz = torch.zeros(2, 1, 64, 64), torch.ones(2, 1, 64, 64)
    gz[1] = 0.5
    fx, fgz = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 2.0)
    residual, feature = izif_terms(x, gz, fx, fgz)
    assert residual.tolist() == [1.0, 0.25] and feature.tolist() == [4.0, 4.0]


def test_encoder_output_lies_in_the_prior_box():
    E = Encoder(8, 4).eval()
    z = E(torch.rand(5, 1, 64, 64) * 200 - 100)  # far outside [-1, 1]: tanh still bounds z
    assert z.shape == (5, 8) and z.abs().max() <= 1


def test_encode_and_score_equals_a_hand_computation():
    G, D = _nets()
    torch.manual_seed(1)
    E = Encoder(8, 4).eval()
    x = torch.rand(6, 1, 64, 64) * 2 - 1
    out = encode_and_score(E, G, D, x, kappa=0.7, chunk=4)
    with torch.no_grad():
        z = E(x)
        gz = G(z)
        r = ((x - gz) ** 2).mean(dim=(1, 2, 3))
        d = ((D(x)[1] - D(gz)[1]) ** 2).mean(dim=(1, 2, 3))
    np.testing.assert_allclose(out.z, z.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out.residual, r.numpy(), rtol=1e-4)
    np.testing.assert_allclose(out.feature, d.numpy(), rtol=1e-3, atol=1e-7)
    np.testing.assert_allclose(out.anomaly, out.residual + 0.7 * out.feature, rtol=1e-6)
    np.testing.assert_allclose(out.residual_image, (x - gz).abs().squeeze(1).numpy(), atol=1e-5)


def test_an_encoder_trained_on_g_samples_recovers_their_z(tmp_path):
    """Trained on G(z) alone (kappa 0), E(G(z)) comes back close to z for new z."""
    G, D = _nets(z_dim=4, width=8)
    with torch.no_grad():  # weights ~N(0, 0.1): G's images vary with z beyond the uint8 quantisation
        for m in G.modules():
            if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Linear)):
                m.weight.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        z_train = torch.rand(1024, 4, generator=gen) * 2 - 1
        patches = ((G(z_train) + 1) * 127.5).round().byte().squeeze(1).numpy()
    settings = EncoderSettings(epochs=8, batch_size=32, lr=1e-3, kappa=0.0)
    E = train_encoder(patches, G, D, settings, tmp_path, progress=False)
    z_new = torch.rand(256, 4, generator=gen) * 2 - 1
    with torch.no_grad():
        error = (E(G(z_new)) - z_new).abs().mean().item()
    assert error < 0.1, error  # a random guess in [-1, 1]^4 is off by 2/3 on average


def test_training_resumes_to_the_same_weights(tmp_path):
    G, D = _nets()
    patches = np.random.default_rng(0).integers(0, 255, (96, 64, 64), dtype=np.uint8)
    whole = train_encoder(patches, G, D, EncoderSettings(epochs=2, batch_size=32), tmp_path / "a", progress=False)
    train_encoder(patches, G, D, EncoderSettings(epochs=1, batch_size=32), tmp_path / "b", progress=False)
    resumed = train_encoder(patches, G, D, EncoderSettings(epochs=2, batch_size=32), tmp_path / "b", progress=False)
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    loaded, history = load_encoder(tmp_path / "b")
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), whole.state_dict().values()))


def test_too_few_patches_are_named():
    G, D = _nets()
    with pytest.raises(ValueError, match="fewer than one batch of 64"):
        train_encoder(np.zeros((10, 64, 64), np.uint8), G, D, EncoderSettings(), "unused", progress=False)
