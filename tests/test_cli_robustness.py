"""`anogan score` on odd inputs, interrupted runs and broken run folders: it never dies on one file
and never loses what it scored."""

import csv
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from anogan_core import scoring
from anogan_core.cli import main
from anogan_core.phantom import make_scans


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _score(run: Path, inputs: list[Path], out: Path, *extra: str) -> int:
    return main(["score", "--run", str(run), *map(str, inputs), "--out", str(out), "--quiet", *extra])


@pytest.fixture(scope="module")
def healthy() -> list[np.ndarray]:
    return [s.image for s in make_scans(3, 101)]


def test_odd_files_each_get_one_row_and_the_rest_are_scored(trained_run, healthy, tmp_path, capsys):
    folder = tmp_path / "mixed"
    (folder / "NORMAL").mkdir(parents=True)  # Kermany's own layout: class subfolders
    Image.fromarray(healthy[0]).save(folder / "NORMAL" / "normal.png")
    Image.fromarray(healthy[1]).convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (496, 512), dtype=np.uint8)).save(folder / "noise.png")
    Image.fromarray(np.ascontiguousarray(healthy[2].T)).save(folder / "turned.png")  # a B-scan turned by 90 degrees
    Image.new("L", (8192, 3968), 90).save(folder / "huge.png")
    assert _score(trained_run, [folder], tmp_path / "out") == 0
    rows = {Path(r["file"]).name: r for r in _rows(tmp_path / "out" / "scans.csv")}
    assert sorted(rows) == ["cmyk.jpg", "huge.png", "noise.png", "normal.png", "turned.png"]  # one row each
    assert rows["normal.png"]["status"] == rows["cmyk.jpg"]["status"] == "scored"
    assert rows["normal.png"]["quality"] == "ok"
    assert (
        rows["huge.png"]["reason"]
        == "3968x8192 pixels, larger than any OCT B-scan; the limit is 2048 rows and 8192 columns"
    )
    for name in ("noise.png", "turned.png"):  # scored with a flag, or refused with a reason: never a traceback
        assert rows[name]["status"] == "scored" or rows[name]["reason"], name
    assert "Traceback" not in capsys.readouterr().err


def test_a_posterised_export_is_flagged(trained_run, healthy, tmp_path):
    Image.fromarray((healthy[0] // 64 * 64 + 32).astype(np.uint8)).save(tmp_path / "posterised.png")
    assert _score(trained_run, [tmp_path / "posterised.png"], tmp_path / "out") == 0
    (row,) = _rows(tmp_path / "out" / "scans.csv")
    assert row["grey_levels"] == "4" and row["quality"].startswith("check: only 4 grey levels: a posterised")


def test_an_unexpected_error_refuses_its_scan_with_the_stage_and_strict_raises(trained_run, healthy, tmp_path,
                                                                                 monkeypatch):  # fmt: skip
    Image.fromarray(healthy[0]).save(tmp_path / "a.png")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(scoring, "score_flat_scan", broken)
    assert _score(trained_run, [tmp_path / "a.png"], tmp_path / "out") == 1
    (row,) = _rows(tmp_path / "out" / "scans.csv")
    assert row["status"] == "refused" and row["reason"] == "score failed (RuntimeError: a bug of ours)"
    with pytest.raises(RuntimeError, match="a bug of ours"):
        _score(trained_run, [tmp_path / "a.png"], tmp_path / "strict", "--strict")


def _comparable(out: Path) -> tuple:
    scans = [{k: v for k, v in r.items() if k != "seconds"} for r in _rows(out / "scans.csv")]
    return scans, _rows(out / "patches.csv"), sorted(p.name for p in (out / "maps").iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_score_resumes_to_the_tables_of_an_uninterrupted_one(trained_run, healthy, tmp_path, sig):
    folder = tmp_path / "scans"
    folder.mkdir()
    for i, image in enumerate(healthy * 2):
        Image.fromarray(image).save(folder / f"scan{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    assert _score(trained_run, [folder], tmp_path / "whole") == 0
    out = tmp_path / "cut"
    cmd = [sys.executable, "-m", "anogan_core", "score", "--run", str(trained_run), str(folder), "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--quiet"], stderr=subprocess.PIPE, text=True)
    stop_after = int(np.random.default_rng(int(sig)).integers(1, 6))  # rows written before the signal
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        scans = out / "scans.csv"
        if scans.is_file() and scans.read_text().count("\n") > stop_after:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in ((130, 0) if sig == signal.SIGINT else (-signal.SIGKILL, 0))
    if sig == signal.SIGINT and proc.returncode == 130:
        assert "continue with the same command and --resume" in err
    assert _score(trained_run, [folder], out) == 2  # not empty: kept
    assert _score(trained_run, [folder], out, "--resume") == 0
    assert _comparable(out) == _comparable(tmp_path / "whole")


def test_resume_refuses_another_model_or_other_settings(trained_run, healthy, tmp_path, capsys):
    Image.fromarray(healthy[0]).save(tmp_path / "a.png")
    assert _score(trained_run, [tmp_path / "a.png"], tmp_path / "out") == 0
    assert _score(trained_run, [tmp_path / "a.png"], tmp_path / "out", "--resume", "--stride", "8") == 2
    assert "scored with another model or other settings (settings differ)" in capsys.readouterr().err
    assert _score(trained_run, [tmp_path / "a.png"], tmp_path / "new", "--resume") == 2
    assert "no run.json there, nothing to resume" in capsys.readouterr().err


def test_a_cut_short_run_record_is_refused_in_one_line(trained_run, healthy, tmp_path, capsys):
    broken = tmp_path / "runs" / "broken"
    broken.mkdir(parents=True)
    text = (trained_run / "metrics.json").read_text()
    (broken / "metrics.json").write_text(text[: len(text) // 2])
    Image.fromarray(healthy[0]).save(tmp_path / "a.png")
    assert _score(broken, [tmp_path / "a.png"], tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable metrics file (JSONDecodeError" in err


MODES = ["L", "I;16", "I", "F", "RGB", "RGBA", "LA", "P", "1", "CMYK"]
FORMATS = {"png": ["L", "I;16", "RGB", "RGBA", "LA", "P", "1"], "tif": MODES, "jpg": ["L", "RGB", "CMYK"]}


@st.composite
def odd_file(draw) -> tuple[str, bytes | Image.Image]:
    """Garbage bytes, or an image of random size, mode, depth and content in a format that can hold it."""
    if draw(st.booleans()):
        header = draw(st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00"]))
        return draw(st.sampled_from(["png", "jpg", "tif", "vol", "dcm"])), header + draw(st.binary(max_size=300))
    fmt = draw(st.sampled_from(sorted(FORMATS)))
    mode = draw(st.sampled_from(FORMATS[fmt]))
    rows, cols = draw(st.integers(1, 600)), draw(st.integers(1, 700))
    seed = draw(st.integers(0, 2**16))
    base = make_scans(1, seed % 7)[0].image if draw(st.booleans()) else None
    rng = np.random.default_rng(seed)
    grey = rng.integers(0, 256, (rows, cols), dtype=np.uint8) if base is None else base[:rows, :cols]
    im = Image.fromarray(np.ascontiguousarray(grey)).convert(mode)
    return fmt, im


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(odd_file(), min_size=1, max_size=3))
def test_any_file_gets_exactly_one_row_and_the_command_never_raises(trained_run, tmp_path, files):
    work = tmp_path / "work"
    shutil.rmtree(work, ignore_errors=True)
    (work / "in").mkdir(parents=True)
    for i, (fmt, content) in enumerate(files):
        path = work / "in" / f"f{i}.{fmt}"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content.save(path)
    assert _score(trained_run, [work / "in"], work / "out", "--mapping", "encoder") in (0, 1)
    rows = _rows(work / "out" / "scans.csv")
    assert sorted(Path(r["file"]).name for r in rows) == sorted(f"f{i}.{fmt}" for i, (fmt, _) in enumerate(files))
    assert all(r["status"] == "scored" or r["reason"] for r in rows)


def test_a_thresholded_export_that_cannot_be_flattened_says_what_to_check(trained_run, healthy, tmp_path):
    Image.fromarray(np.where(healthy[0] > 60, 200, 0).astype(np.uint8)).save(tmp_path / "thresholded.png")
    assert _score(trained_run, [tmp_path / "thresholded.png"], tmp_path / "out") in (0, 1)
    (row,) = _rows(tmp_path / "out" / "scans.csv")
    said = row["reason"] if row["status"] == "refused" else row["quality"]
    assert "only 2 grey levels" in said and ("intensity mapping" in said or "grey mapping" in said)
