import pytest
import torch

from anogan_core.models import Discriminator, Generator, sample_z


@pytest.mark.parametrize("width", [4, 8, 64])
def test_shapes_and_ranges(width):
    G, D = Generator(100, width).eval(), Discriminator(width).eval()
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
