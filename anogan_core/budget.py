"""A time budget for the heavy stages on one device: measure, project, choose.

Before training anything, :func:`measure_rates` times the DCGAN's and the aCAE's updates and the
mapping's steps on the device at hand, each at two lengths so that start-up costs cancel;
:func:`project` turns them into the projected seconds of each stage still to run (what a stage's
checkpoint already holds is not counted again); :func:`plan` keeps the stages that fit the budget
in priority order (the DCGAN, the AnoGAN mapping of Eq. 4-6, the GAN_R mapping, the aCAE) and lists
the rest with the reason. A stage that depends on a skipped one is skipped too.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .baselines import train_acae
from .config import Config, pick_device
from .mapping import map_to_latent
from .patches import decode
from .training import TrainSettings, load_dcgan, train_dcgan

PRIORITY = ("DCGAN", "AnoGAN", "GAN_R", "aCAE")
NEEDS = {"AnoGAN": "DCGAN", "GAN_R": "DCGAN"}


@dataclass(frozen=True)
class Rates:
    """Seconds per unit of work on one device, start-up excluded."""

    gan_step: float  # one DCGAN update (D and G) of a batch
    acae_step: float  # one aCAE update of a batch
    map_step: float  # one mapping step of a chunk of queries
    map_chunk_fixed: float  # per chunk: the start pool and the final scoring

    def describe(self) -> str:
        gan, acae, mapping = 1 / self.gan_step, 1 / self.acae_step, 1 / self.map_step
        return (
            f"DCGAN {gan:.1f} updates/s, aCAE {acae:.1f} updates/s, "
            f"mapping {mapping:.1f} steps/s per chunk (+{self.map_chunk_fixed:.2f} s per chunk)"
        )


@dataclass(frozen=True)
class Work:
    """What is left of each stage: DCGAN and aCAE updates, and mapping chunks and steps."""

    gan_steps: int
    acae_steps: int
    map_chunks: dict[str, int]  # per mapping ('AnoGAN', 'GAN_R'): chunks not yet on disk
    map_steps: int  # Gamma


@dataclass(frozen=True)
class Decision:
    stage: str
    seconds: float
    run: bool
    reason: str


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_rates(cfg: Config, patches: np.ndarray, settings: TrainSettings, mapping: dict, short: int = 3,
                  long: int = 12) -> Rates:  # fmt: skip
    """Time ``short`` and ``long`` updates of the DCGAN and of the aCAE, and ``short`` and ``long``
    mapping steps of one chunk (``mapping``: :func:`pipeline.mapping_settings`), on real patches;
    the differences give the rates without start-up. A warm-up run comes first (cuDNN's choices)."""
    device = pick_device()
    batch, chunk = settings.batch_size, min(cfg.map_chunk, len(patches))
    need = (long + 1) * batch
    if len(patches) < need:
        raise ValueError(f"measuring the rates needs {need} training patches, got {len(patches)}")
    with tempfile.TemporaryDirectory() as tmp:

        def gan(steps: int, name: str) -> float:
            one_epoch = dataclasses.replace(settings, epochs=1)
            return _timed(lambda: train_dcgan(patches[: steps * batch], one_epoch, Path(tmp) / name, device, False))

        def acae(steps: int, name: str) -> float:
            return _timed(lambda: train_acae(patches[: steps * batch], cfg.width, cfg.z_dim, 1, batch, cfg.lr_g, 0,
                                             Path(tmp) / name, device, False, cfg.resize_conv))  # fmt: skip

        gan(1, "warm")
        gan_step = per_unit(gan(short, "short"), gan(long, "long"), short, long)
        acae(1, "acae-warm")
        acae_step = per_unit(acae(short, "acae-short"), acae(long, "acae-long"), short, long)
        G, D, _, _ = load_dcgan(Path(tmp) / "long", device)
        x = decode(np.array(patches[:chunk]))

        def mapping_run(steps: int) -> float:
            return _timed(lambda: map_to_latent(G, D, x, **(mapping | {"steps": steps, "progress": False})))

        mapping_run(1)
        t_short, t_long = mapping_run(short), mapping_run(long)
    map_step = per_unit(t_short, t_long, short, long)
    return Rates(gan_step, acae_step, map_step, max(t_short - short * map_step, 0.0))


def per_unit(t_short: float, t_long: float, short: int, long: int) -> float:
    """Seconds per unit from timings of ``short`` and ``long`` units: the difference, which cancels
    start-up; where noise makes it no larger than nothing (a busy machine), the long run's mean,
    which overstates it rather than promising what will not fit."""
    diff = (t_long - t_short) / (long - short)
    return diff if diff > 0 else t_long / long


def project(work: Work, rates: Rates) -> dict[str, float]:
    """Projected seconds of each stage still to run."""
    out = {"DCGAN": work.gan_steps * rates.gan_step, "aCAE": work.acae_steps * rates.acae_step}
    for name, chunks in work.map_chunks.items():
        out[name] = chunks * (rates.map_chunk_fixed + work.map_steps * rates.map_step)
    return out


def plan(projected: dict[str, float], budget_s: float, wanted: set[str] | None = None) -> list[Decision]:
    """Which stages run within ``budget_s`` seconds, taken in :data:`PRIORITY` order: each one runs if
    it is wanted, what it needs runs or is done, and it fits in what the earlier ones left."""
    left, running, decisions = budget_s, set(), []
    for stage in PRIORITY:
        if stage not in projected:
            continue
        seconds = projected[stage]
        need = NEEDS.get(stage)
        if wanted is not None and stage not in wanted:
            decisions.append(Decision(stage, seconds, False, "not asked for"))
        elif need is not None and need in projected and need not in running:
            decisions.append(Decision(stage, seconds, False, f"needs the {need}, which is skipped"))
        elif seconds > left:
            decisions.append(Decision(stage, seconds, False, f"{seconds:.0f} s projected, {max(left, 0):.0f} s left"))
        else:
            left -= seconds
            running.add(stage)
            decisions.append(Decision(stage, seconds, True, "done already" if seconds == 0 else "fits"))
    return decisions
