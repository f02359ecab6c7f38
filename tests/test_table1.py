"""scripts/table1.py, the GPU host's command, run on the CPU at the smoke profile."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from anogan_core import budget, pipeline
from anogan_core.config import make_config
from anogan_core.metrics import auc
from anogan_core.storage import load_arrays

ROOT = Path(__file__).resolve().parents[1]
# what the GPU host lacks: its python3 has torch, numpy, scipy, scikit-learn, matplotlib, tqdm and pillow only
NOT_ON_THE_GPU_HOST = {
    "yaml", "seaborn", "openTSNE", "eyepy", "pydicom", "papermill", "jupytext", "jupyter_book", "myst_nb",
    "nbformat", "IPython", "ipykernel", "pandas", "skimage", "imageio", "sphinx",
}  # fmt: skip
# the command as the GPU host runs it: importing one of those fails as it fails there (optional imports,
# such as scikit-learn's of pandas, fall back); torch's importlib.util.find_spec look-ups are left alone
BLOCKED_RUN = """
import builtins, importlib, runpy, sys
blocked, plain_import, plain_import_module = {blocked!r}, builtins.__import__, importlib.import_module
def refuse(name):
    if name.split(".")[0] in blocked:
        raise ModuleNotFoundError("not installed on the GPU host: " + name, name=name)
def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
        refuse(name)
    return plain_import(name, globals, locals, fromlist, level)
def guarded_import_module(name, package=None):
    refuse(name)
    return plain_import_module(name, package)
builtins.__import__, importlib.import_module = guarded_import, guarded_import_module
sys.argv = ["scripts/table1.py", *{args!r}]
runpy.run_path("scripts/table1.py", run_name="__main__")
"""


def table1(*args: str, blocked: bool = True) -> str:
    """Run scripts/table1.py from the working tree (PYTHONPATH=.), as the GPU host runs it."""
    env = os.environ | {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"}
    code = BLOCKED_RUN.format(blocked=NOT_ON_THE_GPU_HOST if blocked else set(), args=list(args))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_plan_keeps_what_fits_in_priority_order():
    projected = {"DCGAN": 100.0, "AnoGAN": 50.0, "GAN_R": 50.0, "aCAE": 30.0}
    runs = lambda plan: [d.stage for d in plan if d.run]  # noqa: E731
    assert runs(budget.plan(projected, 1000)) == ["DCGAN", "AnoGAN", "GAN_R", "aCAE"]
    assert runs(budget.plan(projected, 160)) == ["DCGAN", "AnoGAN"]  # GAN_R (50) does not fit in 10 s left
    assert runs(budget.plan(projected, 190)) == ["DCGAN", "AnoGAN", "aCAE"]  # a later, shorter stage still fits
    tight = budget.plan(projected, 90)  # no DCGAN: neither mapping can run, the aCAE can
    assert runs(tight) == ["aCAE"]
    assert [d.reason for d in tight][:3] == ["100 s projected, 90 s left", "needs the DCGAN, which is skipped",
                                             "needs the DCGAN, which is skipped"]  # fmt: skip
    done = budget.plan(projected | {"DCGAN": 0.0}, 60, {"AnoGAN", "DCGAN"})
    assert [(d.stage, d.run, d.reason) for d in done] == [
        ("DCGAN", True, "done already"), ("AnoGAN", True, "fits"), ("GAN_R", False, "not asked for"),
        ("aCAE", False, "not asked for"),
    ]  # fmt: skip


def test_projection_counts_only_the_work_left():
    rates = budget.Rates(gan_step=0.5, acae_step=0.25, map_step=0.1, map_chunk_fixed=2.0)
    work = budget.Work(gan_steps=200, acae_steps=40, map_chunks={"AnoGAN": 3, "GAN_R": 0}, map_steps=500)
    assert budget.project(work, rates) == {"DCGAN": 100.0, "aCAE": 10.0, "AnoGAN": 3 * (2 + 50.0), "GAN_R": 0.0}


def test_the_gpu_command_runs_at_smoke_on_the_cpu_with_only_the_gpu_hosts_packages(tmp_path, monkeypatch):
    runs, out = tmp_path / "runs", tmp_path / "out"
    monkeypatch.setenv("ANOGAN_RUNS", str(runs))
    common = ["--profile", "smoke", "--dataset", "synthetic"]
    plan = table1(*common, "--out", str(out), "--budget-s", "600", "--plan")
    assert "measured: DCGAN" in plan and "run  DCGAN" in plan and "run  aCAE" in plan
    assert not (out / "scores.npz").exists()  # a dry run trains nothing
    log = table1(*common, "--out", str(out), "--budget-s", "600")
    assert "aCAE trained and scored" in log
    # what comes back: at most 8 files of at most 16 MiB
    files = list(out.iterdir())
    assert len(files) <= 8 and max(f.stat().st_size for f in files) <= 16 * 2**20
    scores = load_arrays(out / "scores.npz")
    assert {"AnoGAN", "GAN_R", "aCAE", "P_D", "R(x)", "D(x)"} <= set(scores)
    assert json.loads((out / "run.json").read_text())["device"] == "cpu"
    # back here, in a fresh checkout's cache: Table 1 from the returned files equals the AUC of the scores
    monkeypatch.setenv("ANOGAN_RUNS", str(tmp_path / "here"))
    table1(*common, "--import", str(out), blocked=False)
    cfg = make_config("smoke", "synthetic")
    block = json.loads((cfg.run_dir / "metrics.json").read_text())["05_evaluation"]["results"]["fluid vs normal"]
    for method in ("AnoGAN", "GAN_R", "aCAE"):
        assert block["methods"][method]["auc"] == pytest.approx(auc(scores["label"], scores[method]))
    assert (cfg.stage_dir("gan") / "done.json").exists()  # the book's stage cache holds the imported GAN


def test_the_pack_is_checked_and_gives_the_same_patches(oct_root, tmp_path, monkeypatch):
    pack = tmp_path / "pack"
    common = ["--profile", "smoke", "--dataset", "oct"]
    monkeypatch.setenv("ANOGAN_RUNS", str(tmp_path / "runs-raw"))
    table1(*common, "--data-dir", str(oct_root), "--pack", str(pack), blocked=False)
    manifest = json.loads((pack / "pack.json").read_text())["files"]
    assert len(manifest) == sum(1 for f in pack.rglob("*") if f.is_file()) - 1
    raw_train, raw_test = pipeline.prepare_data(make_config("smoke", "oct", str(oct_root)), progress=False)
    monkeypatch.setenv("ANOGAN_RUNS", str(tmp_path / "runs-pack"))
    table1(*common, "--data-dir", str(pack), "--pack-queries", str(tmp_path / "q.npz"))  # verifies, then reads
    train, test = pipeline.prepare_data(make_config("smoke", "oct", str(pack)), progress=False)
    assert np.array_equal(np.asarray(train.x), np.asarray(raw_train.x))
    assert np.array_equal(np.asarray(test.x), np.asarray(raw_test.x)) and test.scans == raw_test.scans
    victim = pack / next(iter(manifest))
    victim.write_bytes(victim.read_bytes()[:-1])
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "scripts/table1.py", *common, "--data-dir", str(pack), "--pack-queries", "x.npz"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and f"{victim}: changed since it was packed" in done.stderr


def test_a_noisy_timing_never_projects_free_work():
    assert budget.per_unit(2.0, 5.0, 2, 8) == 0.5  # start-up of 1 s cancels
    assert budget.per_unit(5.0, 4.0, 2, 8) == 0.5  # the longer run came out faster: its mean, 4 s / 8
