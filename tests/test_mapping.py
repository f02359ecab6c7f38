import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter
from torch.nn.utils import parametrize

from anogan_core.mapping import fold_batch_norm, low_pass, map_to_latent, mapping_losses
from anogan_core.models import Discriminator, Generator, ResizeConvTranspose


@pytest.fixture
def gan():
    torch.manual_seed(0)
    return Generator(16, 4).eval(), Discriminator(4).eval()


def _queries(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 64, 64, generator=g) * 1.6 - 0.8


class TinyD(torch.nn.Module):
    """f(x) = the 2x2 mean-pooled image; logit = sum of x."""

    def forward(self, x):
        return x.sum((1, 2, 3)), F.avg_pool2d(x, 32)


def test_losses_match_hand_computed_values():
    x = torch.zeros(1, 1, 64, 64)
    gz = torch.zeros(1, 1, 64, 64)
    gz[0, 0, :32, :32] = 0.5  # one quarter of the pixels off by 0.5
    fx = TinyD()(x)[1]
    r, d, dh = mapping_losses(x, fx, gz, TinyD())
    assert r.item() == pytest.approx(32 * 32 * 0.5)  # Eq. 3: sum |x - G(z)|
    assert d.item() == pytest.approx(0.5)  # Eq. 4: one pooled feature off by 0.5
    logit = 32 * 32 * 0.5
    assert dh.item() == pytest.approx(np.log1p(np.exp(-logit)))  # sigmoid cross-entropy vs 1


@pytest.mark.parametrize("sigma", [0.7, 2.0, 3.5])
def test_low_pass_is_scipys_gaussian_filter(sigma):
    x = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    expected = gaussian_filter(x.numpy(), (0, 0, sigma, sigma), mode="mirror")
    np.testing.assert_allclose(low_pass(x, sigma).numpy(), expected, atol=1e-6)
    assert low_pass(x, 0.0) is x


def test_a_low_passed_residual_ignores_grain_and_keeps_structure():
    x = torch.zeros(2, 1, 64, 64)
    gz = torch.zeros(2, 1, 64, 64)
    gz[0, 0] = 0.5 * (-1.0) ** torch.arange(64)[:, None]  # a grain of period 2 rows, 0.5 deep
    gz[1, 0, 16:48, 16:48] = 0.5  # a 32 x 32 block 0.5 brighter
    fx = TinyD()(x)[1]
    pixel, _, _ = mapping_losses(x, fx, gz, TinyD())
    smooth, _, _ = mapping_losses(x, fx, gz, TinyD(), sigma=2.0)
    assert pixel.tolist() == pytest.approx([2048.0, 512.0])  # Eq. 3: sum |x - G(z)|
    assert smooth[0] < 1e-3 * pixel[0]  # the grain is gone
    assert smooth[1] == pytest.approx(512.0, rel=1e-4)  # the low-pass keeps a block's total


def test_lambda_zero_equals_residual_only(gan):
    G, D = gan
    x = _queries()
    a = map_to_latent(G, D, x, steps=5, lam=0.0, loss="feature", progress=False)
    b = map_to_latent(G, D, x, steps=5, lam=0.7, loss="residual", progress=False)
    assert b.lam == 0.0
    assert np.allclose(a.z, b.z) and np.allclose(a.anomaly, b.anomaly) and np.allclose(a.anomaly, a.residual)


def test_loss_falls_over_the_steps(gan):
    G, D = gan
    res = map_to_latent(G, D, _queries(), steps=40, lam=0.1, lr=0.05, record=True, progress=False)
    first, last = res.score_at(0), res.score_at(40)
    assert (last < first).all()
    assert np.allclose(res.score_at(40), res.anomaly, rtol=1e-5)


def test_batch_equals_one_by_one(gan):
    G, D = gan
    x = _queries(5)
    z0 = torch.rand(5, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    batch = map_to_latent(G, D, x, steps=10, z_init=z0, chunk=2, progress=False)
    for i in range(5):
        one = map_to_latent(G, D, x[i : i + 1], steps=10, z_init=z0[i : i + 1], progress=False)
        assert np.allclose(one.z, batch.z[i], atol=1e-5)
        assert np.allclose(one.anomaly, batch.anomaly[i], rtol=1e-4)
        assert np.allclose(one.residual_image, batch.residual_image[i], atol=1e-5)


def test_batch_equals_one_by_one_with_a_low_passed_residual_and_a_pool(varied_gan):
    G, D = varied_gan
    x = _queries(4)
    pool = torch.rand(9, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    batch = map_to_latent(G, D, x, steps=6, starts=pool, chunk=3, sigma=2.0, progress=False)
    for i in range(4):
        one = map_to_latent(G, D, x[i : i + 1], steps=6, starts=pool, sigma=2.0, progress=False)
        assert np.allclose(one.z, batch.z[i], atol=1e-5)
        assert np.allclose(one.residual, batch.residual[i], rtol=1e-4)
    smooth_x = low_pass(x, 2.0).squeeze(1).numpy()
    smooth_g = low_pass(torch.from_numpy(batch.generated).unsqueeze(1), 2.0).squeeze(1).numpy()
    np.testing.assert_allclose(batch.residual_image, np.abs(smooth_x - smooth_g), atol=1e-5)
    np.testing.assert_allclose(batch.residual, batch.residual_image.sum((1, 2)), rtol=1e-4)
    with pytest.raises(ValueError, match="sigma"):
        map_to_latent(G, D, x, steps=1, sigma=-1.0, progress=False)


def test_same_seed_same_scores_and_z_stays_in_support(gan):
    G, D = gan
    a = map_to_latent(G, D, _queries(), steps=8, lr=0.5, seed=4, progress=False)
    b = map_to_latent(G, D, _queries(), steps=8, lr=0.5, seed=4, progress=False)
    assert np.array_equal(a.anomaly, b.anomaly)
    assert np.abs(a.z).max() <= 1.0
    free = map_to_latent(G, D, _queries(), steps=8, lr=0.5, seed=4, clamp=False, progress=False)
    assert np.abs(free.z).max() > 1.0


def test_models_are_left_as_found(gan):
    G, D = gan
    G.train()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    map_to_latent(G, D, _queries(2), steps=2, progress=False)
    assert G.training and not D.training
    assert all(p.requires_grad for p in G.parameters())
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())


@pytest.mark.parametrize("resize_conv, spectral_norm", [(False, False), (True, False), (True, True)])
def test_folded_batch_norm_gives_the_eval_mode_outputs(resize_conv, spectral_norm):
    torch.manual_seed(3)
    G, D = Generator(16, 4, resize_conv), Discriminator(4, spectral_norm)
    for bn in [m for m in [*G.modules(), *D.modules()] if isinstance(m, torch.nn.BatchNorm2d)]:
        torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
        torch.nn.init.uniform_(bn.bias, -0.3, 0.3)
    with torch.no_grad():  # give the running statistics values far from (0, 1)
        for _ in range(5):
            D(G(torch.rand(32, 16) * 2 - 1) * 0.5 + 0.2)
    Gf, Df = fold_batch_norm(G, D)
    assert G.training and D.training  # the callers' networks are left as they were
    G.eval(), D.eval()
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, ResizeConvTranspose)) for m in [*Gf.modules(), *Df.modules()])
    assert not any(parametrize.is_parametrized(m) for m in Df.modules())  # plain weights, normalised once
    z = torch.rand(8, 16) * 2 - 1
    with torch.no_grad():
        gz, gz_folded = G(z), Gf(z)
        (logit, f), (logit_folded, f_folded) = D(gz), Df(gz)
    torch.testing.assert_close(gz_folded, gz, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(f_folded, f, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logit_folded, logit, rtol=1e-4, atol=1e-5)


def test_bad_queries_are_refused(gan):
    G, D = gan
    with pytest.raises(ValueError, match=r"shape \(N, 1, 64, 64\).*got \(2, 1, 32, 32\)"):
        map_to_latent(G, D, torch.zeros(2, 1, 32, 32), progress=False)
    with pytest.raises(ValueError, match=r"must lie in \[-1, 1\].*\[0, 255\]"):
        map_to_latent(G, D, torch.linspace(0, 255, 64 * 64).reshape(1, 64, 64), progress=False)
    with pytest.raises(ValueError, match="dtype torch.uint8"):
        map_to_latent(G, D, torch.zeros(1, 64, 64, dtype=torch.uint8), progress=False)
    with pytest.raises(ValueError, match="unknown mapping loss 'l2'"):
        map_to_latent(G, D, _queries(1), loss="l2", progress=False)


@pytest.fixture
def varied_gan(gan):
    """An untrained G in eval mode draws nearly the same image for every z; larger weights
    make its images differ, so a choice among starts is not a tie."""
    G, D = gan
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)):
                m.weight.mul_(8)
    return G, D


@pytest.mark.parametrize(("loss", "lam"), [("feature", 0.1), ("feature", 1.0), ("yeh", 1.0), ("residual", 0.0)])
def test_each_query_starts_from_the_pool_member_with_the_lowest_loss(varied_gan, loss, lam):
    G, D = varied_gan
    pool = torch.rand(7, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
    x = _queries(5)
    # brute force: Eq. 5 at every pool member for every query, one member at a time
    at_member = np.stack(
        [map_to_latent(G, D, x, steps=0, lam=lam, loss=loss, z_init=z.expand(5, -1), progress=False).anomaly
         for z in pool], 1)  # fmt: skip
    start = map_to_latent(G, D, x, steps=0, lam=lam, loss=loss, starts=pool, chunk=2, progress=False)
    assert np.array_equal(start.z, pool[at_member.argmin(1)].numpy())
    assert np.allclose(start.anomaly, at_member.min(1), rtol=1e-5)


def test_a_query_generated_from_a_pool_member_starts_there(varied_gan):
    G, D = varied_gan
    pool = torch.rand(9, 16, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        x = G(pool[[6, 2]])
    start = map_to_latent(G, D, x, steps=0, starts=pool, chunk=1, progress=False)
    assert np.array_equal(start.z, pool[[6, 2]].numpy()) and np.allclose(start.residual, 0, atol=1e-3)


def test_a_start_pool_is_checked(gan):
    G, D = gan
    with pytest.raises(ValueError, match="either z_init or a pool"):
        map_to_latent(G, D, _queries(2), z_init=torch.zeros(2, 16), starts=torch.zeros(3, 16), progress=False)
    with pytest.raises(ValueError, match=r"starts must have shape \(K, 16\).*got \(3, 8\)"):
        map_to_latent(G, D, _queries(2), starts=torch.zeros(3, 8), progress=False)
