"""Score new B-scans with the trained model of normal appearance of a finished run.

Each scan is read (an image file in any mode, :mod:`scan_files`, or a B-scan of a volume
file, :mod:`volumes`), cropped of constant borders (a frame or figure margin; saturated
white export padding is masked instead, as in training), preprocessed exactly like the
run's test scans (resampled to the run's
column width, flattened, optionally despeckled), and tiled by 64x64 windows with a
stride of 16 (4 where a thin retina holds no window of that grid) in the run's patch
region. All windows of a scan are mapped to the latent space in one batch with the
run's mapping settings (Section 2.2) and scored with
A(x) = (1 - lambda) R(x) + lambda D(x) (Eq. 6), or, beyond the paper, scored in one
pass by the run's izi_f encoder (:mod:`encoder`). The scan's score is the mean of the
top quarter of its windows' scores, the aggregation of the book's B-scan-level test
(:func:`metrics.scan_score`); the windows' residual images, averaged where they
overlap, give the scan's anomaly map.

A scan that cannot be scored (unreadable, empty, constant, too small or too large, no
retina found, no window fits, or any unexpected error, named with its stage and type) is
refused with one line; the others are scored. A scored scan carries a quality flag
(:attr:`ScanScore.quality`) when few grey levels or a partly found retina suggest that
it was not exported or flattened as the training scans were.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .anomaly_maps import stitch, window_positions
from .calibration import PHANTOM_SCANS, Calibration, calibrate, calibration_scans
from .datasets import KERMANY_WIDTH_MM, DataError, Scan
from .encoder import encode_and_score
from .mapping import map_to_latent
from .metrics import scan_score
from .model_file import Model, load_model, load_run
from .patches import decode, encode
from .preprocess import FlatScan, PreprocessError, prepare_scan
from .scan_files import WINDOW, check_width, read_scan, scan_files, scan_from_image
from .volumes import is_volume, read_volume

STRIDE = 16
FINE_STRIDE = 4  # tried when no window of the stride fits a scan's retina
# Below these a scan is flagged: the public B-scans hold at least 150 grey levels (Kermany's 800 checked,
# healthy or not, and Duke's 110), and windows cover at least 70% of the columns of 40 healthy Kermany
# scans; exports posterised to 2 or 4 grey levels or thresholded fall below one or both.
MIN_GREY_LEVELS = 32
MIN_COVERAGE = 0.5


@dataclass
class ScanScore:
    """One scored B-scan: its score, every window's scores and position, and its map."""

    path: Path
    bscan: int | None  # its index in a volume file; None for an image file
    width_mm: float  # the scan's physical width: --width-mm for images, the file's spacing for volumes
    score: float  # mean A(x) of the top quarter of the windows
    positions: np.ndarray  # (N, 2) row, col of each window in the flattened scan
    anomaly: np.ndarray  # (N,) A(x), Eq. 6
    residual: np.ndarray  # (N,) R(x), Eq. 3
    discrimination: np.ndarray  # (N,) D(x), Eq. 4
    heat: np.ndarray  # stitched residual map over the flattened scan (NaN outside the windows)
    flat: FlatScan
    seconds: float
    grey_levels: int  # distinct grey values of the scan as read
    coverage: float  # share of the flattened scan's columns under a scored window

    @property
    def quality(self) -> str:
        """'ok', or what to check when the scan may not have been read or flattened as in training: a
        posterised or thresholded export (few grey levels), or a retina found in part of the scan."""
        notes = []
        if self.grey_levels < MIN_GREY_LEVELS:
            notes.append(f"only {self.grey_levels} grey levels: a posterised or thresholded export? "
                         "Export the B-scans with the device's own grey mapping")  # fmt: skip
        if self.coverage < MIN_COVERAGE:
            notes.append(f"windows cover {self.coverage:.0%} of the columns: the retina was found in part of the scan")
        return "ok" if not notes else "check: " + "; ".join(notes)


@dataclass
class ScanScores:
    """The scored scans and, per refused file or B-scan (:func:`source_name`), the reason."""

    scored: list[ScanScore] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def source_name(path: Path, bscan: int | None) -> str:
    """How a scan is named in outputs: its file, and ``#k`` for B-scan ``k`` of a volume file."""
    return str(path) if bscan is None else f"{path}#{bscan}"


def load(source: str | Path | Model, mapping: str = "iterative") -> Model:
    """A :class:`Model` as given, from a model file (:func:`model_file.load_model`) or from a run
    folder (:func:`model_file.load_run`)."""
    if isinstance(source, Model):
        return source
    return load_model(source, mapping) if Path(source).is_file() else load_run(source, mapping)


def score_flat_scan(
    run: Model, flat: FlatScan, stride: int = STRIDE, positions: np.ndarray | None = None
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
    out = map_to_latent(run.G, run.D, windows, progress=False, **run.mapping_settings())
    heat = stitch(out.residual_image, pos, flat.image.shape)
    return pos, out.anomaly, out.residual, out.discrimination, heat


def iter_scores(
    run: Model, files: Sequence[Path], width_mm: float = KERMANY_WIDTH_MM, stride: int = STRIDE, strict: bool = False
) -> Iterator[tuple[Path, int | None, ScanScore | str]]:
    """(file, B-scan index or None, its :class:`ScanScore` or the reason it is refused), one scan at a
    time: an image file is one scan ``width_mm`` wide; a volume file (:mod:`volumes`) is each of its
    B-scans, at the width its file states, or one refusal (bscan None) when it cannot be read.

    Whatever fails while one scan is read, preprocessed or scored refuses that scan alone, with the
    stage and the reason (for an error that is not a plain refusal, its exception type, so that a bug
    stays visible); ``strict`` raises it instead."""
    check_width(width_mm, "width_mm")
    if stride < 1:
        raise ValueError(f"stride must be at least 1 pixel, got {stride}")
    for path in files:
        if not is_volume(path):
            yield path, None, _score_one(run, partial(read_scan, path, width_mm), path, None, path.stem, stride, strict)
            continue
        try:
            volume = read_volume(path)
        except Exception as err:  # one file's failure is that file's refusal
            if strict and not isinstance(err, DataError):
                raise
            yield path, None, _reason("read", err, str(path), path.stem)
            continue
        for k, image in enumerate(volume.bscans):
            name = f"{path.stem}-bscan{k:03d}"
            read = partial(scan_from_image, image, name, volume.width_mm, source_name(path, k))
            yield path, k, _score_one(run, read, path, k, name, stride, strict)


def _reason(stage: str, err: Exception, where: str, name: str) -> str:
    """One line: a plain refusal's own message, or the stage, type and message of anything else."""
    text = " ".join(str(err).split()).removeprefix(f"{where}: ").removeprefix(f"score scan {name}: ")
    if isinstance(err, DataError | PreprocessError):
        return text
    return f"{stage} failed ({type(err).__name__}: {text})"


def grey_levels(image: np.ndarray) -> int:
    """How many distinct grey values a uint8 scan holds."""
    return int(np.count_nonzero(np.bincount(image.ravel(), minlength=256)))


def _score_one(
    run: Model, read: Callable[[], Scan], path: Path, bscan: int | None, name: str, stride: int, strict: bool
) -> ScanScore | str:
    """One scan (``name``) read by ``read``, preprocessed and scored; or the reason it is refused."""
    t0, stage = time.perf_counter(), "read"
    try:
        scan = read()
        stage = "preprocess"
        flat = prepare_scan(scan, run.cfg.column_um, run.cfg.despeckle)
        stage = "score"
        pos, a, r, d, heat = score_flat_scan(run, flat, stride)
    except Exception as err:  # one scan's failure is that scan's refusal
        if strict and not isinstance(err, DataError | PreprocessError):
            raise
        reason = _reason(stage, err, source_name(path, bscan), name)
        if stage != "read" and (levels := grey_levels(scan.image)) < MIN_GREY_LEVELS:
            reason += f"; the scan holds only {levels} grey levels: check the export's intensity mapping"
        return reason
    seconds = time.perf_counter() - t0
    levels = grey_levels(scan.image)
    covered = np.zeros(flat.image.shape[1], bool)
    for c in np.unique(pos[:, 1]):
        covered[c : c + WINDOW] = True
    return ScanScore(path, bscan, scan.width_mm, scan_score(a), pos, a, r, d, heat, flat, seconds, levels,
                     float(covered.mean()))  # fmt: skip


def score_scans(
    run: str | Path | Model,
    images: Sequence[str | Path],
    width_mm: float = KERMANY_WIDTH_MM,
    stride: int = STRIDE,
    mapping: str = "iterative",
    progress: bool = True,
) -> ScanScores:
    """Score image files (or folders of them) with a run's trained model; see the module docstring.

    ``run`` is a model file (:func:`model_file.export_model`), a run folder or a loaded :class:`Model`;
    ``width_mm`` is the physical width of the scans (the model resamples to its own micrometres per
    column); ``mapping`` is 'iterative' (AnoGAN) or 'encoder' (f-AnoGAN's izi_f, when ``run`` is a
    file or folder). Refused files are listed with their reason in ``ScanScores.refused``.
    """
    run = load(run, mapping)
    files = scan_files(images)
    result = ScanScores()
    for path, bscan, outcome in tqdm(
        iter_scores(run, files, width_mm, stride), desc="scoring", unit="scan", disable=not progress
    ):
        if isinstance(outcome, str):
            result.refused[source_name(path, bscan)] = outcome
        else:
            result.scored.append(outcome)
    return result


def calibrate_model(
    model: Model,
    fpr: float,
    data_dir: str | None = None,
    stride: int = STRIDE,
    progress: bool = False,
    n_phantom: int = PHANTOM_SCANS,
) -> Calibration:
    """The model's :class:`calibration.Calibration` at false-positive rate ``fpr``: its held-out
    healthy scans (:func:`calibration.calibration_scans`; ``n_phantom`` of them for the phantom)
    scored like any scan. Scans whose retina is not found are left out."""
    scans, source = calibration_scans(model.cfg, data_dir, n_phantom)
    scores, heat = [], []
    for scan in tqdm(scans, desc="calibrating", unit="scan", disable=not progress):
        try:
            flat = prepare_scan(scan, model.cfg.column_um, model.cfg.despeckle)
            _, anomaly, _, _, scan_heat = score_flat_scan(model, flat, stride)
        except PreprocessError:
            continue
        scores.append(scan_score(anomaly))
        heat.append(scan_heat[np.isfinite(scan_heat)])
    return calibrate(np.array(scores), fpr, source, np.concatenate(heat) if heat else None)
