"""The book's mechanics: failures fail the build, bad parameters are named."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from anogan_core.config import TUNABLE

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("book_script", ROOT / "scripts" / "book.py")
book = importlib.util.module_from_spec(spec)
spec.loader.exec_module(book)

FAILING = """# %% [markdown]
# # Bad chapter

# %% tags=["parameters"]
profile = "smoke"

# %%
raise RuntimeError("deliberate failure")
"""


def test_toc_and_config_are_shared_with_book_folder():
    assert (ROOT / "book" / "_config.yml").resolve() == ROOT / "_config.yml"
    assert (ROOT / "book" / "_toc.yml").resolve() == ROOT / "_toc.yml"
    names = book.chapters()
    assert names[0] == "index" and all(book._source(n, ROOT / "book").exists() for n in names)


def test_every_chapter_declares_the_same_parameters_and_only_configuration_fields():
    """papermill needs each notebook's own parameters cell: they must not drift apart."""
    import jupytext

    cells = {}
    for name in [n for n in book.chapters() if book._source(n, ROOT / "book").suffix == ".py"]:
        nb = jupytext.read(ROOT / "book" / f"{name}.py")
        cells[name] = next(c.source for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        params = book._parameters_of(nb)
        assert {"profile", "dataset", "data_dir", "seed", "lam", "steps"} <= params, name
        assert params <= {"profile", "dataset", "data_dir", *TUNABLE}, name
    assert len(set(cells.values())) == 1, f"parameters cells differ: {sorted(cells)}"


def test_failing_chapter_fails_papermill_execution(tmp_path):
    (tmp_path / "bad.py").write_text(FAILING)
    with pytest.raises(SystemExit, match=r"(?s)bad failed in cell 3.*RuntimeError: deliberate failure"):
        book.execute(["bad"], {"profile": "smoke"}, tmp_path / "out", book=tmp_path)
    assert not (tmp_path / "out" / "bad.ipynb").exists()


def test_failing_chapter_fails_jupyter_book_build(tmp_path):
    shutil.copyfile(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: bad\n")
    (tmp_path / "index.md").write_text("# Index\n")
    (tmp_path / "bad.py").write_text(FAILING)
    exe = Path(sys.executable).parent / "jupyter-book"
    proc = subprocess.run([str(exe), "build", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "deliberate failure" in proc.stdout + proc.stderr


def test_bad_parameters_are_named_before_anything_runs():
    with pytest.raises(SystemExit, match="unknown profile 'fast'; allowed: smoke, cpu, paper"):
        book.main(["build", "--profile", "fast"])
    with pytest.raises(SystemExit, match="'lam' must lie in"):
        book.main(["run", "-p", "lam", "2"])
    with pytest.raises(SystemExit, match="unknown chapter"):
        book.main(["run", "99_nothing"])
    with pytest.raises(SystemExit, match="data directory '/nowhere' for dataset 'oct' does not exist"):
        book.main(["run", "--dataset", "oct", "--data-dir", "/nowhere"])


def test_relative_data_dir_reaches_the_chapters_as_an_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "scans").mkdir()
    monkeypatch.chdir(tmp_path)
    seen = {}
    monkeypatch.setattr(book, "execute", lambda names, params, out_dir: seen.update(params))
    book.main(["run", "01_preprocessing", "--dataset", "oct", "--data-dir", "scans"])
    assert seen["data_dir"] == str(tmp_path / "scans")


def test_check_site_finds_missing_figures_and_errors(tmp_path, monkeypatch):
    (tmp_path / "index.html").write_text("<table></table>")
    (tmp_path / "a.html").write_text("<table></table><img src=x>")
    (tmp_path / "b.html").write_text("<table></table>Traceback (most recent call last)")
    (tmp_path / "prose.html").write_text("<table></table>")
    monkeypatch.setattr(book, "chapters", lambda: ["index", "a", "b", "c", "prose"])
    problems = book.check_site(tmp_path, ["index", "a", "b", "c", "prose"], {"prose"})
    assert any("b.html: no figure" in p for p in problems)
    assert any("b.html: error output" in p for p in problems)
    assert any("c.html: missing" in p for p in problems)
    assert not any("a.html" in p or "index.html" in p or "prose.html" in p for p in problems)
