"""Clinical OCT volumes: Heidelberg ``.vol`` and ``.e2e`` (through eyepy) and DICOM ophthalmic
tomography (through pydicom), read as B-scans with the lateral spacing their file gives.

Plain images carry no physical size, so ``anogan score`` asks for ``--width-mm``; a volume file
states its lateral spacing, and each B-scan's width is its number of columns times that spacing.
Intensities are the ones the file's own display would show:

* Heidelberg files store reflectance as floats; eyepy applies Heidelberg's display transform
  (``EyeVolume.data``, uint8), which is what Heidelberg's exports (and the public sets' PNGs
  and JPEGs) hold.
* DICOM pixel data pass through the file's modality and VOI transforms (rescale, window or VOI
  LUT), MONOCHROME1 is inverted, colour frames are averaged to grey, and values deeper than
  8 bits are scaled to 0..255 as :func:`datasets.read_gray` scales 16-bit images.

A file that cannot be read raises :class:`datasets.DataError` with the reason in one line.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DataError

VOLUME_SUFFIXES = (".vol", ".e2e", ".dcm")


@dataclass
class Volume:
    """The B-scans of one volume file, as the file's display shows them."""

    path: Path
    bscans: np.ndarray  # (n, rows, cols) uint8
    width_mm: float  # lateral extent of each B-scan: columns x lateral spacing
    reader: str  # which library read it, and its version


def is_volume(path: Path) -> bool:
    """Whether ``path`` names a volume file (by its suffix)."""
    return path.suffix.lower() in VOLUME_SUFFIXES


def read_volume(path: Path) -> Volume:
    """The B-scans of a ``.vol``, ``.e2e`` or DICOM file, or :class:`DataError` with the reason."""
    suffix = path.suffix.lower()
    if suffix not in VOLUME_SUFFIXES:
        raise DataError(f"{path}: not a volume file (allowed: {', '.join(VOLUME_SUFFIXES)})")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        bscans, spacing_mm, reader = _read_dicom(path) if suffix == ".dcm" else _read_heyex(path, suffix)
    except DataError:
        raise
    except Exception as err:  # a reader's own failure on a damaged file: one line, its type kept
        reason = " ".join(str(err).split())  # one line, whatever the reader's message holds
        raise DataError(f"{path}: unreadable {suffix} file ({type(err).__name__}: {reason})") from err
    if bscans.ndim != 3 or not bscans.size:
        raise DataError(f"{path}: holds no B-scan (pixel array of shape {bscans.shape})")
    if not (np.isfinite(spacing_mm) and spacing_mm > 0):
        raise DataError(f"{path}: lateral spacing {spacing_mm!r} mm is not a positive width per column")
    return Volume(path, bscans, bscans.shape[2] * spacing_mm, reader)


def to_uint8(values: np.ndarray, fractions: bool = False) -> np.ndarray:
    """Grey values as uint8: uint8 as they are; others shifted so that none is negative, then scaled
    so that their maximum is 255 when it is above (values within 0..255 kept, as
    :func:`datasets.read_gray` reads 16-bit images), or, with ``fractions``, from 0..1 to 0..255."""
    if values.dtype == np.uint8 or not values.size:
        return values.astype(np.uint8)
    values = values.astype(np.float64)
    values -= min(float(values.min()), 0.0)
    hi = float(values.max())
    if fractions and 0 < hi <= 1.0:
        values *= 255.0
    elif hi > 255:
        values *= 255.0 / hi
    return np.clip(np.round(values), 0, 255).astype(np.uint8)


def _read_heyex(path: Path, suffix: str) -> tuple[np.ndarray, float, str]:
    """(B-scans after Heidelberg's display transform, lateral spacing in mm, reader) via eyepy."""
    import eyepy

    with warnings.catch_warnings():  # eyepy warns about layer annotations, which scoring does not use
        warnings.simplefilter("ignore")
        logging.getLogger("eyepy").setLevel(logging.ERROR)
        volume = eyepy.import_heyex_vol(path) if suffix == ".vol" else eyepy.import_heyex_e2e(path)
        bscans = to_uint8(np.asarray(volume.data))
    return bscans, float(volume.scale_x), f"eyepy {eyepy.__version__} (Heidelberg {suffix})"


def _read_dicom(path: Path) -> tuple[np.ndarray, float, str]:
    """(B-scans after the file's modality and VOI transforms, lateral spacing in mm, reader) via pydicom."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(path)
    if "PixelData" not in ds:
        raise DataError(f"{path}: a DICOM file without pixel data (SOP class {ds.get('SOPClassUID', 'unknown')})")
    spacing = _pixel_spacing(ds)
    if spacing is None:
        raise DataError(f"{path}: no PixelSpacing in the DICOM file: the B-scans' width is unknown")
    pixels = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    colour = int(ds.get("SamplesPerPixel", 1)) > 1
    if frames == 1:
        pixels = pixels[None]
    if colour:
        pixels = pixels[..., :3].astype(np.float32).mean(axis=-1)
    else:
        pixels = apply_voi_lut(apply_modality_lut(pixels, ds), ds)
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            pixels = pixels.max() - pixels
    return to_uint8(pixels), spacing, f"pydicom {pydicom.__version__}"


def _pixel_spacing(ds: Any) -> float | None:
    """The column spacing in mm (the second value of PixelSpacing), from the data set itself or its
    shared or first per-frame functional group, as multi-frame ophthalmic tomography stores it."""
    places = [ds]
    for group in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for item in ds.get(group, [])[:1]:
            places += list(item.get("PixelMeasuresSequence", []))
    for place in places:
        if "PixelSpacing" in place:
            return float(place.PixelSpacing[1])
    return None
