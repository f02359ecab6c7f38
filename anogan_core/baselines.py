"""Baselines of Section 3 (3): aCAE and P_D, and trivial floors.

**aCAE, as we read the paper.** It cites the adversarial autoencoder of Makhzani
et al. [16]: an encoder-decoder whose *latent codes* are matched to the prior by
a discriminator. We follow that reading: the encoder mirrors the DCGAN
discriminator's four 5x5 strided convolutions (then a linear map and tanh to the
latent support [-1, 1]^100), the decoder is the DCGAN generator, and an MLP
discriminator tells encoded codes from U(-1, 1) draws. The anomaly score keeps
the definition of Eq. 6: R(x) = sum |x - x_hat| with the reconstruction x_hat,
and D(x) = sum |f(x) - f(x_hat)| with f the encoder's last convolution features
(the aCAE's own feature extractor), weighted by lambda.

**P_D.** The trained DCGAN discriminator on the query itself, no mapping:
score = 1 - sigmoid(D(x)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .models import Discriminator, Generator, sample_z
from .storage import load_torch, save_torch


class AdversarialAutoencoder(nn.Module):
    def __init__(self, z_dim: int = 100, width: int = 64, resize_conv: bool = False) -> None:
        super().__init__()
        self.z_dim, self.width = z_dim, width
        self.encoder = Discriminator(width)  # its conv stack and linear head, re-used as an encoder
        self.encoder.logit = nn.Linear(8 * width * 4 * 4, z_dim)
        self.decoder = Generator(z_dim, width, resize_conv)
        self.code_critic = nn.Sequential(
            nn.Linear(z_dim, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1)
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(code in [-1, 1]^z_dim, encoder features f(x))."""
        f = self.encoder.features(x)
        return torch.tanh(self.encoder.logit(f.flatten(1))), f

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encode(x)[0])


def train_acae(
    patches: np.ndarray,
    width: int,
    z_dim: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    out_dir: Path,
    device: torch.device | str = "cpu",
    progress: bool = True,
    resize_conv: bool = False,
) -> AdversarialAutoencoder:
    """Train an aCAE (reconstruction + latent adversarial regularisation), resumable per epoch."""
    device = torch.device(device)
    torch.manual_seed(seed)
    model = AdversarialAutoencoder(z_dim, width, resize_conv).to(device, memory_format=torch.channels_last)
    ae_params = [*model.encoder.parameters(), *model.decoder.parameters()]
    opt_ae = torch.optim.Adam(ae_params, lr=lr, betas=(0.5, 0.999))
    opt_enc = torch.optim.Adam(model.encoder.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_critic = torch.optim.Adam(model.code_critic.parameters(), lr=lr, betas=(0.5, 0.999))
    path = Path(out_dir) / "acae.pt"
    start = 0
    if path.exists():
        ck = load_torch(path, device)
        model.load_state_dict(ck["model"])
        for opt, key in ((opt_ae, "opt_ae"), (opt_enc, "opt_enc"), (opt_critic, "opt_critic")):
            opt.load_state_dict(ck[key])
        start = ck["epoch"]
    data = torch.from_numpy(np.array(patches, dtype=np.uint8)).to(device)
    steps = len(data) // batch_size
    ones, zeros = torch.ones(batch_size, 1, device=device), torch.zeros(batch_size, 1, device=device)
    model.train()
    for epoch in range(start, epochs):
        gen = torch.Generator().manual_seed(3_000_017 * seed + epoch)
        perm = torch.randperm(len(data), generator=gen).to(device)
        for i in tqdm(range(steps), disable=not progress, desc=f"aCAE epoch {epoch + 1}/{epochs}"):
            x = (data[perm[i * batch_size : (i + 1) * batch_size]].float() / 127.5 - 1).unsqueeze(1)
            # 1) reconstruction
            loss_rec = (model(x) - x).abs().mean()
            opt_ae.zero_grad(set_to_none=True)
            loss_rec.backward()
            opt_ae.step()
            # 2) the critic tells prior draws from codes; 3) the encoder fools it
            prior = sample_z(batch_size, z_dim, gen, device)
            code = model.encode(x)[0]
            loss_c = F.binary_cross_entropy_with_logits(
                model.code_critic(prior), ones
            ) + F.binary_cross_entropy_with_logits(model.code_critic(code.detach()), zeros)
            opt_critic.zero_grad(set_to_none=True)
            loss_c.backward()
            opt_critic.step()
            loss_e = F.binary_cross_entropy_with_logits(model.code_critic(model.encode(x)[0]), ones)
            opt_enc.zero_grad(set_to_none=True)
            loss_e.backward()
            opt_enc.step()
        state = {"model": model.state_dict(), "opt_ae": opt_ae.state_dict(), "opt_enc": opt_enc.state_dict(),
                 "opt_critic": opt_critic.state_dict(), "epoch": epoch + 1}  # fmt: skip
        save_torch(path, state)
    return model.eval()


@torch.no_grad()
def acae_scores(model: AdversarialAutoencoder, x: torch.Tensor, lam: float, chunk: int = 512) -> dict[str, np.ndarray]:
    """R(x), D(x) and A(x) (Eq. 6) of the aCAE, with its reconstructions."""
    model.eval()
    device = next(model.parameters()).device
    out: dict[str, list[np.ndarray]] = {"residual": [], "discrimination": [], "reconstruction": []}
    for start in range(0, len(x), chunk):
        xb = x[start : start + chunk].to(device)
        code, fx = model.encode(xb)
        rec = model.decoder(code)
        _, frec = model.encode(rec)
        out["residual"].append((xb - rec).abs().flatten(1).sum(1).cpu().numpy())
        out["discrimination"].append((fx - frec).abs().flatten(1).sum(1).cpu().numpy())
        out["reconstruction"].append(rec.squeeze(1).cpu().numpy())
    res = {k: np.concatenate(v) for k, v in out.items()}
    res["anomaly"] = (1 - lam) * res["residual"] + lam * res["discrimination"]
    return res


@torch.no_grad()
def discriminator_score(D: Discriminator, x: torch.Tensor, chunk: int = 1024) -> np.ndarray:
    """P_D: 1 - sigmoid(D(x)) on the query itself (no mapping)."""
    D.eval()
    device = next(D.parameters()).device
    return np.concatenate(
        [(1 - torch.sigmoid(D(x[s : s + chunk].to(device))[0])).cpu().numpy() for s in range(0, len(x), chunk)]
    )


@torch.no_grad()
def discriminator_features(D: Discriminator, x: torch.Tensor, chunk: int = 1024) -> np.ndarray:
    """f(x), D's last convolution features, flattened: (N, 8w * 16)."""
    D.eval()
    device = next(D.parameters()).device
    return np.concatenate([D(x[s : s + chunk].to(device))[1].flatten(1).cpu().numpy() for s in range(0, len(x), chunk)])


def floor_scores(x: np.ndarray) -> dict[str, np.ndarray]:
    """Trivial scores on uint8 patches: darkness (fluid is dark) and low texture."""
    xf = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    return {"darkness (-mean)": -xf.mean(1), "flatness (-std)": -xf.std(1)}
