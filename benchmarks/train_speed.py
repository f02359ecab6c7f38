"""Training speed of the DCGAN loop: images/s and achieved GFLOP/s next to a matmul
peak measured in the same run, at the cpu and paper widths; and our loop against a
plain PyTorch DCGAN step on the same models (overhead ratio).

    python benchmarks/train_speed.py [--steps 6] [--batch 64]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_time, count_flops, machine_header, sync  # noqa: E402

from anogan_core.config import make_config  # noqa: E402
from anogan_core.models import Discriminator, Generator  # noqa: E402
from anogan_core.training import TrainSettings, train_dcgan  # noqa: E402


def plain_step_factory(width: int, resize_conv: bool, batch: int, device: torch.device):
    """The textbook DCGAN step (pytorch/examples style) on our models."""
    G, D = Generator(100, width, resize_conv).to(device), Discriminator(width).to(device)
    og = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    real = torch.rand(batch, 1, 64, 64, device=device) * 2 - 1
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)

    def step() -> None:
        z = torch.rand(batch, 100, device=device) * 2 - 1
        fake = G(z)
        loss_d = F.binary_cross_entropy_with_logits(D(real)[0], ones) + F.binary_cross_entropy_with_logits(
            D(fake.detach())[0], zeros
        )
        od.zero_grad()
        loss_d.backward()
        od.step()
        loss_g = F.binary_cross_entropy_with_logits(D(fake)[0], ones)
        og.zero_grad()
        loss_g.backward()
        og.step()

    return step


def ours_seconds_per_step(width: int, resize_conv: bool, batch: int, steps: int, device: torch.device) -> float:
    patches = np.random.default_rng(0).integers(0, 255, (batch * (steps + 1), 64, 64), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainSettings(
            width=width, epochs=1, batch_size=batch, resize_conv=resize_conv, checkpoint_seconds=1e9
        )
        train_dcgan(patches[: batch * 2], settings, tmp + "/warmup", device, progress=False)
        sync(device)
        t0 = time.perf_counter()
        train_dcgan(patches, settings, tmp + "/t", device, progress=False)
        sync(device)
        total = time.perf_counter() - t0
    # the timed run also builds the models and writes one checkpoint: counted against us
    return total / (steps + 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    device, peak = machine_header()
    print(
        f"{'profile':>8} {'width':>5} {'G kernels':>9} {'img/s plain':>12} {'img/s ours':>11} {'ours/plain':>10} "
        f"{'GFLOP/img':>9} {'GFLOP/s ours':>12} {'% of peak':>9}"
    )
    for profile in ("cpu", "paper"):
        cfg = make_config(profile)  # the profile's width and G upsampling (cpu: tied kernels, paper: free)
        plain = plain_step_factory(cfg.width, cfg.resize_conv, args.batch, device)
        flops = count_flops(plain)
        t_plain = best_time(plain, device, repeats=args.steps)
        t_ours = ours_seconds_per_step(cfg.width, cfg.resize_conv, args.batch, args.steps, device)
        achieved = flops / t_ours / 1e9
        kernels = "tied" if cfg.resize_conv else "free"
        print(
            f"{profile:>8} {cfg.width:>5} {kernels:>9} {args.batch / t_plain:>12.1f} {args.batch / t_ours:>11.1f} "
            f"{t_plain / t_ours:>10.2f} {flops / args.batch / 1e9:>9.3f} {achieved:>12.1f} "
            f"{100 * achieved / peak:>8.1f}%"
        )


if __name__ == "__main__":
    main()
