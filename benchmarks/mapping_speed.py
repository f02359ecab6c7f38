"""Speed of the latent-space mapping (Section 2.2), measured side by side in one run:

* batched mapping against the same mapping done one image at a time (as public
  AnoGAN code does), at the cpu profile's width, in image-steps per second;
* the chunk size that gives the highest rate;
* at paper width, per chunk size: achieved GFLOP/s next to a matmul peak measured
  in the same run (before and after; the higher one counts),
  and the paper's test workload (8,192 patches x 500 steps) as an estimated time;
* beyond the paper, f-AnoGAN's izi_f encoder (one forward pass of E, G and D per query)
  against the iterative mapping at the profile's Gamma, in queries per second, at the
  cpu and the paper width, and the paper's test set scored by the encoder.

    python benchmarks/mapping_speed.py [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import count_flops, machine_header, matmul_peak_gflops, sync  # noqa: E402

from anogan_core.config import make_config  # noqa: E402
from anogan_core.encoder import Encoder, encode_and_score  # noqa: E402
from anogan_core.mapping import map_to_latent  # noqa: E402
from anogan_core.models import Discriminator, Generator  # noqa: E402


def rate(G, D, n: int, steps: int, chunk: int, device: torch.device) -> float:
    """Image-steps per second of mapping n queries with ``chunk`` at a time."""
    x = torch.rand(n, 1, 64, 64) * 2 - 1
    map_to_latent(G, D, x[: min(n, chunk)], steps=2, chunk=chunk, progress=False)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    map_to_latent(G, D, x, steps=steps, chunk=chunk, progress=False)
    sync(device)
    return n * steps / (time.perf_counter() - t0)


def encoder_rate(G, D, n: int, chunk: int, device: torch.device) -> float:
    """Queries per second scored by the izi_f encoder."""
    E = Encoder(G.z_dim, G.width).to(device).eval()
    x = torch.rand(n, 1, 64, 64) * 2 - 1
    encode_and_score(E, G, D, x[:chunk], chunk=chunk)  # warm-up
    sync(device)
    t0 = time.perf_counter()
    encode_and_score(E, G, D, x, chunk=chunk)
    sync(device)
    return n / (time.perf_counter() - t0)


def models(width: int, device: torch.device):
    torch.manual_seed(0)
    return Generator(100, width).to(device).eval(), Discriminator(width).to(device).eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    device, peak = machine_header()

    width = make_config("cpu").width
    G, D = models(width, device)
    single = rate(G, D, 8, args.steps, chunk=1, device=device)
    print(f"\ncpu width {width}: one image at a time {single:8.1f} img-steps/s")
    best_chunk, best = 0, 0.0
    for chunk in (32, 64, 150, 256, 512):
        r = rate(G, D, max(chunk, 256), args.steps, chunk, device)
        print(
            f"cpu width {width}: batched, chunk {chunk:>4}   {r:8.1f} img-steps/s  ({r / single:5.1f}x one-at-a-time)"
        )
        if r > best:
            best_chunk, best = chunk, r
    print(f"best chunk {best_chunk}: {best / single:.1f}x the one-at-a-time rate")

    G, D = models(64, device)
    chunks = (64, 128, 256) if device.type == "cpu" else (1024, 2048)
    steps = max(3, args.steps // 4)
    paper = {chunk: rate(G, D, chunk, steps, chunk, device) for chunk in chunks}
    peak_after = matmul_peak_gflops(device)
    peak = max(peak, peak_after)  # the higher of the two peaks: the ratio is not flattered
    x = torch.rand(8, 1, 64, 64) * 2 - 1
    flops_per_step = (
        (
            count_flops(lambda: map_to_latent(G, D, x, steps=3, chunk=8, progress=False))
            - count_flops(lambda: map_to_latent(G, D, x, steps=1, chunk=8, progress=False))
        )
        / 2
        / 8
    )
    print(f"\nmatmul peak again after the paper-width runs: {peak_after:.1f} GFLOP/s; the ratio uses {peak:.1f}")
    print(f"paper width 64: {flops_per_step / 1e9:.3f} GFLOP per img-step (G and D forward, backward to z)")
    for chunk, r in paper.items():
        achieved = r * flops_per_step / 1e9
        print(
            f"paper width 64, chunk {chunk:>4}: {r:7.1f} img-steps/s, {achieved:6.1f} GFLOP/s = "
            f"{100 * achieved / peak:5.1f}% of the matmul peak"
        )
    r = max(paper.values())
    print(
        f"paper test workload (8192 patches x 500 steps) on this {device.type}: "
        f"{8192 * 500 / r / 3600:.2f} h estimated from the best measured rate"
    )

    print("\nbeyond the paper: the izi_f encoder against the iterative mapping, queries per second")
    for profile in ("cpu", "paper"):
        cfg = make_config(profile)
        G, D = models(cfg.width, device)
        chunk = 64 if device.type == "cpu" else 1024
        iterative = rate(G, D, 256, max(3, args.steps // 4), chunk, device) / cfg.steps
        encoder = encoder_rate(G, D, 2048, chunk, device)
        print(
            f"{profile} profile (width {cfg.width}, Gamma {cfg.steps}): iterative {iterative:8.2f} queries/s, "
            f"encoder {encoder:8.1f} queries/s: {encoder / iterative:,.0f}x"
        )
    print(f"paper test set (8192 patches) scored by the encoder at paper width: {8192 / encoder:.0f} s")


if __name__ == "__main__":
    main()
