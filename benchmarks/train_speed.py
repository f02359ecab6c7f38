"""Training speed of the DCGAN loop: images/s and achieved GFLOP/s next to a matmul
peak measured in the same run, at the cpu and paper widths; and our loop against a
plain PyTorch DCGAN step (pytorch/examples) on the same models, side by side. Each
counts its own FLOPs: ours skips D's weight gradients in G's step (same weights, bit
for bit: tests/test_training.py), so it does less work per image than the plain step.

    python benchmarks/train_speed.py [--steps 6] [--batch 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import best_time, count_flops, machine_header, matmul_peak_gflops, sync  # noqa: E402

from anogan_core.config import make_config  # noqa: E402
from anogan_core.models import Discriminator, Generator  # noqa: E402
from anogan_core.training import TrainSettings, train_dcgan  # noqa: E402


def plain_step_factory(width: int, resize_conv: bool, spectral_norm: bool, batch: int, device: torch.device):
    """The textbook DCGAN step (pytorch/examples style) on our models."""
    G, D = Generator(100, width, resize_conv).to(device), Discriminator(width, spectral_norm).to(device)
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


class OurLoop:
    """``train_dcgan`` at one width: its FLOPs per step (it skips D's weight gradients in G's
    step, so fewer than the plain step's) and, per call of :meth:`seconds_per_step`, its seconds per
    step and the seconds a run spends outside its steps (building the models, copying the
    data, the epoch's samples and checkpoint), from two whole runs of 2 and 2 + ``steps``
    steps: the difference is the loop."""

    def __init__(
        self, width: int, resize_conv: bool, spectral_norm: bool, batch: int, steps: int, device: torch.device
    ) -> None:
        self.batch, self.steps, self.device = batch, steps, device
        self.patches = np.random.default_rng(0).integers(0, 255, (batch * (steps + 2), 64, 64), dtype=np.uint8)
        self.settings = TrainSettings(
            width=width,
            epochs=1,
            batch_size=batch,
            resize_conv=resize_conv,
            spectral_norm=spectral_norm,
            checkpoint_seconds=1e9,
        )
        one_step = dataclasses.replace(self.settings, stop_after_steps=1)
        with tempfile.TemporaryDirectory() as tmp:
            self.flops = count_flops(lambda: train_dcgan(self.patches[:batch], one_step, tmp, device, progress=False))
        self._run(2)  # warm-up

    def _run(self, n_steps: int) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            sync(self.device)
            t0 = time.perf_counter()
            train_dcgan(self.patches[: self.batch * n_steps], self.settings, tmp, self.device, progress=False)
            sync(self.device)
            return time.perf_counter() - t0

    def seconds_per_step(self) -> tuple[float, float]:
        short, long = self._run(2), self._run(self.steps + 2)
        per_step = (long - short) / self.steps
        return per_step, short - 2 * per_step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of peak, plain and ours; medians")
    args = ap.parse_args()
    device, _ = machine_header()
    print(
        f"shared machines drift: each of {args.rounds} rounds measures the matmul peak, the plain step and our "
        "loop in turn; medians over the rounds (ratios and % of peak taken within each round)\n"
    )
    print(
        f"{'profile':>8} {'width':>5} {'G kernels, D':>12} {'img/s plain':>11} {'img/s ours':>10} {'ours/plain':>10} "
        f"{'GFLOP/img plain':>15} {'ours':>5} {'GFLOP/s plain':>13} {'ours':>6} {'% of peak plain':>15} {'ours':>6} "
        f"{'s outside loop':>14}"
    )
    for profile in ("cpu", "paper"):
        cfg = make_config(profile)  # the profile's width, G upsampling and D (cpu: tied kernels, spectral norm)
        plain = plain_step_factory(cfg.width, cfg.resize_conv, cfg.spectral_norm, args.batch, device)
        flops_plain = count_flops(plain)
        ours = OurLoop(cfg.width, cfg.resize_conv, cfg.spectral_norm, args.batch, args.steps, device)
        rounds = []
        for _ in range(args.rounds):
            peak = matmul_peak_gflops(device)
            t_plain = best_time(plain, device, repeats=args.steps)
            t_ours, fixed = ours.seconds_per_step()
            rate_plain, rate_ours = flops_plain / t_plain / 1e9, ours.flops / t_ours / 1e9
            rounds.append(
                [args.batch / t_plain, args.batch / t_ours, t_plain / t_ours, rate_plain, rate_ours,
                 100 * rate_plain / peak, 100 * rate_ours / peak, fixed]
            )  # fmt: skip
        rounds = np.array(rounds)
        ip, io, ratio, rp, ro, pp, po, fixed = np.median(rounds, axis=0)
        kernels = ("tied" if cfg.resize_conv else "free") + (", SN" if cfg.spectral_norm else ", plain")
        print(
            f"{profile:>8} {cfg.width:>5} {kernels:>12} {ip:>11.1f} {io:>10.1f} {ratio:>10.2f} "
            f"{flops_plain / args.batch / 1e9:>15.3f} {ours.flops / args.batch / 1e9:>5.3f} "
            f"{rp:>13.1f} {ro:>6.1f} {pp:>14.1f}% {po:>5.1f}% {fixed:>14.2f}"
        )
        ratios, shares = rounds[:, 2], rounds[:, 6]
        print(
            f"{'':>8} rounds: ours/plain {ratios.min():.2f}-{ratios.max():.2f}, "
            f"ours % of peak {shares.min():.1f}-{shares.max():.1f}"
        )


if __name__ == "__main__":
    main()
