"""A user's B-scan files, found and read for scoring: every image mode Pillow opens read as the grey
scan it shows (or refused by name), sizes and widths checked before anything large is allocated.

Files are found in the inputs as given and, in folders, recursively (the layout of Kermany's own
download: ``NORMAL/``, ``CNV/``, ...), in the order of their paths within each input. Each image
is read without trusting it: its pixel count is checked from the header before decoding (at most
:data:`MAX_ROWS` x :data:`MAX_COLS`), its mode is converted to grey values (:func:`read_image`),
constant borders are cropped (:func:`crop_constant_border`) and the result must hold a 64x64
window. The physical width a scan is given must lie within :data:`WIDTH_RANGE_MM`, the widths of
OCT B-scans, so that resampling never allocates in proportion to an absurd parameter.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .datasets import IMAGE_SUFFIXES, KERMANY_WIDTH_MM, DataError, Scan
from .preprocess import SATURATED
from .volumes import VOLUME_SUFFIXES, to_uint8

WINDOW = 64
MAX_ROWS, MAX_COLS = 2048, 8192  # larger than any OCT B-scan export (Spectralis: 496 x 1536 at most)
WIDTH_RANGE_MM = (1.0, 30.0)  # from a 1 mm zoomed scan to a 30 mm wide-field one
GREY_MODES = {"L": "8-bit grey", "I;16": "16-bit grey", "I;16B": "16-bit grey", "I;16L": "16-bit grey",
              "I": "32-bit grey", "F": "floating-point grey"}  # fmt: skip
COLOUR_MODES = {"RGB", "RGBA", "LA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "La"}  # converted to grey


def check_width(width_mm: float, where: str = "--width-mm") -> None:
    """Refuse a scan width outside :data:`WIDTH_RANGE_MM`, naming ``where`` it came from."""
    low, high = WIDTH_RANGE_MM
    if not (np.isfinite(width_mm) and low <= width_mm <= high):
        raise DataError(
            f"{where}: a scan width of {width_mm:g} mm is outside the widths of OCT B-scans, {low:g} to {high:g} mm"
        )


def scan_files(inputs: Iterable[str | Path]) -> list[Path]:
    """Files to score: each input file as given; in each folder, its image and volume files at any
    depth, sorted by their path within the folder."""
    suffixes = IMAGE_SUFFIXES + VOLUME_SUFFIXES
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = [p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in suffixes]
            out += sorted(found, key=lambda p: p.relative_to(item).parts)
        else:
            out.append(item)
    return out


def read_image(path: Path) -> np.ndarray:
    """An image file as the 2D uint8 grey scan it shows, or :class:`DataError` with the reason.

    8-bit grey as it is; 16-bit, 32-bit and floating-point grey scaled as :func:`datasets.read_gray`
    scales deep images (values within 0..255 kept, deeper ones so that their maximum is 255; floats
    within 0..1 taken as fractions of white);
    colour, palette, grey-with-alpha and CMYK converted to grey by Pillow (ITU-R 601 luma, which
    keeps a grey RGB image's values); 1-bit images, which hold no grey levels, refused by name."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                cols, rows = im.size
                if rows > MAX_ROWS or cols > MAX_COLS:
                    raise DataError(
                        f"{path}: {rows}x{cols} pixels, larger than any OCT B-scan; "
                        f"the limit is {MAX_ROWS} rows and {MAX_COLS} columns"
                    )
                mode = im.mode
                if mode == "1":
                    raise DataError(f"{path}: a 1-bit (black and white) image holds no grey levels to score")
                if mode not in GREY_MODES and mode not in COLOUR_MODES:
                    raise DataError(f"{path}: image mode {mode!r} is not one a B-scan is stored in")
                arr = np.asarray(im.convert("L") if mode in COLOUR_MODES else im)
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as err:
        reason = " ".join(str(err).split())
        raise DataError(f"{path}: unreadable or truncated image ({type(err).__name__}: {reason})") from err
    if arr.dtype != np.uint8 and not np.isfinite(arr).all():
        raise DataError(f"{path}: the image holds values that are not finite (NaN or infinity)")
    return to_uint8(arr, fractions=mode == "F")  # floating-point grey in 0..1: fractions of white


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
    return scan_from_image(read_image(path), path.stem, width_mm, str(path))


def scan_from_image(image: np.ndarray, name: str, width_mm: float, where: str) -> Scan:
    """A uint8 B-scan ``width_mm`` wide (as given, borders included) as a :class:`Scan` ready to
    preprocess, cropped of constant borders, or :class:`DataError` naming ``where`` it came from
    and why it cannot be scored."""
    cropped = crop_constant_border(image)
    if cropped.size == 0:
        raise DataError(f"{where}: constant image (every pixel is {int(image.flat[0])}), nothing to score")
    if min(cropped.shape) < WINDOW:
        raise DataError(
            f"{where}: too small, {cropped.shape[0]}x{cropped.shape[1]} pixels after cropping constant borders; "
            f"a scan needs at least {WINDOW}x{WINDOW}"
        )
    if image.shape[0] > MAX_ROWS or image.shape[1] > MAX_COLS:
        raise DataError(
            f"{where}: {image.shape[0]}x{image.shape[1]} pixels, larger than any OCT B-scan; "
            f"the limit is {MAX_ROWS} rows and {MAX_COLS} columns"
        )
    check_width(width_mm, where)
    return Scan(cropped, "score", name, name, "UNKNOWN", width_mm)
