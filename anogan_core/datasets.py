"""B-scan sources: the synthetic phantom, the public OCT sets, a user's own folder.

Every loader returns :class:`Scan` records with the same fields, so that the rest
of the pipeline never asks where a scan came from.

Layouts (see ``data/README.md``):

* ``oct``: ``kermany-oct2017/<CLASS>/<CLASS>-<patient>-<n>.jpeg`` and
  ``duke-dme-chiu2015/{images,masks}/img_<i>.png`` with ``index.csv``.
* ``duke``: the Duke part of the same folder alone, a same-scanner protocol (see
  :func:`duke_scans`).
* ``folder``: ``images/*.png|jpg|jpeg|tif``, optional ``masks/`` with the same
  file names (non-zero = anomalous pixel), optional ``labels.csv`` with columns
  ``image,label,patient`` (label ``normal`` marks healthy scans; every other label
  is a disease) and an optional ``width_mm`` column (default 6 mm).
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .phantom import make_scans

KERMANY = "kermany-oct2017"
DUKE = "duke-dme-chiu2015"
KERMANY_CLASSES = ("NORMAL", "CNV", "DME", "DRUSEN")
KERMANY_WIDTH_MM = 6.0  # not published per image; the scans span roughly 6 mm
DUKE_COLUMN_UM = 11.3  # Spectralis, 11.07-11.59 um per column (Chiu et al. 2015)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MIN_ROWS, MIN_COLS = 256, 256
PHANTOM_DEFAULT_COUNTS = (150, 25)  # training scans, test scans per class
VALIDATION_FRACTION = 0.1  # of the healthy training patients, held out to choose settings
DUKE_VALIDATION_SUBJECTS = 3  # of Duke's 10, held out from every test number to choose settings


class DataError(ValueError):
    """A data folder or file that cannot be used as it is."""


@dataclass
class Scan:
    """One raw B-scan with its label, origin and optional pixel annotations."""

    image: np.ndarray  # (rows, cols) uint8
    source: str  # 'phantom', 'kermany', 'duke' or 'folder'
    name: str
    patient: str
    label: str  # 'NORMAL' for healthy scans, else the disease
    width_mm: float
    fluid: np.ndarray | None = None
    foci: np.ndarray | None = None
    graded: np.ndarray | None = None  # (cols,) bool: columns where fluid was graded
    truth: dict[str, np.ndarray] = field(default_factory=dict)  # phantom boundaries
    split: str = "test"  # 'train', 'validation' (to choose settings, never reported as a test) or 'test'

    @property
    def healthy(self) -> bool:
        return self.label == "NORMAL"


def read_gray(path: Path) -> np.ndarray:
    """An image file as a 2D uint8 array; RGB with equal channels is accepted."""
    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise DataError(f"{path}: unreadable or truncated image ({err})") from err
    if arr.ndim == 3:
        arr = arr[..., :3].astype(np.float32).mean(axis=2)
    if arr.dtype != np.uint8:
        hi = float(arr.max()) or 1.0
        arr = arr.astype(np.float32) * (255.0 / hi) if hi > 255 else arr
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    return arr


def _mark(scans: list[Scan], split: str) -> list[Scan]:
    """The scans, each marked as belonging to ``split``."""
    for s in scans:
        s.split = split
    return scans


def phantom_scans(seed: int, n_train: int, n_test: int) -> tuple[list[Scan], list[Scan]]:
    """Training scans (healthy) and test scans (healthy + diseased) of the phantom."""
    n_train = n_train or PHANTOM_DEFAULT_COUNTS[0]
    n_test = n_test or PHANTOM_DEFAULT_COUNTS[1]

    def wrap(items: list, prefix: str, offset: int) -> list[Scan]:
        out = []
        for i, s in enumerate(items):
            out.append(
                Scan(
                    image=s.image,
                    source="phantom",
                    name=f"{prefix}-{offset + i}",
                    patient=f"{prefix}-{offset + i}",
                    label="FLUID" if s.diseased else "NORMAL",
                    width_mm=s.width_mm,
                    fluid=s.fluid,
                    foci=s.foci,
                    truth={"top": s.top, "bottom": s.bottom},
                )
            )
        return out

    healthy = make_scans(n_train + n_test, seed)
    diseased = make_scans(n_test, seed, diseased=True)
    train = _mark(wrap(healthy[:n_train], "healthy", 0), "train")
    test = wrap(healthy[n_train:], "healthy", n_train) + wrap(diseased, "diseased", 0)
    return train, test


def _kermany_patient(name: str) -> str:
    m = re.match(r"([A-Z]+)-(\d+)-\d+", name)
    if not m:
        raise DataError(f"{name}: Kermany file names are <CLASS>-<patient>-<n>.jpeg")
    return m.group(2)


def load_kermany(root: Path, classes: tuple[str, ...] = KERMANY_CLASSES) -> list[Scan]:
    """Kermany OCT2017 class folders. Odd small crops are skipped with a warning."""
    folder = Path(root) / KERMANY
    if not folder.is_dir():
        raise DataError(f"{folder}: Kermany folder not found (expected {KERMANY}/<CLASS>/*.jpeg)")
    scans, skipped = [], []
    for cls in classes:
        files = sorted(p for p in (folder / cls).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{folder / cls}: no images in this class folder")
        for path in files:
            image = read_gray(path)
            if image.shape[0] < MIN_ROWS or image.shape[0] != 496:
                skipped.append(path.name)
                continue
            scans.append(Scan(image, "kermany", path.stem, _kermany_patient(path.stem), cls, KERMANY_WIDTH_MM))
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} Kermany file(s) that are not 496-row B-scans "
            f"(odd crops of unknown scale): {', '.join(skipped)}",
            stacklevel=2,
        )
    return scans


def load_duke(root: Path) -> list[Scan]:
    """Duke DME 2015: B-scans with grader-1 fluid masks.

    Only a central band of columns was graded; its span is taken as the columns
    between the first and last fluid pixel over the whole set (about 100-625 of
    768), so that negatives come from graded columns only.
    """
    folder = Path(root) / DUKE
    index = folder / "index.csv"
    if not index.is_file():
        raise DataError(f"{index}: Duke index.csv not found")
    with index.open() as fh:
        rows = list(csv.DictReader(fh))
    scans = []
    for r in rows:
        image = read_gray(folder / r["image"])
        mask = read_gray(folder / r["mask"]) > 0
        if mask.shape != image.shape:
            raise DataError(f"{folder / r['mask']}: mask {mask.shape} differs from image {image.shape}")
        label = "FLUID" if mask.any() else "DME"
        width = image.shape[1] * DUKE_COLUMN_UM / 1000.0
        scans.append(Scan(image, "duke", Path(r["image"]).stem, f"duke-{r['subject']}", label, width, fluid=mask))
    cols = np.flatnonzero(np.any([s.fluid.any(axis=0) for s in scans], axis=0))
    for s in scans:
        graded = np.zeros(s.image.shape[1], bool)
        graded[cols.min() : cols.max() + 1] = True
        s.graded = graded
    return scans


def split_by_patient(scans: list[Scan], test_fraction: float, seed: int) -> tuple[list[Scan], list[Scan]]:
    """Patient-level split: no patient appears on both sides."""
    patients = sorted({s.patient for s in scans})
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    n_test = max(1, int(round(test_fraction * len(patients))))
    test_ids = set(patients[:n_test])
    return [s for s in scans if s.patient not in test_ids], [s for s in scans if s.patient in test_ids]


def _cap(scans: list[Scan], n: int, seed: int) -> list[Scan]:
    if n <= 0 or len(scans) <= n:
        return scans
    idx = np.sort(np.random.default_rng(seed).choice(len(scans), n, replace=False))
    return [scans[i] for i in idx]


def duke_validation_subjects(scans: list[Scan], seed: int) -> set[str]:
    """The seeded ``DUKE_VALIDATION_SUBJECTS`` Duke subjects held out to choose settings."""
    subjects = sorted({s.patient for s in scans}, key=lambda p: int(p.split("-")[1]))
    pick = np.random.default_rng([seed, 17]).choice(len(subjects), DUKE_VALIDATION_SUBJECTS, replace=False)
    return {subjects[i] for i in pick}


def oct_scans(root: Path, seed: int, n_train: int, n_test: int, n_disease: int = 0) -> tuple[list[Scan], list[Scan]]:
    """The protocol of shared/data/oct/README.md, with a validation split.

    Train: Kermany NORMAL scans of 80% of its patients, less a tenth of those patients
    held out for validation. Test: the other NORMAL patients and the Duke scans (patch
    level, with fluid masks), and Kermany CNV/DME/DRUSEN scans of patients not used in
    training (B-scan level). Validation (split 'validation', returned with the test
    scans so that one mapping scores both): the held-out healthy training patients and
    3 of Duke's 10 subjects; settings beyond the paper are chosen on it and it enters no
    test number. ``n_train`` and ``n_test`` cap the training and the healthy/Duke test
    scans, ``n_disease`` the scans per disease class (0 = all).
    """
    kermany = load_kermany(root)
    normal = [s for s in kermany if s.healthy]
    train, test_normal = split_by_patient(normal, 0.2, seed)
    train, validation = split_by_patient(train, VALIDATION_FRACTION, seed + 1)
    train = _mark(_cap(train, n_train, seed), "train")
    # some patients have NORMAL and diseased scans: those seen in training or validation never enter the test set
    seen = {s.patient for s in train + validation}
    diseased = [
        s
        for cls in KERMANY_CLASSES[1:]
        for s in _cap([k for k in kermany if k.label == cls and k.patient not in seen], n_disease, seed)
    ]
    duke = _cap(load_duke(root), n_test, seed)
    held_out = duke_validation_subjects(duke, seed)
    validation = _mark(validation, "validation") + _mark([s for s in duke if s.patient in held_out], "validation")
    test = _cap(test_normal, n_test, seed) + diseased + [s for s in duke if s.patient not in held_out]
    return train, _mark(test, "test") + validation


def duke_scans(root: Path, seed: int, n_test: int) -> tuple[list[Scan], list[Scan]]:
    """Same-scanner protocol (beyond the paper): no Kermany scan, so no domain shift.

    Train on the Duke subjects that the ``oct`` protocol holds out for validation (their
    patches that hold no fluid pixel, from the graded columns; the pipeline drops the
    others), test on the other 7 subjects: the same test subjects as the ``oct``
    protocol's Duke comparisons, leave-subjects-out.
    """
    duke = load_duke(root)
    held_out = duke_validation_subjects(duke, seed)
    train = _mark([s for s in duke if s.patient in held_out], "train")
    return train, _mark(_cap([s for s in duke if s.patient not in held_out], n_test, seed), "test")


def folder_scans(root: Path, seed: int, n_train: int, n_test: int) -> tuple[list[Scan], list[Scan]]:
    """A user's folder (layout in the module docstring); patient-level 80/20 split of healthy scans."""
    root = Path(root)
    images = sorted(p for p in (root / "images").glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{root / 'images'}: no images ({', '.join(IMAGE_SUFFIXES)}) found")
    meta: dict[str, dict[str, str]] = {}
    labels = root / "labels.csv"
    if labels.is_file():
        with labels.open() as fh:
            meta = {r["image"]: r for r in csv.DictReader(fh)}
    scans = []
    for path in images:
        row = meta.get(path.name, {})
        image = read_gray(path)
        mask_path = root / "masks" / path.name
        mask = read_gray(mask_path) > 0 if mask_path.is_file() else None
        if mask is not None and mask.shape != image.shape:
            raise DataError(f"{mask_path}: mask {mask.shape} differs from image {image.shape}")
        label = row.get("label", "normal" if mask is None or not mask.any() else "anomalous")
        scans.append(
            Scan(
                image,
                "folder",
                path.stem,
                row.get("patient", path.stem),
                "NORMAL" if label.lower() == "normal" else label.upper(),
                float(row.get("width_mm", 6.0)),
                fluid=mask,
            )
        )
    healthy = [s for s in scans if s.healthy]
    if len(healthy) < 2:
        raise DataError(f"{root}: need at least 2 healthy scans (label 'normal') to train, found {len(healthy)}")
    train, test_normal = split_by_patient(healthy, 0.2, seed)
    test = test_normal + [s for s in scans if not s.healthy]
    return _mark(_cap(train, n_train, seed), "train"), _cap(test, n_test, seed)


def load_scans(
    dataset: str, data_dir: str, seed: int, n_train: int, n_test: int, n_disease: int = 0
) -> tuple[list[Scan], list[Scan]]:
    """(training scans, test scans) of a dataset."""
    if dataset == "synthetic":
        return phantom_scans(seed, n_train, n_test)
    if dataset == "oct":
        return oct_scans(Path(data_dir), seed, n_train, n_test, n_disease)
    if dataset == "duke":
        return duke_scans(Path(data_dir), seed, n_test)
    if dataset == "folder":
        return folder_scans(Path(data_dir), seed, n_train, n_test)
    raise DataError(f"unknown dataset {dataset!r}; allowed: synthetic, oct, duke, folder")
