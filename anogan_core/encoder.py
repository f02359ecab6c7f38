"""Fast mapping with an encoder, beyond the paper: f-AnoGAN's izi_f (Schlegl et al., "f-AnoGAN:
Fast unsupervised anomaly detection with generative adversarial networks", Medical Image
Analysis 54, 2019).

AnoGAN maps a query by Gamma backpropagation steps (Section 2.2). f-AnoGAN trains an encoder
E: x -> z once, on the normal training patches, with G and D frozen, so that G(E(x))
reconstructs x in image space and in D's feature space (the izi_f architecture):

    L_izi_f(x) = 1/n ||x - G(E(x))||^2 + kappa / n_d ||f(x) - f(G(E(x)))||^2

with n pixels, n_d features f of D's last convolution (the features of Eq. 4) and kappa = 1.
A query is then scored by one forward pass with the same quantity,
A_izi_f(x) = A_R(x) + kappa A_D(x). Where a run low-passes the residual (``residual_sigma``, see
:mod:`mapping`), both images of the residual term are low-passed here too.

E mirrors D (four strided 5x5 convolutions w..8w, batch norm except on the first, LeakyReLU 0.2)
and ends in a linear layer and tanh, so E(x) lies in the prior's box [-1, 1]^z_dim. Training is
seeded and resumable: the shuffling of each epoch comes from a generator seeded by (seed, epoch),
and a checkpoint is written atomically after every epoch. A hybrid starts AnoGAN's iterative
mapping from E(x) instead of a random z (``map_to_latent(..., z_init=E(x))``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .mapping import check_queries, fold_batch_norm, low_pass
from .models import Discriminator, Generator
from .storage import load_torch, save_json, save_torch


class Encoder(nn.Module):
    """x (N, 1, 64, 64) in [-1, 1] -> z (N, z_dim) in [-1, 1]: D's convolution stack, a linear map, tanh."""

    def __init__(self, z_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        self.z_dim, self.width = z_dim, width

        def down(cin: int, cout: int, bn: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.Conv2d(cin, cout, 5, 2, padding=2, bias=not bn)]
            return layers + ([nn.BatchNorm2d(cout)] if bn else []) + [nn.LeakyReLU(0.2, True)]

        self.features = nn.Sequential(
            *down(1, width, bn=False), *down(width, 2 * width), *down(2 * width, 4 * width), *down(4 * width, 8 * width)
        )
        self.project = nn.Linear(8 * width * 4 * 4, z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.project(self.features(x).flatten(1)))


def izif_terms(
    x: torch.Tensor, gz: torch.Tensor, fx: torch.Tensor, fgz: torch.Tensor, sigma: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (A_R, A_D): the mean squared residual between x and G(E(x)) (both low-passed with
    ``sigma``) and the mean squared difference of D's features, each (N,)."""
    residual = (low_pass(x, sigma) - low_pass(gz, sigma)).pow(2).flatten(1).mean(1)
    feature = (fx - fgz).pow(2).flatten(1).mean(1)
    return residual, feature


@dataclass
class EncoderSettings:
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-4
    kappa: float = 1.0
    sigma: float = 0.0
    seed: int = 0


def train_encoder(
    patches: np.ndarray,
    G: Generator,
    D: Discriminator,
    settings: EncoderSettings,
    out_dir: Path,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> Encoder:
    """Train (or resume) E on uint8 patches (N, 64, 64) by Adam on the mean izi_f loss; G and D frozen.

    ``out_dir/encoder.pt`` holds the state after the last finished epoch, ``out_dir/history.json``
    the mean loss of every epoch."""
    device = torch.device(device)
    out_dir = Path(out_dir)
    s = settings
    torch.manual_seed(s.seed)
    E = Encoder(G.z_dim, G.width).to(device)
    opt = torch.optim.Adam(E.parameters(), lr=s.lr, betas=(0.5, 0.999))
    G, D = fold_batch_norm(G, D)  # eval-mode copies: frozen, and batch norm couples no samples
    for p in [*G.parameters(), *D.parameters()]:
        p.requires_grad_(False)
    epoch, history = 0, []
    path = out_dir / "encoder.pt"
    if path.exists():
        ck = load_torch(path, device)
        E.load_state_dict(ck["E"])
        opt.load_state_dict(ck["opt"])
        epoch, history = ck["epoch"], ck["history"]
    data = torch.from_numpy(np.array(patches, dtype=np.uint8))
    n = len(data)
    steps = n // s.batch_size
    if steps == 0:
        raise ValueError(f"{n} training patches are fewer than one batch of {s.batch_size}")
    bar = tqdm(total=s.epochs * steps, initial=epoch * steps, disable=not progress, desc="encoder", unit="step")
    E.train()
    while epoch < s.epochs:
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(1_000_003 * s.seed + epoch))
        total = torch.zeros((), device=device)
        for i in range(steps):
            x = (data[perm[i * s.batch_size : (i + 1) * s.batch_size]].float() / 127.5 - 1.0).unsqueeze(1).to(device)
            gz = G(E(x))
            with torch.no_grad():
                fx = D(x)[1]
            residual, feature = izif_terms(x, gz, fx, D(gz)[1], s.sigma)
            loss = (residual + s.kappa * feature).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
            bar.update(1)
        epoch += 1
        history.append({"epoch": epoch, "loss": float(total) / steps})
        bar.set_postfix(loss=f"{history[-1]['loss']:.4f}")
        save_torch(path, {"E": E.state_dict(), "opt": opt.state_dict(), "epoch": epoch, "history": history,
                          "z_dim": E.z_dim, "width": E.width})  # fmt: skip
        save_json(out_dir / "history.json", history)
    bar.close()
    return E.eval()


def load_encoder(out_dir: Path, device: torch.device | str = "cpu") -> tuple[Encoder, list[dict]]:
    """E (eval mode) and its training history."""
    ck = load_torch(Path(out_dir) / "encoder.pt", device)
    E = Encoder(ck["z_dim"], ck["width"]).to(device)
    E.load_state_dict(ck["E"])
    return E.eval(), ck["history"]


@dataclass
class EncoderScores:
    """Per-query outcome of :func:`encode_and_score` (numpy arrays, first axis = query)."""

    z: np.ndarray  # (N, z_dim) E(x)
    residual: np.ndarray  # (N,) A_R(x)
    feature: np.ndarray  # (N,) A_D(x)
    anomaly: np.ndarray  # (N,) A_izi_f(x) = A_R + kappa A_D
    residual_image: np.ndarray  # (N, 64, 64) |x - G(E(x))| (both low-passed when sigma > 0)


def encode_and_score(
    E: Encoder,
    G: Generator,
    D: Discriminator,
    x: torch.Tensor | np.ndarray,
    kappa: float = 1.0,
    sigma: float = 0.0,
    chunk: int = 256,
) -> EncoderScores:
    """Score queries (N, 1, 64, 64) in [-1, 1] by one forward pass of E, G and D each (izi_f)."""
    x = check_queries(x)
    device = next(E.parameters()).device
    G, D = fold_batch_norm(G, D)
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("z", "r", "d", "img")}
    with torch.no_grad():
        for xb in x.split(chunk):
            xb = xb.to(device)
            z = E(xb)
            gz = G(z)
            r, d = izif_terms(xb, gz, D(xb)[1], D(gz)[1], sigma)
            for k, v in (("z", z), ("r", r), ("d", d)):
                out[k].append(v.cpu())
            out["img"].append((low_pass(xb, sigma) - low_pass(gz, sigma)).abs().squeeze(1).cpu())
    r, d = torch.cat(out["r"]).numpy(), torch.cat(out["d"]).numpy()
    return EncoderScores(
        z=torch.cat(out["z"]).numpy(),
        residual=r,
        feature=d,
        anomaly=r + kappa * d,
        residual_image=torch.cat(out["img"]).numpy(),
    )
