"""Score new B-scans with the trained model of normal appearance of a finished run.

Each scan is read (grey, RGB, RGBA or 16-bit files), cropped of constant borders (a
frame or figure margin; saturated white export padding is masked instead, as in
training), preprocessed exactly like the run's test scans (resampled to the run's
column width, flattened, optionally despeckled), and tiled by 64x64 windows with a
stride of 16 (4 where a thin retina holds no window of that grid) in the run's patch
region. All windows of a scan are mapped to the latent space in one batch with the
run's mapping settings (Section 2.2) and scored with
A(x) = (1 - lambda) R(x) + lambda D(x) (Eq. 6), or, beyond the paper, scored in one
pass by the run's izi_f encoder (:mod:`encoder`). The scan's score is the mean of the
top quarter of its windows' scores, the aggregation of the book's B-scan-level test
(:func:`metrics.scan_score`); the windows' residual images, averaged where they
overlap, give the scan's anomaly map.

A file that cannot be scored (unreadable, empty, constant, too small, no retina found,
no window fits) is refused with one line naming the reason; the others are scored.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .anomaly_maps import stitch, window_positions
from .config import Config, pick_device
from .datasets import IMAGE_SUFFIXES, KERMANY_WIDTH_MM, DataError, Scan, read_gray
from .encoder import Encoder, encode_and_score, load_encoder
from .mapping import map_to_latent
from .metrics import scan_score
from .models import Discriminator, Generator
from .patches import decode, encode
from .pipeline import mapping_settings, preprocess
from .preprocess import SATURATED, FlatScan, PreprocessError
from .storage import load_json
from .training import load_dcgan

WINDOW = 64
MAPPINGS = ("iterative", "encoder")
STRIDE = 16
FINE_STRIDE = 4  # tried when no window of the stride fits a scan's retina


class RunError(ValueError):
    """A run folder that holds no usable trained model."""


@dataclass
class ScanScore:
    """One scored B-scan: its score, every window's scores and position, and its map."""

    path: Path
    score: float  # mean A(x) of the top quarter of the windows
    positions: np.ndarray  # (N, 2) row, col of each window in the flattened scan
    anomaly: np.ndarray  # (N,) A(x), Eq. 6
    residual: np.ndarray  # (N,) R(x), Eq. 3
    discrimination: np.ndarray  # (N,) D(x), Eq. 4
    heat: np.ndarray  # stitched residual map over the flattened scan (NaN outside the windows)
    flat: FlatScan
    seconds: float


@dataclass
class ScanScores:
    """The scored scans and, per refused file, the reason."""

    scored: list[ScanScore] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)


@dataclass
class TrainedRun:
    """A finished run's configuration and its trained G and D."""

    run_dir: Path
    cfg: Config
    G: Generator
    D: Discriminator
    gan_dir: Path
    encoder: Encoder | None = None  # set when the run scores with f-AnoGAN's izi_f encoder


def load_run(run_dir: str | Path, mapping: str = "iterative", device: torch.device | None = None) -> TrainedRun:
    """The configuration (``metrics.json``) and trained DCGAN of a run folder ``runs/<run>``, and
    its izi_f encoder for ``mapping='encoder'`` (beyond the paper, trained by the fast-mapping chapter).

    They live in the run's stage cache ``<runs>/cache/<dataset>-<stage>-<key>``; if the code or
    settings they depend on changed since, the key differs and the error says so."""
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown mapping {mapping!r}; allowed: {', '.join(MAPPINGS)}")
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        raise RunError(f"{run_dir}: not a run folder (no metrics.json); build the book for it first")
    recorded = load_json(metrics).get("config")
    if not recorded:
        raise RunError(f"{metrics}: no 'config' entry; rebuild the run's chapters")
    names = {f.name for f in dataclasses.fields(Config)} - {"overrides"}
    cfg = Config(**{k: v for k, v in recorded.items() if k in names})
    gan_dir = run_dir.parent / "cache" / f"{cfg.dataset}-gan-{cfg.stage_key('gan')}"
    if not (gan_dir / "done.json").is_file():
        raise RunError(
            f"{run_dir}: its trained DCGAN is not at {gan_dir} (the code or data settings changed since the run, "
            f"or its GAN chapter never finished); rebuild it: python scripts/book.py run 02_dcgan "
            f"--profile {cfg.profile} --dataset {cfg.dataset}"
        )
    device = device or pick_device()
    G, D, _, _ = load_dcgan(gan_dir, device)
    if mapping == "iterative":
        return TrainedRun(run_dir, cfg, G, D, gan_dir)
    encoder_dir = run_dir.parent / "cache" / f"{cfg.dataset}-encoder-{cfg.stage_key('encoder')}"
    if not (encoder_dir / "done.json").is_file():
        raise RunError(
            f"{run_dir}: its izi_f encoder is not at {encoder_dir}; train it: python scripts/book.py run "
            f"07_fast_mapping --profile {cfg.profile} --dataset {cfg.dataset}"
        )
    return TrainedRun(run_dir, cfg, G, D, gan_dir, load_encoder(encoder_dir, device)[0])


def image_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files to score: each input file as given, each folder's image files (not recursive), sorted."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(item)
    return out


def crop_constant_border(image: np.ndarray) -> np.ndarray:
    """``image`` without its outer rows and columns that hold one constant value (a frame or a
    figure margin); empty when the whole image is constant. Saturated white borders stay: they are
    the scanners' export padding, which preprocessing masks as in training (:func:`preprocess.padding_mask`),
    and the scan's width in millimetres includes them."""

    def content(axis: int) -> np.ndarray:
        hi, lo = image.max(axis=axis), image.min(axis=axis)
        return np.flatnonzero((hi != lo) | (lo >= SATURATED))

    rows, cols = content(1), content(0)
    if not len(rows) or not len(cols):
        return image[:0, :0]
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def read_scan(path: Path, width_mm: float = KERMANY_WIDTH_MM) -> Scan:
    """A file as a :class:`Scan` ready to preprocess, or :class:`DataError` with the reason."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")
    image = read_gray(path)
    cropped = crop_constant_border(image)
    if cropped.size == 0:
        raise DataError(f"{path}: constant image (every pixel is {int(image.flat[0])}), nothing to score")
    if min(cropped.shape) < WINDOW:
        raise DataError(
            f"{path}: too small, {cropped.shape[0]}x{cropped.shape[1]} pixels after cropping constant borders; "
            f"a scan needs at least {WINDOW}x{WINDOW}"
        )
    return Scan(cropped, "score", path.stem, path.stem, "UNKNOWN", width_mm)


def score_flat_scan(
    run: TrainedRun, flat: FlatScan, stride: int = STRIDE, positions: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """(window positions, A, R, D, stitched residual map) of one flattened scan, mapped like the run's
    test patches (its steps, lambda, learning rate, start pool, residual low-pass; Section 2.2), or
    scored by the run's encoder (A_izi_f, A_R and A_D of :mod:`encoder`).

    The windows tile the run's patch region with ``stride``, or stand at the given ``positions``
    ((N, 2) top-left corners, e.g. a test set's patches)."""
    cfg = run.cfg
    if positions is None:
        pos = window_positions(flat, WINDOW, stride, cfg.patch_region)
        if not len(pos) and stride > FINE_STRIDE:  # a thin retina may hold windows between the grid's
            pos = window_positions(flat, WINDOW, FINE_STRIDE, cfg.patch_region)
    else:
        pos = np.asarray(positions)
    if not len(pos):
        raise PreprocessError(f"no {WINDOW}x{WINDOW} window fits the detected retina ({cfg.patch_region} region)")
    windows = decode(encode(np.stack([flat.image[r : r + WINDOW, c : c + WINDOW] for r, c in pos])))
    if run.encoder is not None:
        fast = encode_and_score(run.encoder, run.G, run.D, windows, cfg.kappa, cfg.residual_sigma, cfg.map_chunk)
        heat = stitch(fast.residual_image, pos, flat.image.shape)
        return pos, fast.anomaly, fast.residual, fast.feature, heat
    out = map_to_latent(run.G, run.D, windows, progress=False, **mapping_settings(cfg))
    heat = stitch(out.residual_image, pos, flat.image.shape)
    return pos, out.anomaly, out.residual, out.discrimination, heat


def iter_scores(
    run: TrainedRun, files: Sequence[Path], width_mm: float = KERMANY_WIDTH_MM, stride: int = STRIDE
) -> Iterator[tuple[Path, ScanScore | str]]:
    """(file, its :class:`ScanScore` or the reason it is refused), one file at a time."""
    if not width_mm > 0:
        raise ValueError(f"width_mm must be a positive width in millimetres, got {width_mm}")
    if stride < 1:
        raise ValueError(f"stride must be at least 1 pixel, got {stride}")
    for path in files:
        t0 = time.perf_counter()
        try:
            flat = preprocess(read_scan(path, width_mm), run.cfg.column_um, run.cfg.despeckle)
            pos, a, r, d, heat = score_flat_scan(run, flat, stride)
        except (DataError, PreprocessError) as err:
            yield path, str(err).removeprefix(f"{path}: ").removeprefix(f"score scan {path.stem}: ")
            continue
        yield path, ScanScore(path, scan_score(a), pos, a, r, d, heat, flat, time.perf_counter() - t0)


def score_scans(
    run: str | Path | TrainedRun,
    images: Sequence[str | Path],
    width_mm: float = KERMANY_WIDTH_MM,
    stride: int = STRIDE,
    mapping: str = "iterative",
    progress: bool = True,
) -> ScanScores:
    """Score image files (or folders of them) with a run's trained model; see the module docstring.

    ``width_mm`` is the physical width of the scans (the run resamples to its own micrometres per
    column); ``mapping`` is 'iterative' (AnoGAN) or 'encoder' (f-AnoGAN's izi_f, when ``run`` is a
    run folder). Refused files are listed with their reason in ``ScanScores.refused``.
    """
    run = run if isinstance(run, TrainedRun) else load_run(run, mapping)
    files = image_files(images)
    result = ScanScores()
    for path, outcome in tqdm(
        iter_scores(run, files, width_mm, stride), total=len(files), desc="scoring", unit="scan", disable=not progress
    ):
        if isinstance(outcome, str):
            result.refused[path] = outcome
        else:
            result.scored.append(outcome)
    return result
