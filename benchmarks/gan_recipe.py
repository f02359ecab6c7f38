"""GAN recipe against detection quality, side by side in one run, on the phantom.

Trains the DCGAN with the paper's plain recipe (Adam lr 2e-4 for G and D), with a
slower discriminator (lr_d 5e-5, a two time-scale update in the spirit of Heusel et
al. 2017) and, with ``--spectral-norm false,true``, with and without D's layers
spectrally normalised (Miyato et al. 2018), checkpointing at the given epochs. At
each checkpoint it prints the mean D(x) and D(G(z)) of the last logged steps and
the AUC of A(x) (Eq. 6) and
R(x) (Eq. 3) after 50 and 100 mapping steps on a seeded sample of the phantom's
patch-level test set (fluid vs normal), also split by the fluid's share of the
patch (small fluid spots are the hard cases). This is how the cpu profile's recipe was
chosen; the slow part is training (about 1 minute per epoch on 2 cores).

    python benchmarks/gan_recipe.py [--epochs 3,6] [--queries 300] [--lr-d 2e-4,5e-5] [--batch 64,32]
                                    [--spectral-norm false,true]
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
from anogan_core.mapping import map_to_latent  # noqa: E402
from anogan_core.metrics import auc, auc_by_stratum  # noqa: E402
from anogan_core.patches import decode  # noqa: E402
from anogan_core.pipeline import patch_level, prepare_data, train_settings  # noqa: E402
from anogan_core.training import load_dcgan, train_dcgan  # noqa: E402

FLUID_AREA_EDGES = (0, 0.02, 0.05, 0.2, 1)  # fraction of a patch's pixels that are fluid


def _flag(text: str) -> bool:
    if text.strip().lower() not in ("false", "true"):
        raise SystemExit(f"error: --spectral-norm takes false and/or true, comma-separated; got {text!r}")
    return text.strip().lower() == "true"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="3,6", help="comma-separated checkpoints (epochs)")
    parser.add_argument("--lr-d", default="2e-4,5e-5", help="comma-separated discriminator learning rates")
    parser.add_argument("--batch", default="64", help="comma-separated batch sizes")
    parser.add_argument("--spectral-norm", default="false", help="comma-separated: false (the paper), true")
    parser.add_argument("--queries", type=int, default=300, help="test patches mapped per checkpoint")
    parser.add_argument("--steps", type=int, default=100, help="mapping steps (Gamma)")
    args = parser.parse_args()
    cfg = make_config("cpu", "synthetic")
    device = pick_device()
    train, test = prepare_data(cfg)
    rng = np.random.default_rng(cfg.seed)
    idx = np.sort(rng.choice(patch_level(test), args.queries, replace=False))
    x, y = decode(test.x[idx]), test.label[idx].astype(int)
    fluid_area = test.mask[idx].mean(axis=(1, 2))
    z_init = torch.rand(len(idx), cfg.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 7)) * 2 - 1
    gammas = [g for g in (50, args.steps) if g <= args.steps]
    print(
        f"phantom cpu data: {len(train)} training patches; {len(idx)} queries ({y.sum()} with fluid); width {cfg.width}"
    )
    norms = [_flag(v) for v in args.spectral_norm.split(",")]
    lr_ds, batches = [float(v) for v in args.lr_d.split(",")], [int(v) for v in args.batch.split(",")]
    recipes = [(sn, lr_d, b) for sn in norms for lr_d in lr_ds for b in batches]
    for spectral_norm, lr_d, batch in recipes:
        with tempfile.TemporaryDirectory() as tmp:
            for epochs in (int(e) for e in args.epochs.split(",")):
                settings = replace(
                    train_settings(cfg), epochs=epochs, lr_d=lr_d, batch_size=batch, spectral_norm=spectral_norm
                )
                t0 = time.perf_counter()
                train_dcgan(train.x, settings, Path(tmp), device, progress=False)
                train_s = time.perf_counter() - t0
                G, D, history, _ = load_dcgan(Path(tmp), device)
                r = map_to_latent(G, D, x, steps=args.steps, lam=cfg.lam, lr=cfg.map_lr, chunk=cfg.map_chunk,
                                  z_init=z_init, record=True, progress=False)  # fmt: skip
                tail = history[-8:]
                row = {
                    "spectral_norm": spectral_norm, "lr_g": cfg.lr_g, "lr_d": lr_d, "batch": batch, "epochs": epochs,
                    "train_s (this leg)": round(train_s),
                    "D(x)": round(float(np.mean([h["d_real"] for h in tail])), 2),
                    "D(G(z))": round(float(np.mean([h["d_fake"] for h in tail])), 2),
                }  # fmt: skip
                for g in gammas:
                    row[f"AUC A, Gamma {g}"] = round(auc(y, r.score_at(g)), 3)
                    row[f"AUC R, Gamma {g}"] = round(auc(y, r.trajectory[g, :, 0]), 3)
                print(json.dumps(row), flush=True)
                by_area = auc_by_stratum(y, r.anomaly, fluid_area, FLUID_AREA_EDGES)
                print(
                    "  AUC of A by fluid area:",
                    ", ".join(f"({b['lo']:g}, {b['hi']:g}] {b['auc']:.3f} (n={b['n_pos']})" for b in by_area),
                )


if __name__ == "__main__":
    main()
