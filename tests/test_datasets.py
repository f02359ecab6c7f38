import csv
import warnings

import numpy as np
import pytest
from PIL import Image

from anogan_core.datasets import (
    DataError,
    duke_scans,
    folder_scans,
    load_duke,
    load_kermany,
    oct_scans,
    read_gray,
    split_by_patient,
)
from anogan_core.phantom import make_scans


def _write_folder(root, n_healthy=4, n_sick=2):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for i, s in enumerate(make_scans(n_healthy, 0) + make_scans(n_sick, 0, diseased=True)):
        name = f"scan{i}.png"
        Image.fromarray(s.image).save(root / "images" / name)
        Image.fromarray((s.fluid * 255).astype(np.uint8)).save(root / "masks" / name)
        rows.append({"image": name, "label": "fluid" if s.diseased else "normal", "patient": f"p{i // 2}"})
    with (root / "labels.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, ["image", "label", "patient"])
        w.writeheader()
        w.writerows(rows)


def test_read_gray_accepts_rgb_and_rejects_truncated(tmp_path):
    rgb = np.stack([np.full((8, 8), 7, np.uint8)] * 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert read_gray(tmp_path / "rgb.png").shape == (8, 8)
    Image.fromarray(np.zeros((300, 300), np.uint8)).save(tmp_path / "t.jpeg")
    data = (tmp_path / "t.jpeg").read_bytes()
    (tmp_path / "t.jpeg").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataError, match="t.jpeg: unreadable or truncated"):
        read_gray(tmp_path / "t.jpeg")


def test_folder_loader_on_a_users_own_data(tmp_path):
    _write_folder(tmp_path)
    train, test = folder_scans(tmp_path, seed=0, n_train=0, n_test=0)
    assert all(s.healthy for s in train)
    assert {s.label for s in test} >= {"FLUID"}
    assert not {s.patient for s in train} & {s.patient for s in test}
    assert any(s.fluid is not None and s.fluid.any() for s in test)


def test_folder_errors_name_the_problem(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="images: no images"):
        folder_scans(tmp_path, 0, 0, 0)
    _write_folder(tmp_path / "d")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "d" / "masks" / "scan0.png")
    with pytest.raises(DataError, match="scan0.png: mask .* differs from image"):
        folder_scans(tmp_path / "d", 0, 0, 0)


def test_split_by_patient_never_shares_a_patient():
    scans = make_scans(1, 0)
    from anogan_core.datasets import Scan

    many = [Scan(scans[0].image, "x", f"s{i}", f"p{i % 7}", "NORMAL", 6.0) for i in range(30)]
    train, test = split_by_patient(many, 0.2, seed=1)
    assert len(train) + len(test) == 30
    assert not {s.patient for s in train} & {s.patient for s in test}


def test_real_kermany_and_duke(oct_root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kermany = load_kermany(oct_root)
    assert len(kermany) == 998  # 1000 minus the two odd DRUSEN crops
    assert any("skipped 2 Kermany file(s)" in str(w.message) for w in caught)
    duke = load_duke(oct_root)
    assert len(duke) == 110 and sum(s.fluid.any() for s in duke) == 78
    assert all(s.graded is not None and s.graded[100:600].all() and not s.graded[:90].any() for s in duke)
    train, test = oct_scans(oct_root, seed=0, n_train=0, n_test=0)
    assert all(s.healthy and s.source == "kermany" and s.split == "train" for s in train)
    assert not {s.patient for s in train} & {s.patient for s in test}, "no patient on both sides"
    assert {s.label for s in test} == {"NORMAL", "CNV", "DME", "DRUSEN", "FLUID"}
    # the validation split: held-out healthy training patients and 3 Duke subjects, no patient in a test
    validation = [s for s in test if s.split == "validation"]
    tested = [s for s in test if s.split == "test"]
    assert {s.source for s in validation} == {"kermany", "duke"}
    assert all(s.healthy for s in validation if s.source == "kermany")
    assert len({s.patient for s in validation if s.source == "duke"}) == 3
    assert not {s.patient for s in validation} & {s.patient for s in tested}
    assert len({s.patient for s in tested if s.source == "duke"}) == 7
    capped_train, capped_test = oct_scans(oct_root, seed=0, n_train=5, n_test=3, n_disease=2)
    assert len(capped_train) == 5 and not {s.patient for s in capped_train} & {s.patient for s in capped_test}


def test_same_scanner_protocol_trains_on_the_duke_validation_subjects(oct_root):
    _, oct_test = oct_scans(oct_root, seed=0, n_train=0, n_test=0)
    train, test = duke_scans(oct_root, seed=0, n_test=0)
    assert {s.source for s in train + test} == {"duke"}
    held_out = {s.patient for s in oct_test if s.source == "duke" and s.split == "validation"}
    assert {s.patient for s in train} == held_out
    assert {s.name for s in test} == {s.name for s in oct_test if s.source == "duke" and s.split == "test"}
