"""Execute the chapters with papermill and build the site with Jupyter Book 1.x.

    python scripts/book.py build --profile smoke --dataset synthetic
    python scripts/book.py run 03_mapping --profile cpu -p lam 0.5

``run`` executes chapters (all, or the named ones) into
``_build/executed/<dataset>-<profile>[-<hash>]/``; a chapter whose source,
parameters and package code are unchanged since its last successful execution
is not executed again. ``build`` runs them all, then renders the site from the
executed notebooks into ``_build/site/<same key>/html`` with execution off and
warnings as errors. Any execution error exits non-zero and shows the failing cell.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from jupyter_client.manager import AsyncKernelManager

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core.config import DATASETS, PROFILES, ConfigError, make_config  # noqa: E402
from anogan_core.scaling import NOTHING_RECORDED  # noqa: E402

BOOK = ROOT / "book"


KERNEL_SOCKETS = Path(tempfile.mkdtemp(prefix="anogan-kernels-"))
atexit.register(shutil.rmtree, KERNEL_SOCKETS, True)


class LocalKernelManager(AsyncKernelManager):
    """Chapters' kernels talk to papermill over local IPC sockets in a private temporary folder
    instead of TCP ports, so ipykernel has no reason to warn, for every chapter, that TCP
    traffic is unencrypted."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", str(KERNEL_SOCKETS / "kernel"))
        super().__init__(**kwargs)


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for c in toc["chapters"]]


def _source(name: str, book: Path) -> Path:
    for suffix in (".py", ".md"):
        if (book / f"{name}{suffix}").exists():
            return book / f"{name}{suffix}"
    raise SystemExit(f"no chapter source {book}/{name}.py or .md")


READS_RESULTS = ("index", "08_scale")  # pages drawn from the recorded numbers in results/


def _fingerprint(src: Path, params: dict) -> str:
    """What a chapter's execution depends on: its source, parameters, the package's code and, for
    the pages that read them, the recorded results."""
    h = hashlib.sha256(src.read_bytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    inputs = sorted((ROOT / "anogan_core").glob("*.py"))
    if src.stem in READS_RESULTS:
        inputs += sorted((ROOT / "results").rglob("*.json"))
    for f in inputs:
        h.update(str(f.relative_to(ROOT)).encode() + f.read_bytes())
    return h.hexdigest()


def _parse_value(text: str) -> object:
    value = yaml.safe_load(text)
    return text if value is None else value


def run_key(params: dict) -> tuple[str, object]:
    """(folder name, config): validates the parameters before anything runs."""
    core = {k: v for k, v in params.items() if k not in ("profile", "dataset", "data_dir", "seed")}
    try:
        cfg = make_config(
            params["profile"], params["dataset"], params.get("data_dir") or None, params.get("seed", 0), **core
        )
    except (ConfigError, TypeError) as err:
        raise SystemExit(f"error: {err}") from None
    return cfg.run_dir.name, cfg


def execute(names: list[str], params: dict, out_dir: Path, book: Path = BOOK) -> None:
    """Execute chapters with papermill into ``out_dir``; stops at the first failing one."""
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.pop("MPLBACKEND", None)  # a non-inline backend would drop every figure from the pages
    for name in names:
        src = _source(name, book)
        target = out_dir / f"{name}{src.suffix if src.suffix == '.md' else '.ipynb'}"
        if src.suffix == ".md":
            shutil.copyfile(src, target)
            continue
        nb = jupytext.read(src)
        nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
        accepted = _parameters_of(nb)
        chapter_params = {k: v for k, v in params.items() if k in accepted}
        fingerprint = _fingerprint(src, chapter_params)
        if target.exists() and nbformat.read(target, 4).metadata.get("anogan_fingerprint") == fingerprint:
            print(f"[book] {name}: unchanged, not executed again")
            continue
        print(f"[book] {name}: executing with {chapter_params}", flush=True)
        tmp = out_dir / f".{name}.input.ipynb"
        nbformat.write(nb, tmp)
        try:
            papermill.execute_notebook(
                str(tmp), str(target.with_suffix(".partial.ipynb")), parameters=chapter_params,
                kernel_name="python3", cwd=str(book), progress_bar=False, log_output=False,
                kernel_manager_class=LocalKernelManager,
            )  # fmt: skip
        except papermill.PapermillExecutionError as err:
            target.unlink(missing_ok=True)
            trace = "".join(err.traceback)
            raise SystemExit(
                f"[book] {name} failed in cell {err.exec_count}:\n{err.ename}: {err.evalue}\n{trace}"
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        done = nbformat.read(target.with_suffix(".partial.ipynb"), 4)
        done.metadata["anogan_fingerprint"] = fingerprint
        for cell in done.cells:  # the banner names the settings: the parameter cells need not show
            tags = cell.metadata.setdefault("tags", [])
            if {"parameters", "injected-parameters"} & set(tags) and "remove-cell" not in tags:
                tags.append("remove-cell")
        nbformat.write(done, target.with_suffix(".partial.ipynb"))
        target.with_suffix(".partial.ipynb").replace(target)


def _parameters_of(nb: nbformat.NotebookNode) -> set[str]:
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return {
                line.split("=")[0].strip()
                for line in cell.source.splitlines()
                if "=" in line and not line.startswith("#")
            }
    return set()


def build(params: dict, key: str) -> Path:
    executed = ROOT / "_build" / "executed" / key
    execute(chapters(), params, executed)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    (executed / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copyfile(ROOT / "_toc.yml", executed / "_toc.yml")
    shutil.copytree(BOOK / "_static", executed / "_static", dirs_exist_ok=True)  # the site's CSS
    site = ROOT / "_build" / "site" / key
    cmd = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(executed),
        "--path-output",
        str(site),
        "-W",
        "-n",
        "--keep-going",
    ]
    print("[book]", " ".join(cmd), flush=True)
    if subprocess.run(cmd).returncode:
        raise SystemExit("[book] the site build failed (see the warnings above)")
    html = site / "_build" / "html"
    prose = {name for name in chapters() if _source(name, BOOK).suffix == ".md"}
    problems = check_site(html, chapters(), prose)
    if problems:
        raise SystemExit("[book] the site is incomplete:\n" + "\n".join(problems))
    return html


def check_site(html: Path, pages: list[str], prose: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Problems of a built site: a chapter page without a figure (``prose`` pages, written in
    Markdown, need none, nor a page of recorded results that says none is recorded yet) or a
    table, or with error output. Empty when the site is sound."""
    problems = []
    for name in pages:
        page = html / f"{name}.html"
        if not page.exists():
            problems.append(f"{page}: missing")
            continue
        text = page.read_text()
        if name != chapters()[0] and name not in prose and "<img" not in text and NOTHING_RECORDED not in text:
            problems.append(f"{page}: no figure")
        if "<table" not in text:
            problems.append(f"{page}: no table")
        if "Traceback (most recent call last)" in text or 'class="output traceback' in text:
            problems.append(f"{page}: error output")
    return problems


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("run", "build"))
    ap.add_argument("chapters", nargs="*", help="chapter names (run only); default: all")
    ap.add_argument("--profile", default="smoke", help=f"one of {', '.join(PROFILES)}")
    ap.add_argument("--dataset", default="synthetic", help=f"one of {', '.join(DATASETS)}")
    ap.add_argument("--data-dir", default="", help="data folder (default: $ANOGAN_DATA or data/oct)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="chapter parameter")
    args = ap.parse_args(argv)
    params = {"profile": args.profile, "dataset": args.dataset, "data_dir": args.data_dir, "seed": args.seed}
    params.update({k: _parse_value(v) for k, v in args.p})
    key, cfg = run_key(params)
    if params["data_dir"]:  # chapters run in book/: a path relative to here would point elsewhere there
        params["data_dir"] = cfg.data_dir
    if args.command == "run":
        unknown = sorted(set(args.chapters) - set(chapters()))
        if unknown:
            raise SystemExit(f"error: unknown chapter(s) {unknown}; allowed: {', '.join(chapters())}")
        execute(args.chapters or chapters(), params, ROOT / "_build" / "executed" / key)
    else:
        html = build(params, key)
        print(f"[book] site: {html / 'index.html'}")


if __name__ == "__main__":
    main()
