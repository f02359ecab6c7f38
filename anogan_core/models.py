"""The DCGAN of Section 2.1 and 3 (Radford et al. 2016, as adapted by the paper).

G: z (100-d, U(-1, 1)) -> linear projection to 8w x 4 x 4 -> four fractionally-
strided 5x5 convolutions (stride 2; batch norm + ReLU; tanh out) -> 1 x 64 x 64.
D: four strided 5x5 convolutions w, 2w, 4w, 8w (LeakyReLU 0.2; batch norm except
on the first) -> linear logit. With w = 64 the channels are the paper's
512-256-128-64. D also returns f(x), the output of its last convolution layer,
used by the feature-matching discrimination loss (Eq. 4) and Figure 2b.

Beyond the paper (``resize_conv=True``): a 5x5 kernel with stride 2 overlaps
unevenly on the output grid (odd and even output pixels sum different taps), which
leaves a checkerboard (Odena et al., "Deconvolution and checkerboard artifacts",
Distill 2016). :class:`ResizeConvTranspose` ties each 5x5 kernel to a 4x4 kernel
convolved with a 2x2 box, which makes the layer exactly nearest-neighbour
upsampling followed by a 4x4 convolution (the resize-convolution Odena et al.
recommend) while keeping the layer's shape, stride and receptive field.

Beyond the paper (``spectral_norm=True``): each of D's convolutions and its linear
logit divide their weight by its largest singular value, estimated by one power
iteration per training step (Miyato et al., "Spectral normalization for generative
adversarial networks", ICLR 2018). This bounds how fast D can change and lets the
paper's equal learning rates train a small DCGAN without D winning at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _init(module: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) weights, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


_BOX = torch.ones(1, 1, 2, 2)


class ResizeConvTranspose(nn.Module):
    """5x5 stride-2 transposed convolution whose kernel is a 4x4 kernel full-convolved
    with a 2x2 box: every output pixel sums the same taps, so no checkerboard."""

    def __init__(self, cin: int, cout: int, bias: bool) -> None:
        super().__init__()
        # N(0, 0.01): an interior tap of the 5x5 kernel sums four of them (std 0.02, as DCGAN's).
        self.weight4 = nn.Parameter(torch.randn(cin, cout, 4, 4) * 0.01)
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None

    @property
    def weight(self) -> torch.Tensor:
        cin, cout = self.weight4.shape[:2]
        box = _BOX.to(self.weight4)
        return F.conv2d(self.weight4.reshape(cin * cout, 1, 4, 4), box, padding=1).reshape(cin, cout, 5, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, stride=2, padding=2, output_padding=1)

    def to_conv_transpose(self) -> nn.ConvTranspose2d:
        """A plain transposed convolution holding the current 5x5 kernel (same outputs): for a
        frozen G, which need not rebuild the kernel at every forward."""
        cin, cout = self.weight4.shape[:2]
        conv = nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1, bias=self.bias is not None)
        conv = conv.to(self.weight4.device)
        with torch.no_grad():
            conv.weight.copy_(self.weight)
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv.train(self.training)


class Generator(nn.Module):
    def __init__(self, z_dim: int = 100, width: int = 64, resize_conv: bool = False) -> None:
        super().__init__()
        self.z_dim, self.width, self.resize_conv = z_dim, width, resize_conv
        self.project = nn.Linear(z_dim, 8 * width * 4 * 4, bias=False)
        self.project_bn = nn.BatchNorm2d(8 * width)

        def up(cin: int, cout: int, last: bool = False) -> list[nn.Module]:
            conv: nn.Module = (
                ResizeConvTranspose(cin, cout, bias=last)
                if resize_conv
                else nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1, bias=last)
            )
            return [conv, nn.Tanh()] if last else [conv, nn.BatchNorm2d(cout), nn.ReLU(True)]

        self.net = nn.Sequential(
            *up(8 * width, 4 * width), *up(4 * width, 2 * width), *up(2 * width, width), *up(width, 1, last=True)
        )
        self.apply(_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, 8 * self.width, 4, 4)
        return self.net(torch.relu(self.project_bn(h)))


class Discriminator(nn.Module):
    def __init__(self, width: int = 64, spectral_norm: bool = False) -> None:
        super().__init__()
        self.width, self.spectral_norm = width, spectral_norm

        def down(cin: int, cout: int, bn: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 5, 2, padding=2, bias=not bn)]
            return layers + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.LeakyReLU(0.2, True)]

        self.features = nn.Sequential(
            *down(1, width, bn=False), *down(width, 2 * width), *down(2 * width, 4 * width), *down(4 * width, 8 * width)
        )
        self.logit = nn.Linear(8 * width * 4 * 4, 1)
        self.apply(_init)
        if spectral_norm:
            for layer in [*self.features, self.logit]:
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(layer)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logit of shape (N,), features f(x) of shape (N, 8w, 4, 4))."""
        f = self.features(x)
        return self.logit(f.flatten(1)).squeeze(1), f


def sample_z(
    n: int, z_dim: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """z ~ U(-1, 1)^z_dim, the latent distribution of Section 2.1 (drawn on the CPU, so that a
    seeded generator gives the same z on every device; copied without waiting for the device)."""
    return (torch.rand(n, z_dim, generator=generator) * 2 - 1).to(device, non_blocking=True)
