import csv
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, OphthalmicTomographyImageStorage, generate_uid

from anogan_core.cli import main
from anogan_core.datasets import DataError
from anogan_core.metrics import scan_score
from anogan_core.phantom import WIDTH_MM, make_scans
from anogan_core.volumes import read_volume

HEYEX_VOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "formats" / "heyex_vol" / "test_volume.vol"


def write_dicom(path: Path, frames: np.ndarray, column_mm: float | None, **tags) -> Path:
    """A multi-frame DICOM ophthalmic tomography file holding ``frames`` (n, rows, cols), with the
    column spacing in its shared functional group, as OCT devices write it."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = OphthalmicTomographyImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "OPT"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames.shape
    bits = frames.dtype.itemsize * 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if column_mm is not None:
        measures = Dataset()
        measures.PixelSpacing = [0.0039, column_mm]  # row (axial), column (lateral) spacing in mm
        shared = Dataset()
        shared.PixelMeasuresSequence = [measures]
        ds.SharedFunctionalGroupsSequence = [shared]
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_the_heidelberg_fixture_is_read_with_its_spacing_and_refused_as_too_small(trained_run, tmp_path, capsys):
    if not HEYEX_VOL.is_file():
        pytest.skip(f"the .vol fixture is not at {HEYEX_VOL}")
    volume = read_volume(HEYEX_VOL)
    assert volume.bscans.shape == (10, 40, 50) and volume.bscans.dtype == np.uint8
    assert volume.width_mm == pytest.approx(50 * 0.011819) and volume.reader.startswith("eyepy")
    out = tmp_path / "scores"
    assert main(["score", "--run", str(trained_run), str(HEYEX_VOL), "--out", str(out), "--quiet"]) == 1
    scans = _rows(out / "scans.csv")
    assert [r["bscan"] for r in scans] == [str(k) for k in range(10)]
    too_small = "too small, 40x50 pixels after cropping constant borders; a scan needs at least 64x64"
    assert {(r["status"], r["reason"]) for r in scans} == {("refused", too_small)}
    assert capsys.readouterr().err.count(f"refused {HEYEX_VOL}#") == 10
    (volume_row,) = _rows(out / "volumes.csv")
    assert (volume_row["bscans"], volume_row["scored"], volume_row["score"]) == ("10", "0", "")


def test_a_dicom_volume_scores_like_its_b_scans_as_images(trained_run, tmp_path):
    scans = [s for s in make_scans(3, 101) + make_scans(1, 101, diseased=True) if s.image.shape[1] == 512]
    frames = np.stack([s.image for s in scans])  # two healthy B-scans and one with fluid, 512 columns each
    dicom = write_dicom(tmp_path / "eye.dcm", frames, WIDTH_MM / frames.shape[2])
    images = tmp_path / "images"
    images.mkdir()
    for k, scan in enumerate(scans):
        Image.fromarray(scan.image).save(images / f"bscan{k}.png")
    as_volume, as_images = tmp_path / "volume", tmp_path / "pngs"
    # the volume needs no --width-mm (a wrong one is ignored); the images need the true width
    assert main(["score", "--run", str(trained_run), str(dicom), "--out", str(as_volume), "--quiet",
                 "--width-mm", "3"]) == 0  # fmt: skip
    assert main(["score", "--run", str(trained_run), str(images), "--out", str(as_images), "--quiet",
                 "--width-mm", str(WIDTH_MM)]) == 0  # fmt: skip
    volume_scans, image_scans = _rows(as_volume / "scans.csv"), _rows(as_images / "scans.csv")
    assert [r["bscan"] for r in volume_scans] == ["0", "1", "2"]
    assert [float(r["width_mm"]) for r in volume_scans] == pytest.approx([WIDTH_MM] * 3)
    scores = [float(r["score"]) for r in volume_scans]
    assert scores == [float(r["score"]) for r in image_scans]
    assert [r["label"] for r in volume_scans] == [r["label"] for r in image_scans]
    (volume_row,) = _rows(as_volume / "volumes.csv")
    assert float(volume_row["score"]) == pytest.approx(scan_score(np.array(scores)), rel=1e-5)
    assert volume_row["worst_bscan"] == str(int(np.argmax(scores))) and volume_row["scored"] == "3"
    assert int(volume_row["anomalous_bscans"]) == sum(r["label"] == "anomalous" for r in volume_scans)
    assert sorted(p.name for p in (as_volume / "maps").iterdir()) == [f"eye-bscan{k:03d}.png" for k in range(3)]


def test_dicom_intensities_pass_through_the_files_own_transforms(tmp_path):
    image = make_scans(1, 5)[0].image
    plain = read_volume(write_dicom(tmp_path / "plain.dcm", image[None], 0.01)).bscans[0]
    assert np.array_equal(plain, image)
    deep = read_volume(write_dicom(tmp_path / "deep.dcm", image[None].astype(np.uint16) * 257, 0.01)).bscans[0]
    assert np.abs(deep.astype(int) - image).max() <= 1  # 16-bit scaled to 0..255
    inverted = write_dicom(tmp_path / "inv.dcm", 255 - image[None], 0.01, PhotometricInterpretation="MONOCHROME1")
    assert np.array_equal(read_volume(inverted).bscans[0], image)
    top_level = write_dicom(tmp_path / "top.dcm", image[None], None, PixelSpacing=[0.004, 0.02])
    assert read_volume(top_level).width_mm == pytest.approx(0.02 * image.shape[1])


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("garbage.dcm", b"\x00not a dicom file" * 10, "unreadable .dcm file (InvalidDicomError"),
        ("garbage.vol", b"HSF-OCT-103\x00" + bytes(64), "unreadable .vol file ("),
        ("garbage.e2e", b"CMDb" + bytes(100), "unreadable .e2e file ("),
        ("nospacing.dcm", None, "no PixelSpacing in the DICOM file: the B-scans' width is unknown"),
    ],
    ids=["dicom", "vol", "e2e", "no-spacing"],
)
def test_unreadable_volumes_are_refused_in_one_line(tmp_path, name, content, reason):
    path = tmp_path / name
    if content is None:
        write_dicom(path, make_scans(1, 5)[0].image[None], None)
    else:
        path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_volume(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {reason}") and "\n" not in message


def test_a_damaged_volume_among_images_leaves_the_rest_scored(trained_run, phantom_files, tmp_path, capsys):
    (tmp_path / "broken.dcm").write_bytes(b"\x00" * 300)
    out = tmp_path / "scores"
    args = ["score", "--run", str(trained_run), str(phantom_files / "normal_0.png"), str(tmp_path / "broken.dcm")]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    rows = {Path(r["file"]).name: r for r in _rows(out / "scans.csv")}
    assert rows["normal_0.png"]["status"] == "scored" and rows["broken.dcm"]["status"] == "refused"
    assert rows["broken.dcm"]["bscan"] == "" and "unreadable .dcm file" in rows["broken.dcm"]["reason"]
    assert _rows(out / "volumes.csv")[0]["scored"] == "0"
    assert pydicom.__version__ and "refused" in capsys.readouterr().err
