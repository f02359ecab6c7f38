import numpy as np
import pytest
from PIL import Image

from anogan_core.datasets import DataError
from anogan_core.phantom import make_scans
from anogan_core.scan_files import MAX_COLS, MAX_ROWS, check_width, read_image, scan_files


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    image = make_scans(1, 3)[0].image.copy()
    image[0, 0] = 255  # full range: every deep mode scales back to the same values
    return image


def _palette(grey: np.ndarray) -> Image.Image:
    im = Image.fromarray(grey, "P")
    im.putpalette([v for i in range(256) for v in (i, i, i)])
    return im


MODES = {  # mode: (how to write the grey scan in it, file name, largest difference allowed)
    "L": (lambda g: Image.fromarray(g), "scan.png", 0),
    "I;16": (lambda g: Image.fromarray(g.astype(np.uint16) * 257), "scan.png", 1),
    "I": (lambda g: Image.fromarray(g.astype(np.int32) * 1000, "I"), "scan.tif", 1),
    "F": (lambda g: Image.fromarray(g.astype(np.float32) / 255, "F"), "scan.tif", 1),
    "RGB": (lambda g: Image.fromarray(np.stack([g] * 3, -1)), "scan.png", 0),
    "RGBA": (lambda g: Image.fromarray(np.dstack([g, g, g, np.full_like(g, 255)])), "scan.png", 0),
    "LA": (lambda g: Image.fromarray(g).convert("LA"), "scan.png", 0),
    "P": (_palette, "scan.png", 0),
    "CMYK": (lambda g: Image.fromarray(g).convert("CMYK"), "scan.jpg", 12),  # JPEG: lossy
}


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_a_b_scan_comes_in_reads_as_its_grey_values(grey, tmp_path, mode):
    write, name, tolerance = MODES[mode]
    im = write(grey)
    assert im.mode == mode
    im.save(tmp_path / name, quality=95)  # quality: JPEG only
    image = read_image(tmp_path / name)
    assert image.dtype == np.uint8 and image.shape == grey.shape
    difference = np.abs(image.astype(int) - grey)
    assert np.percentile(difference, 99) <= tolerance, mode  # a CMYK JPEG is no longer read as black


def test_images_without_grey_levels_or_too_large_are_refused_by_name(grey, tmp_path):
    Image.fromarray(grey > 128).save(tmp_path / "bw.png")
    with pytest.raises(DataError, match="1-bit .* holds no grey levels"):
        read_image(tmp_path / "bw.png")
    Image.new("L", (8192, 3968)).save(tmp_path / "huge.png")  # 3968 rows: refused from its header
    with pytest.raises(DataError, match=f"3968x8192 pixels, larger than any OCT B-scan; the limit is {MAX_ROWS} rows"):
        read_image(tmp_path / "huge.png")
    Image.new("L", (MAX_COLS + 1, 100)).save(tmp_path / "wide.png")
    with pytest.raises(DataError, match=f"{MAX_COLS} columns"):
        read_image(tmp_path / "wide.png")
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
    with pytest.raises(DataError, match="unreadable or truncated image"):
        read_image(tmp_path / "garbage.png")


def test_widths_outside_oct_scans_are_refused_with_the_range():
    check_width(6.0)
    for width in (0.0, 0.001, 1e9, float("inf"), float("nan"), -3.0):
        with pytest.raises(DataError, match="outside the widths of OCT B-scans, 1 to 30 mm"):
            check_width(width)


def test_folders_are_searched_recursively_in_a_stated_order(tmp_path):
    for name in ("top.png", "NORMAL/b.png", "NORMAL/a.jpeg", "CNV/x/deep.tif", "CNV/notes.txt", "eye.vol"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    found = [p.relative_to(tmp_path).as_posix() for p in scan_files([tmp_path])]
    assert found == ["CNV/x/deep.tif", "NORMAL/a.jpeg", "NORMAL/b.png", "eye.vol", "top.png"]
