"""G's checkerboard with the paper's free 5x5 kernels and with resize-convolution, side by side.

Trains the DCGAN of the cpu profile twice in one run, once with free 5x5 stride-2
transposed kernels (the paper) and once with each kernel tied to a 4x4 kernel
convolved with a 2x2 box (``resize_conv``, models.ResizeConvTranspose), and prints
after each checkpoint epoch the period-2 amplitude of 1,024 generated patches
divided by that of 1,024 real training patches (anogan_core.sample_quality), across
columns and down rows (1: as much as real speckle; above: a checkerboard), the mean
D(x) and D(G(z)) of the last logged steps and the training time. This is how the cpu
profile's ``resize_conv`` was chosen (about 2 minutes per epoch and recipe on 2 cores
for the real data). With ``--grid`` it also saves 16 samples of each as a PNG.

    python benchmarks/checkerboard.py [--dataset oct --data-dir PATH] [--epochs 1,2] [--grid out.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anogan_core.config import make_config, pick_device  # noqa: E402
from anogan_core.models import sample_z  # noqa: E402
from anogan_core.patches import decode  # noqa: E402
from anogan_core.pipeline import prepare_data, train_settings  # noqa: E402
from anogan_core.sample_quality import checkerboard_amplitude  # noqa: E402
from anogan_core.training import load_dcgan, train_dcgan  # noqa: E402

N_SAMPLES = 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic", choices=("synthetic", "oct"))
    parser.add_argument("--data-dir", default=None, help="the OCT data folder (dataset oct)")
    parser.add_argument("--epochs", default="1,2", help="comma-separated checkpoints (epochs)")
    parser.add_argument("--grid", default=None, help="save 16 samples of each recipe at the last epoch to this PNG")
    args = parser.parse_args()
    cfg = make_config("cpu", args.dataset, args.data_dir)
    device = pick_device()
    train, _ = prepare_data(cfg, progress=False)
    rng = np.random.default_rng(cfg.seed)
    real = decode(train.x[rng.choice(len(train), N_SAMPLES, replace=False)]).squeeze(1).numpy()
    real_amp = checkerboard_amplitude(real)
    z = sample_z(N_SAMPLES, cfg.z_dim, torch.Generator().manual_seed(cfg.seed + 1), device)
    print(f"{args.dataset} cpu data: {len(train)} training patches, width {cfg.width}, batch {cfg.batch_size}")
    print(f"real patches: period-2 amplitude across columns {real_amp[0]:.4f}, down rows {real_amp[1]:.4f}")
    checkpoints = [int(e) for e in args.epochs.split(",")]
    grids = {}
    for resize_conv in (False, True):
        kernels = "tied (resize-convolution)" if resize_conv else "free 5x5 (paper)"
        with tempfile.TemporaryDirectory() as tmp:
            for epochs in checkpoints:
                settings = replace(train_settings(cfg), epochs=epochs, resize_conv=resize_conv)
                t0 = time.perf_counter()
                train_dcgan(train.x, settings, Path(tmp), device, progress=False)
                train_s = time.perf_counter() - t0
                G, _, history, _ = load_dcgan(Path(tmp), device)
                with torch.no_grad():
                    fake = G(z).squeeze(1).float().cpu().numpy()
                amp = checkerboard_amplitude(fake)
                tail = history[-8:]
                row = {
                    "G kernels": kernels,
                    "epochs": epochs,
                    "train_s (this leg)": round(train_s),
                    "checkerboard across columns (x real)": round(amp[0] / real_amp[0], 2),
                    "checkerboard down rows (x real)": round(amp[1] / real_amp[1], 2),
                    "D(x)": round(float(np.mean([h["d_real"] for h in tail])), 2),
                    "D(G(z))": round(float(np.mean([h["d_fake"] for h in tail])), 2),
                }
                print(json.dumps(row), flush=True)
            grids["tied" if resize_conv else "free", kernels] = fake[:16]
    if args.grid:
        from anogan_core.figures import patch_grid

        for (short, kernels), images in grids.items():
            fig = patch_grid(images, f"{args.dataset}, {checkpoints[-1]} epochs, G kernels {kernels}")
            path = Path(args.grid).with_stem(f"{Path(args.grid).stem}-{short}")
            fig.savefig(path, dpi=100)
            print(f"saved {path}")


if __name__ == "__main__":
    main()
