"""Adversarial training of the model of normal appearance (Section 2.1, Eq. 1-2).

D maximises Eq. 1 (binary cross-entropy on real and generated patches); G uses
the non-saturating form of Eq. 2 (maximise log D(G(z))). Adam, lr 2e-4, beta1 0.5
as in DCGAN. Training is seeded and resumable: the shuffling and the z draws come
from generators whose state is in every checkpoint, so an interrupted run that is
started again ends with the same weights as one that never stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .models import Discriminator, Generator, sample_z
from .storage import load_torch, save_json, save_torch

LOG_EVERY = 25  # steps between host syncs (loss logging and the finiteness check)


class TrainingError(RuntimeError):
    """Training diverged (a non-finite loss)."""


@dataclass
class TrainSettings:
    width: int
    z_dim: int = 100
    epochs: int = 20
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    resize_conv: bool = False  # G's upsampling without checkerboard (models.ResizeConvTranspose)
    spectral_norm: bool = False  # D's layers spectrally normalised (models.Discriminator)
    seed: int = 0
    checkpoint_seconds: float = 300.0  # also checkpoint mid-epoch this often
    stop_after_steps: int | None = None  # for tests: interrupt after this many steps


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(1_000_003 * seed + epoch)


def _autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def train_dcgan(
    patches: np.ndarray,
    settings: TrainSettings,
    out_dir: Path,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[Generator, Discriminator, list[dict]]:
    """Train (or resume training) a DCGAN on uint8 patches of shape (N, 64, 64).

    ``out_dir/checkpoint.pt`` holds the latest state; ``out_dir/history.json``
    the logged losses and mean D outputs. The checkpoint also keeps G(z) of 16
    fixed z after every epoch.
    """
    device = torch.device(device)
    out_dir = Path(out_dir)
    s = settings
    torch.manual_seed(s.seed)
    G, D = Generator(s.z_dim, s.width, s.resize_conv).to(device), Discriminator(s.width, s.spectral_norm).to(device)
    # channels_last: 6-12% faster convolutions on CPU (oneDNN) too, not only on CUDA (benchmarks/train_speed.py)
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(G.parameters(), lr=s.lr_g, betas=(s.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=s.lr_d, betas=(s.beta1, 0.999))
    fixed_z = sample_z(16, s.z_dim, torch.Generator().manual_seed(s.seed), device)

    epoch, step_in_epoch, history, samples, z_state = 0, 0, [], [], None
    ckpt_path = out_dir / "checkpoint.pt"
    if ckpt_path.exists():
        ck = load_torch(ckpt_path)  # on the CPU: the z generator's state must stay there; weights are copied
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        epoch, step_in_epoch, history, samples = ck["epoch"], ck["step_in_epoch"], ck["history"], ck["samples"]
        z_state = ck["z_state"]

    data = torch.from_numpy(np.array(patches, dtype=np.uint8)).to(device)  # copies a memory map into RAM
    n = len(data)
    steps_per_epoch = n // s.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{n} training patches are fewer than one batch of {s.batch_size}")
    ones = torch.ones(s.batch_size, device=device)
    zeros = torch.zeros(s.batch_size, device=device)

    def save(z_gen: torch.Generator) -> None:
        state = {
            "G": G.state_dict(), "D": D.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "epoch": epoch, "step_in_epoch": step_in_epoch, "history": history, "samples": samples,
            "z_state": z_gen.get_state(), "width": s.width, "z_dim": s.z_dim, "resize_conv": s.resize_conv,
            "spectral_norm": s.spectral_norm,
        }  # fmt: skip
        save_torch(ckpt_path, state)
        save_json(out_dir / "history.json", history)

    total_steps = s.epochs * steps_per_epoch
    done_steps = epoch * steps_per_epoch + step_in_epoch
    bar = tqdm(total=total_steps, initial=done_steps, disable=not progress, desc="DCGAN", unit="step")
    last_ckpt, steps_run = time.monotonic(), 0
    G.train()
    D.train()
    while epoch < s.epochs:
        perm = torch.randperm(n, generator=_epoch_generator(s.seed, epoch)).to(device)
        z_gen = torch.Generator()
        if z_state is not None:
            z_gen.set_state(z_state)
            z_state = None
        else:
            z_gen.manual_seed(2_000_003 * s.seed + epoch)
        acc = torch.zeros(4, device=device)
        while step_in_epoch < steps_per_epoch:
            idx = perm[step_in_epoch * s.batch_size : (step_in_epoch + 1) * s.batch_size]
            real = (data[idx].float() / 127.5 - 1.0).unsqueeze(1)
            z = sample_z(s.batch_size, s.z_dim, z_gen, device)
            with _autocast(device):
                fake = G(z)
                logit_real, _ = D(real)
                logit_fake, _ = D(fake.detach())
                loss_d = F.binary_cross_entropy_with_logits(
                    logit_real.float(), ones
                ) + F.binary_cross_entropy_with_logits(logit_fake.float(), zeros)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            D.requires_grad_(False)  # G's step needs D's input gradient only: skip D's weight gradients
            with _autocast(device):
                logit_gen, _ = D(fake)
                loss_g = F.binary_cross_entropy_with_logits(logit_gen.float(), ones)  # Eq. 2, non-saturating
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            D.requires_grad_(True)
            acc += torch.stack(
                [loss_d.detach(), loss_g.detach(), torch.sigmoid(logit_real.detach().float()).mean(),
                 torch.sigmoid(logit_fake.detach().float()).mean()]
            )  # fmt: skip
            step_in_epoch += 1
            steps_run += 1
            bar.update(1)
            if step_in_epoch % LOG_EVERY == 0 or step_in_epoch == steps_per_epoch:
                k = (step_in_epoch - 1) % LOG_EVERY + 1
                ld, lg, dr, df = (acc / k).tolist()
                acc.zero_()
                for name, value in (("discriminator", ld), ("generator", lg)):
                    if not np.isfinite(value):
                        raise TrainingError(
                            f"the {name} loss became {value} at epoch {epoch + 1}, step {step_in_epoch}; "
                            "lower the learning rates (lr_g, lr_d) or check the input range of the patches"
                        )
                history.append({"epoch": epoch + step_in_epoch / steps_per_epoch, "loss_d": ld, "loss_g": lg,
                                "d_real": dr, "d_fake": df})  # fmt: skip
                bar.set_postfix(loss_d=f"{ld:.3f}", loss_g=f"{lg:.3f}", D_x=f"{dr:.2f}", D_Gz=f"{df:.2f}")
                if time.monotonic() - last_ckpt > s.checkpoint_seconds:
                    save(z_gen)
                    last_ckpt = time.monotonic()
            if s.stop_after_steps is not None and steps_run >= s.stop_after_steps:
                save(z_gen)
                bar.close()
                return G, D, history
        G.eval()
        with torch.no_grad():
            samples.append(((G(fixed_z).float().cpu() + 1) * 127.5).round().byte().squeeze(1).numpy())
        G.train()
        epoch, step_in_epoch = epoch + 1, 0
        save(z_gen)
        last_ckpt = time.monotonic()
    bar.close()
    G.eval()
    D.eval()
    return G, D, history


def load_dcgan(
    out_dir: Path, device: torch.device | str = "cpu"
) -> tuple[Generator, Discriminator, list[dict], np.ndarray]:
    """G and D (eval mode), the history and the per-epoch samples of a finished run."""
    ck = load_torch(Path(out_dir) / "checkpoint.pt", device)
    G = Generator(ck["z_dim"], ck["width"], ck["resize_conv"]).to(device)
    D = Discriminator(ck["width"], ck.get("spectral_norm", False)).to(device)  # absent before the option
    G.load_state_dict(ck["G"])
    D.load_state_dict(ck["D"])
    samples = np.stack(ck["samples"]) if ck["samples"] else np.zeros((0, 16, 64, 64), np.uint8)
    return G.eval(), D.eval(), ck["history"], samples
