import pytest
import torch
import torch.nn.functional as F

from anogan_core.models import Discriminator, Generator, ResizeConvTranspose, sample_z


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("resize_conv", [False, True])
@pytest.mark.parametrize("width", [4, 8, 64])
def test_shapes_and_ranges(width, resize_conv, spectral_norm):
    G, D = Generator(100, width, resize_conv).eval(), Discriminator(width, spectral_norm).eval()
    z = sample_z(3, 100, torch.Generator().manual_seed(0))
    assert z.min() >= -1 and z.max() <= 1
    x = G(z)
    assert x.shape == (3, 1, 64, 64)
    assert x.min() >= -1 and x.max() <= 1
    logit, f = D(x)
    assert logit.shape == (3,)
    assert f.shape == (3, 8 * width, 4, 4)


def test_paper_channels_and_kernels():
    G, D = Generator(100, 64), Discriminator(64)
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [c.in_channels for c in convs] == [512, 256, 128, 64]
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)


def test_resize_conv_is_nearest_upsampling_then_a_4x4_convolution():
    layer = ResizeConvTranspose(3, 2, bias=True)
    torch.nn.init.normal_(layer.bias)
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    upsampled = F.pad(F.interpolate(x, scale_factor=2, mode="nearest"), (1, 2, 1, 2))
    expected = F.conv2d(upsampled, layer.weight4.flip(2, 3).transpose(0, 1), layer.bias)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    # still the paper's layer shape: a 5x5 kernel at stride 2, 8x8 -> 16x16
    assert layer.weight.shape == (3, 2, 5, 5) and layer(x).shape == (2, 2, 16, 16)


def test_resize_conv_leaves_no_checkerboard_on_a_constant_input():
    x = torch.ones(1, 4, 8, 8)
    torch.manual_seed(0)
    free = torch.nn.ConvTranspose2d(4, 1, 5, 2, padding=2, output_padding=1, bias=False)
    tied = ResizeConvTranspose(4, 1, bias=False)
    # interior pixels (away from the zero padding): free 5x5 taps alternate, tied ones do not
    assert free(x)[0, 0, 2:-2, 2:-2].std() > 0.01
    assert tied(x)[0, 0, 2:-2, 2:-2].std() < 1e-6


def test_spectral_norm_gives_each_layer_of_d_unit_largest_singular_value():
    def largest_singular_values(D):
        layers = [m for m in D.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        return torch.stack([torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2) for m in layers])

    torch.manual_seed(0)
    plain, normalised = Discriminator(8), Discriminator(8, spectral_norm=True)
    assert (largest_singular_values(plain) < 0.9).all()  # DCGAN's N(0, 0.02) weights
    x = torch.rand(4, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        for _ in range(200):  # one power iteration per training-mode forward pass; the estimate converges
            normalised(x)  # from below, so the normalised weights' largest singular values from above
        sigma = largest_singular_values(normalised.eval())
    torch.testing.assert_close(sigma, torch.ones_like(sigma), rtol=1e-3, atol=1e-3)
    assert len(sigma) == 5  # four convolutions and the linear logit
