"""Shared helpers of the benchmarks: a matmul peak measured in the same run, FLOP counts, and
the validation numbers of one configuration on real OCT."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from anogan_core import pipeline, scaling
from anogan_core.anomaly_maps import pixel_metrics
from anogan_core.baselines import floor_scores
from anogan_core.config import Config
from anogan_core.metrics import auc

COMPARISONS = {name: short for short, name in scaling.COMPARISONS.items()}  # pipeline's name -> table column


def machine_header() -> tuple[torch.device, float]:
    """Print the device and a matmul peak measured now; return both."""
    from anogan_core.config import pick_device

    device = pick_device()
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    peak = matmul_peak_gflops(device)
    print(f"matmul peak (float32 2048^3, best of 10): {peak:.1f} GFLOP/s")
    return device, peak


def matmul_peak_gflops(device: torch.device, n: int = 2048, repeats: int = 10) -> float:
    """Best-of GFLOP/s of an n x n float32 matrix multiply on this machine, now."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def count_flops(step: Callable[[], None]) -> int:
    """FLOPs of one call of ``step`` (forward and backward, as executed)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def best_time(step: Callable[[], None], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median seconds of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def validation_row(cfg: Config) -> dict[str, Any]:
    """One real-OCT configuration on the *validation* split (held-out healthy training patients and
    3 of Duke's 10 subjects; no test label is read): AUC of A(x) per comparison (short names of
    ``COMPARISONS``), the darkness floor within Duke, the pixel AUROC of the residual map over the
    Duke validation patches, and the seconds of GAN training and of the mapping (both as first
    computed: a cached stage keeps its original time)."""
    train, test = pipeline.prepare_data(cfg)
    pipeline.trained_gan(cfg)
    result = pipeline.mapped(cfg, "feature", "validation")
    index = pipeline.query_index(cfg, "validation", train, test)
    row: dict[str, Any] = {"training patches": len(train), "validation patches": len(index)}
    for comparison, (idx, labels) in pipeline.comparisons(test, "validation").items():
        row[COMPARISONS[comparison]] = auc(labels, result.anomaly[np.searchsorted(index, idx)])
    idx, labels = pipeline.comparisons(test, "validation")["Duke fluid vs Duke non-fluid"]
    row["darkness floor"] = auc(labels, floor_scores(test.x[idx])["darkness (-mean)"])
    duke = np.searchsorted(index, idx)
    row["pixel AUROC"] = pixel_metrics(result.residual_image[duke], test.mask[idx])["pixel_auroc"]
    row["GAN s"] = pipeline.gan_record(cfg)["train_s"]
    row["map s"] = pipeline.mapping_seconds(cfg, "feature", "validation")
    return row
