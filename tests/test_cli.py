import csv
import json

import numpy as np
import pytest
from PIL import Image

from anogan_core.cli import main


def _rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def scan_folder(tmp_path):
    folder = tmp_path / "scans"
    assert main(["phantom", "--out", str(folder), "--n", "2"]) == 0
    good = Image.open(folder / "normal_00.png")
    good.save(folder / "truncated.png")
    (folder / "truncated.png").write_bytes((folder / "truncated.png").read_bytes()[:3000])
    (folder / "empty.png").touch()
    (folder / "notes.png").write_text("not an image")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 50), dtype=np.uint8)).save(folder / "tiny.png")
    Image.fromarray(np.zeros((496, 512), np.uint8)).save(folder / "black.png")
    return folder


def test_phantom_writes_labelled_scans(scan_folder):
    labels = _rows(scan_folder / "labels.csv")
    assert [r["label"] for r in labels] == ["normal", "normal", "fluid", "fluid"]
    assert all(Image.open(scan_folder / r["image"]).mode == "L" for r in labels)


def test_score_a_folder_writes_tables_maps_and_the_run_record(trained_run, scan_folder, tmp_path, capsys):
    out = tmp_path / "scores"
    assert main(["score", "--run", str(trained_run), str(scan_folder), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    scans = {r["file"].rsplit("/", 1)[-1]: r for r in _rows(out / "scans.csv")}
    refused = {name: r["reason"] for name, r in scans.items() if r["status"] == "refused"}
    assert refused == {
        "black.png": "constant image (every pixel is 0), nothing to score",
        "empty.png": "empty file",
        "notes.png": refused["notes.png"],
        "tiny.png": "too small, 30x50 pixels after cropping constant borders; a scan needs at least 64x64",
        "truncated.png": refused["truncated.png"],
    }
    assert refused["notes.png"].startswith("unreadable") and refused["truncated.png"].startswith("unreadable")
    for name in refused:  # one line each on stderr, naming the file and the reason
        assert sum(name in line and line.startswith("refused ") for line in captured.err.splitlines()) == 1
    assert "scored 4 of 9 scans, refused 5" in captured.out
    scored = {n: float(r["score"]) for n, r in scans.items() if r["status"] == "scored"}
    assert np.mean([scored["normal_00.png"], scored["normal_01.png"]]) < np.mean(
        [scored["fluid_00.png"], scored["fluid_01.png"]]
    )
    patches = _rows(out / "patches.csv")
    for name, r in scans.items():
        own = [p for p in patches if p["file"].endswith("/" + name)]
        assert len(own) == (int(r["windows"]) if r["status"] == "scored" else 0)
    assert sorted(p.name for p in (out / "maps").iterdir()) == sorted(scored)
    record = json.loads((out / "run.json").read_text())
    assert record["scored"] == 4 and set(record["refused"]) == {str(scan_folder / n) for n in refused}
    assert record["settings"]["width_mm"] == 6.0 and record["model"] == str(trained_run)
    # calibrated on fresh healthy phantom scans: a label and a score normalised to 0.5 at the threshold
    calibration = record["calibration"]
    assert calibration["fpr"] == 0.05 and calibration["n_scans"] == 20 and "seed 202" in calibration["source"]
    for r in scans.values():
        if r["status"] == "scored":
            assert r["label"] == ("anomalous" if float(r["score"]) > calibration["threshold"] else "normal")
            assert (float(r["normalised"]) > 0.5) == (r["label"] == "anomalous")
    assert all(p["normalised"] for p in patches)


def test_an_existing_output_folder_is_kept_unless_forced(trained_run, scan_folder, tmp_path, capsys):
    out = tmp_path / "scores"
    out.mkdir()
    (out / "scans.csv").write_text("precious")
    args = ["score", "--run", str(trained_run), str(scan_folder / "fluid_00.png"), "--out", str(out), "--quiet"]
    assert main(args) == 2
    assert "not empty; pass --force" in capsys.readouterr().err
    assert (out / "scans.csv").read_text() == "precious"
    assert main([*args, "--force"]) == 0
    assert _rows(out / "scans.csv")[0]["status"] == "scored"


def test_bad_arguments_name_the_option(trained_run, scan_folder, tmp_path, capsys):
    for width in (
        "-1",
        "inf",
        "nan",
        "1e9",
        "0.001",
        "six",
    ):  # never an overflow, a huge allocation or a 64-column scan
        with pytest.raises(SystemExit) as stop:
            main(
                [
                    "score",
                    "--run",
                    str(trained_run),
                    str(scan_folder),
                    "--out",
                    str(tmp_path / "o"),
                    "--width-mm",
                    width,
                ]
            )
        expected = f"--width-mm: expected a scan width in mm from 1 to 30, got '{width}'"
        assert stop.value.code == 2 and expected in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["score", "--run", str(trained_run), str(scan_folder), "--out", str(tmp_path / "o"), "--fpr", "1.5"])
    assert stop.value.code == 2 and "--fpr: expected a rate in (0, 1), got '1.5'" in capsys.readouterr().err
    assert main(["score", "--run", str(tmp_path), str(scan_folder), "--out", str(tmp_path / "o")]) == 2
    assert "not a run folder (no metrics.json)" in capsys.readouterr().err
    (tmp_path / "none").mkdir()
    assert main(["score", "--run", str(trained_run), str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no image or volume files found" in capsys.readouterr().err


def test_the_encoder_mapping_is_an_option(trained_run, scan_folder, tmp_path):
    out = tmp_path / "fast"
    args = ["score", "--run", str(trained_run), str(scan_folder / "fluid_00.png"), "--out", str(out), "--quiet"]
    assert main([*args, "--mapping", "encoder"]) == 0
    assert json.loads((out / "run.json").read_text())["settings"]["mapping"] == "encoder"
    assert _rows(out / "scans.csv")[0]["status"] == "scored"
