"""Patch sets of Section 2.1: K random c x c patches per flattened scan.

Patches are stored as uint8 (one byte per pixel: 1,000,000 patches of 64x64 are
4 GB, memory-mapped from an ``.npy`` file rather than held in RAM). Each test
patch keeps its label (anomalous if it holds at least one fluid pixel, Section 3),
its scan, patient, position and mask patch for the pixel-level evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .preprocess import FLAT_RPE_ROW, FlatScan
from .storage import atomic_write, load_json, save_json

MIN_RETINA_FRACTION = 0.5  # a 'window' patch must lie mostly inside the retina
ROWS_BELOW_RPE = 8  # a 'window' patch may reach this far into the choroid
ROWS_ABOVE_ILM = 12  # and this far into the vitreous
REGIONS = ("window", "retina")


def encode(x: np.ndarray) -> np.ndarray:
    """[-1, 1] floats to uint8 (step 2/255)."""
    return np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def decode(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 patches to a float tensor in [-1, 1] with a channel axis: (N, 1, c, c)."""
    t = torch.as_tensor(np.asarray(x))
    return (t.float() / 127.5 - 1.0).unsqueeze(1)


def sample_positions(flat: FlatScan, k: int, size: int, rng: np.random.Generator, region: str = "window") -> np.ndarray:
    """Up to ``k`` (row, col) corners of valid patches in ``region``.

    'window': at least half of the patch inside the retina; it may reach 12 rows into
    the vitreous and 8 into the choroid. 'retina' (beyond the paper): every pixel between
    the ILM and the bottom of the RPE, so no patch holds vitreous or choroid; where the
    retina is thinner than a patch (the fovea) no patch is taken.
    """
    if region not in REGIONS:
        raise ValueError(f"unknown patch region {region!r}; allowed: {', '.join(REGIONS)}")
    rows, cols = flat.image.shape
    if cols < size:
        return np.zeros((0, 2), dtype=np.int32)
    n = 30 * k
    c0 = rng.integers(0, cols - size + 1, n)
    if region == "retina":
        lo = np.ceil([flat.top[c : c + size].max() for c in c0]).astype(int)
        hi = FLAT_RPE_ROW + 1 - size
    else:
        lo = np.array([flat.top[c : c + size].min() for c in c0]) - ROWS_ABOVE_ILM
        hi = FLAT_RPE_ROW + ROWS_BELOW_RPE - size
    lo = np.clip(lo, 0, rows - size).astype(int)
    hi = np.clip(hi, 0, rows - size)
    r0 = lo + (rng.random(n) * np.maximum(hi - lo + 1, 1)).astype(int)
    r0 = np.minimum(r0, rows - size)
    # integral images make the validity and retina-fraction tests O(1) per patch
    row_idx = np.arange(rows)[:, None]
    retina = (row_idx >= flat.top[None, :]) & (row_idx <= FLAT_RPE_ROW)
    valid_sum = _box_sums(flat.valid, r0, c0, size)
    retina_sum = _box_sums(retina, r0, c0, size)
    fraction = 1.0 if region == "retina" else MIN_RETINA_FRACTION
    ok = (valid_sum == size * size) & (retina_sum >= fraction * size * size)
    keep = np.flatnonzero(ok)[:k]
    return np.stack([r0[keep], c0[keep]], axis=1).astype(np.int32)


def _box_sums(mask: np.ndarray, r0: np.ndarray, c0: np.ndarray, size: int) -> np.ndarray:
    ii = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    ii[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    r1, c1 = r0 + size, c0 + size
    return ii[r1, c1] - ii[r0, c1] - ii[r1, c0] + ii[r0, c0]


@dataclass
class PatchSet:
    """Patches (uint8) and, per patch, where they came from and what they hold."""

    x: np.ndarray  # (N, c, c) uint8, possibly a memory map
    scan: np.ndarray  # (N,) index into ``scans``
    pos: np.ndarray  # (N, 2) row, col of the top-left corner in the flattened scan
    label: np.ndarray  # (N,) 1 if the patch holds a fluid pixel
    mask: np.ndarray | None  # (N, c, c) bool fluid mask patches (test sets)
    foci: np.ndarray  # (N,) 1 if the patch holds a hyperreflective focus
    scans: list[dict]  # per scan: name, patient, label, source

    def __len__(self) -> int:
        return len(self.x)

    def column(self, key: str) -> np.ndarray:
        """A per-scan field broadcast to patches, e.g. ``column('source')``."""
        values = np.array([s[key] for s in self.scans])
        return values[self.scan]

    def subset(self, index: np.ndarray) -> PatchSet:
        return PatchSet(
            x=np.asarray(self.x[index]),
            scan=self.scan[index],
            pos=self.pos[index],
            label=self.label[index],
            mask=None if self.mask is None else self.mask[index],
            foci=self.foci[index],
            scans=self.scans,
        )

    def save(self, folder: Path) -> None:
        folder = Path(folder)
        atomic_write(folder / "x.npy", lambda fh: np.save(fh, self.x))
        if self.mask is not None:
            atomic_write(folder / "mask.npy", lambda fh: np.save(fh, np.packbits(self.mask, axis=-1)))
        meta = {k: getattr(self, k) for k in ("scan", "pos", "label", "foci")}
        atomic_write(folder / "meta.npz", lambda fh: np.savez(fh, **meta))
        save_json(folder / "scans.json", self.scans)

    @classmethod
    def load(cls, folder: Path) -> PatchSet:
        folder = Path(folder)
        meta = np.load(folder / "meta.npz")
        mask_path = folder / "mask.npy"
        mask = np.unpackbits(np.load(mask_path), axis=-1).astype(bool) if mask_path.exists() else None
        return cls(
            x=np.load(folder / "x.npy", mmap_mode="r"),
            scan=meta["scan"],
            pos=meta["pos"],
            label=meta["label"],
            mask=mask,
            foci=meta["foci"],
            scans=load_json(folder / "scans.json"),
        )


def extract_patches(
    flats: list[FlatScan],
    scan_info: list[dict],
    k: int,
    seed: int,
    size: int = 64,
    with_masks: bool = False,
    region: str = "window",
) -> PatchSet:
    """K random patches per flattened scan from ``region`` (see :func:`sample_positions`),
    seeded per scan (order-independent).

    Positions are drawn first and the arrays allocated once, so the peak memory
    is the patch array itself (1 byte per pixel).
    """
    positions = [
        sample_positions(flat, k, size, np.random.default_rng([seed, i]), region) for i, flat in enumerate(flats)
    ]
    scan = np.repeat(np.arange(len(flats), dtype=np.int32), [len(p) for p in positions])
    pos = np.concatenate(positions) if positions else np.zeros((0, 2), np.int32)
    n = len(pos)
    x = np.empty((n, size, size), np.uint8)
    label, foci = np.zeros(n, np.int8), np.zeros(n, np.int8)
    masks = np.zeros((n, size, size), bool) if with_masks else None
    for j, (i, (r, c)) in enumerate(zip(scan, pos)):
        flat = flats[i]
        x[j] = encode(flat.image[r : r + size, c : c + size])
        if flat.fluid is not None:
            fluid = flat.fluid[r : r + size, c : c + size]
            label[j] = fluid.any()
            if masks is not None:
                masks[j] = fluid
        if flat.foci is not None:
            foci[j] = flat.foci[r : r + size, c : c + size].any()
    return PatchSet(x=x, scan=scan, pos=pos, label=label, mask=masks, foci=foci, scans=scan_info)
