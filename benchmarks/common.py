"""Shared helpers of the benchmarks: a matmul peak measured in the same run, FLOP counts."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode


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
