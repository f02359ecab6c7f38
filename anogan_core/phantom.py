"""A seeded synthetic SD-OCT phantom that knows its own ground truth.

Each B-scan is built in *retinal depth coordinates*: a depth fraction u in [0, 1]
from the inner limiting membrane (ILM, u = 0) to the bottom of the retinal pigment
epithelium (RPE, u = 1) is mapped to a reflectivity by a layer profile (bright
nerve-fibre layer, dark nuclear layers, bright IS/OS line and RPE band). The
boundaries are smooth curves with a foveal pit. Fluid pockets (intraretinal cysts,
subretinal fluid) are dark intervals inserted into a column's depth axis, so the
layers above them are pushed up, as in real edema. Hyperreflective foci are small
bright dots. Multiplicative speckle, log compression and additive noise finish the
image. Sizes follow Spectralis exports: 496 rows at ~3.9 um, 512 or 768 columns
over ~6 mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

ROWS = 496
AXIAL_UM = 3.87
WIDTH_MM = 6.0

# (depth fraction where the layer starts, reflectivity): NFL, GCL, IPL, INL, OPL,
# ONL, ELM/IS-OS, outer segments, RPE.
_LAYERS = (
    (0.00, 0.60),  # nerve-fibre layer
    (0.12, 0.28),  # ganglion cell layer
    (0.22, 0.38),  # inner plexiform layer
    (0.33, 0.11),  # inner nuclear layer (dark)
    (0.44, 0.33),  # outer plexiform layer
    (0.52, 0.07),  # outer nuclear layer (dark)
    (0.78, 0.70),  # ELM / IS-OS line
    (0.83, 0.20),  # outer segments
    (0.88, 1.00),  # RPE band (brightest)
)


@dataclass(frozen=True)
class PhantomScan:
    """One synthetic B-scan (uint8) with its true geometry (rows, float)."""

    image: np.ndarray  # (rows, cols) uint8
    top: np.ndarray  # (cols,) ILM row
    bottom: np.ndarray  # (cols,) bottom of the RPE row
    fluid: np.ndarray  # (rows, cols) bool
    foci: np.ndarray  # (rows, cols) bool
    diseased: bool
    width_mm: float = WIDTH_MM


def _layer_reflectivity(u: np.ndarray) -> np.ndarray:
    starts = np.array([s for s, _ in _LAYERS])
    values = np.array([v for _, v in _LAYERS])
    # smooth transitions between layers over ~1.5% of the thickness
    refl = np.full_like(u, values[0])
    for s, v_prev, v in zip(starts[1:], values[:-1], values[1:]):
        step = 0.5 * (1 + np.tanh((u - s) / 0.012))
        refl = refl + (v - v_prev) * step
    return refl


def make_scan(
    rng: np.random.Generator,
    diseased: bool = False,
    cols: int | None = None,
    foci: bool | None = None,
) -> PhantomScan:
    """Draw one B-scan. ``diseased`` adds fluid (and usually foci)."""
    cols = int(cols or rng.choice([512, 768]))
    x = np.arange(cols, dtype=float)
    xc = x / cols - 0.5
    # retina: a tilted arc; thickness ~ 280 um (72 px) away from the fovea
    base = rng.uniform(150, 260)
    curvature = rng.uniform(-60, 120)
    tilt = rng.uniform(-40, 40)
    bottom = base + 75 + curvature * xc**2 + tilt * xc + 3 * np.sin(2 * np.pi * xc * rng.uniform(1, 2))
    fovea = rng.uniform(-0.12, 0.12)
    pit = rng.uniform(25, 40) * np.exp(-(((xc - fovea) / 0.07) ** 2))
    thickness = rng.uniform(68, 80) - pit  # rows from ILM to bottom of RPE
    fluid_lo = np.zeros(cols)  # inserted fluid interval per column: start depth (rows)
    fluid_h = np.zeros(cols)  # its height (rows)
    if diseased:
        for _ in range(rng.integers(1, 4)):
            # intraretinal cyst in the INL/ONL, or subretinal fluid above the RPE
            subretinal = rng.random() < 0.35
            cx = rng.uniform(-0.35, 0.35)
            rx = rng.uniform(0.03, 0.10) if not subretinal else rng.uniform(0.08, 0.18)
            h = rng.uniform(10, 35) if not subretinal else rng.uniform(8, 22)
            prof = np.sqrt(np.clip(1 - ((xc - cx) / rx) ** 2, 0, None))
            depth = rng.uniform(0.38, 0.65) if not subretinal else 0.80
            inside = prof > 0
            add = h * prof
            take = inside & (add > fluid_h)
            fluid_lo[take] = depth * thickness[take]
            fluid_h[take] = add[take]
    top = bottom - thickness - fluid_h  # the ILM is pushed up by the fluid below it

    rows = np.arange(ROWS, dtype=float)[:, None]
    y_rel = rows - top[None, :]  # rows below the ILM
    lo, hi = fluid_lo[None, :], (fluid_lo + fluid_h)[None, :]
    in_fluid = (y_rel >= lo) & (y_rel < hi) & (fluid_h[None, :] > 0.5)
    y_eff = np.where(y_rel >= hi, y_rel - fluid_h[None, :], np.minimum(y_rel, lo))
    u = y_eff / thickness[None, :]
    refl = _layer_reflectivity(np.clip(u, 0, 1))
    # the NFL thins towards the fovea: darken its lower part there
    refl = np.where((u > 0.06) & (u < 0.12), refl - 0.3 * pit[None, :] / 40, refl)
    vitreous = u < 0
    choroid_depth = np.clip(u - 1, 0, None) * thickness[None, :]
    vessels = gaussian_filter(rng.standard_normal((ROWS, cols)), (4, 8))
    choroid = 0.3 * np.exp(-choroid_depth / 30) * np.clip(1 + 4 * vessels, 0.15, None)
    refl = np.where(vitreous, 0.004, np.where(u > 1, choroid, refl))
    refl = np.where(in_fluid, 0.004, refl)  # fluid scatters no light: as dark as the vitreous

    foci_mask = np.zeros((ROWS, cols), bool)
    if foci if foci is not None else (diseased and rng.random() < 0.7):
        for _ in range(rng.integers(2, 7)):
            fx = int(rng.integers(10, cols - 10))
            fy = int(top[fx] + rng.uniform(0.25, 0.7) * (bottom[fx] - top[fx]))
            r = rng.uniform(1.5, 2.8)
            yy, xx = np.ogrid[:ROWS, :cols]
            dot = (yy - fy) ** 2 + ((xx - fx) / 1.3) ** 2 <= r**2
            dot &= ~in_fluid
            foci_mask |= dot
        refl = np.where(foci_mask, 1.1, refl)

    # speckle: gamma-distributed intensity, correlated over ~2 px laterally
    speckle = rng.gamma(1.3, 1 / 1.3, size=(ROWS, cols))
    speckle = gaussian_filter(speckle, (0.6, 1.2))
    signal = refl * speckle
    img = np.log1p(12 * signal) / np.log1p(12 * 1.2)
    img = img + np.abs(rng.normal(0, 0.08, size=img.shape))
    image = np.clip(img * 245, 0, 255).astype(np.uint8)
    return PhantomScan(
        image=image,
        top=top.astype(np.float32),
        bottom=bottom.astype(np.float32),
        fluid=in_fluid,
        foci=foci_mask,
        diseased=diseased,
    )


def make_scans(n: int, seed: int, diseased: bool = False) -> list[PhantomScan]:
    """``n`` scans from one seed; healthy and diseased streams never share draws."""
    rng = np.random.default_rng([seed, 1 if diseased else 0])
    return [make_scan(rng, diseased=diseased) for _ in range(n)]
