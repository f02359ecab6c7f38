"""Table 1 of the paper without Jupyter: chapter 5's patch-level scores, stage by stage.

For a machine that has PyTorch but not the book's tools, such as a GPU host:

    python scripts/table1.py --profile paper --dataset oct --data-dir DATA --out OUT

Each stage is the pipeline's cached one (data, DCGAN, mappings, aCAE), so a run that is
stopped resumes where it was. After every stage ``OUT`` gets ``scores.npz`` (each method's
score of every patch-level test patch, their labels and the darkness floor: numbers, no
pixels) and the log prints plain AUCs. After training it also gets the trained G and D
(``gan.pt.<n>``, parts of at most 15 MiB, and ``gan_done.json``). Only the patch-level test
patches are mapped (Table 1); the B-scan-level test and chapter 5's diagnosis need the book.

Back on any machine with the same data, ``--import OUT`` (same configuration) puts the GAN into
the stage cache, checks that its own test set is the one that was scored (same patches, same
labels, same darkness floor), and records Table 1 with patient-clustered bootstrap intervals in
``<run_dir>/metrics.json`` (chapters ``02_dcgan`` and ``05_evaluation``), as chapter 5 does.

``--pack DIR`` copies the data files the configuration reads into DIR (every healthy Kermany
scan, the Duke set, the chosen disease scans), for a host with an upload limit;
``-p n_disease_scans 20`` keeps it small and leaves the patch-level test set unchanged.
"""

from __future__ import annotations

import argparse
import io
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core import pipeline  # noqa: E402
from anogan_core.baselines import acae_scores, discriminator_score, floor_scores  # noqa: E402
from anogan_core.config import DATASETS, PROFILES, Config, make_config, pick_device  # noqa: E402
from anogan_core.datasets import DUKE, KERMANY, load_scans  # noqa: E402
from anogan_core.mapping import map_to_latent  # noqa: E402
from anogan_core.metrics import auc  # noqa: E402
from anogan_core.models import sample_z  # noqa: E402
from anogan_core.patches import PatchSet, decode  # noqa: E402
from anogan_core.report import fmt_ci  # noqa: E402
from anogan_core.storage import (  # noqa: E402
    atomic_write,
    load_arrays,
    load_json,
    load_torch,
    save_arrays,
    save_json,
    save_torch,
)

PART_BYTES = 15 * 2**20
GAN_KEYS = ("G", "D", "history", "samples", "width", "z_dim", "resize_conv", "spectral_norm", "epoch")


def parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def pack(cfg: Config, dest: Path) -> None:
    """Copy the files ``cfg`` reads (same selection, same order) into ``dest``."""
    src = Path(cfg.data_dir)
    _, test = load_scans(cfg.dataset, cfg.data_dir, cfg.seed, cfg.n_train_scans, cfg.n_test_scans, cfg.n_disease_scans)
    shutil.copytree(src / DUKE, dest / DUKE, dirs_exist_ok=True)
    shutil.copytree(src / KERMANY / "NORMAL", dest / KERMANY / "NORMAL", dirs_exist_ok=True)
    for scan in test:
        if scan.source == "kermany" and not scan.healthy:
            (path,) = (src / KERMANY / scan.label).glob(f"{scan.name}.*")
            (dest / KERMANY / scan.label).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / KERMANY / scan.label / path.name)
    print(f"packed {sum(f.stat().st_size for f in dest.rglob('*') if f.is_file()) / 2**20:.1f} MiB into {dest}")


def export_gan(cfg: Config, out: Path) -> None:
    """G, D and the training record (no optimiser state) in parts of at most ``PART_BYTES``."""
    ck = load_torch(cfg.stage_dir("gan") / "checkpoint.pt")
    buffer = io.BytesIO()
    torch.save({k: ck[k] for k in GAN_KEYS}, buffer)
    data = buffer.getvalue()
    for i in range(0, len(data), PART_BYTES):
        atomic_write(out / f"gan.pt.{i // PART_BYTES}", lambda fh, i=i: fh.write(data[i : i + PART_BYTES]))
    save_json(out / "gan_done.json", load_json(cfg.stage_dir("gan") / "done.json"))


def import_gan(cfg: Config, folder: Path) -> dict[str, Any]:
    """Put an exported GAN into this checkout's stage cache for ``cfg``; its training record."""
    parts = sorted(folder.glob("gan.pt.*"), key=lambda p: int(p.suffix[1:]))
    if not parts:
        raise SystemExit(f"{folder}: no gan.pt.<n> parts to import")
    ck = torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), weights_only=False)
    target = cfg.stage_dir("gan")
    done = load_json(folder / "gan_done.json")
    save_torch(target / "checkpoint.pt", ck)
    save_json(target / "history.json", ck["history"])
    save_json(target / "done.json", done)
    print(f"imported the GAN into {target}")
    return done


def sample_scores(cfg: Config, test: PatchSet, subset: np.ndarray, loss: str) -> dict[str, np.ndarray]:
    """Map the test patches at ``subset`` with ``loss`` here, ``map_chunk`` queries at a time, each
    block's scores kept in ``<run_dir>/sample-<n>/`` as soon as it is done (a stopped run resumes).
    Each query starts where the whole test set's mapping would start it, so the scores equal
    those rows of that mapping."""
    folder = cfg.run_dir / f"sample-{len(subset)}"
    G, D, _, _ = pipeline.trained_gan(cfg)
    settings = pipeline.mapping_settings(cfg)
    z_init = None
    if cfg.map_starts == 1:  # as pipeline.mapped: one random z_1 per test patch
        z_init = sample_z(len(test), cfg.z_dim, torch.Generator().manual_seed(cfg.seed + 7))[subset]
    blocks = []
    for start in tqdm(range(0, len(subset), cfg.map_chunk), desc=f"{loss} blocks of {cfg.map_chunk}"):
        path = folder / f"{loss}-{start}.npz"
        if not path.exists():
            rows = subset[start : start + cfg.map_chunk]
            own = {
                "loss": loss,
                "progress": False,
                "z_init": None if z_init is None else z_init[start : start + len(rows)],
            }
            r = map_to_latent(G, D, decode(test.x[rows]), **(settings | own))
            save_arrays(path, anomaly=r.anomaly, residual=r.residual, discrimination=r.discrimination,
                        reference=r.reference)  # fmt: skip
        blocks.append(load_arrays(path))
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def import_scores(cfg: Config, folder: Path, command: str, sample: int) -> None:
    """Record Table 1 from a run elsewhere (its GAN, and its scores after checking they belong to
    this test set); what it did not score is scored here: P_D and the floors on every patch-level
    test patch, the mappings on a seeded sample of ``sample`` of them."""
    started = time.perf_counter()
    done = import_gan(cfg, folder)
    train, test = pipeline.prepare_data(cfg)
    index = pipeline.query_index(cfg, "patch", train, test)
    darkness = floor_scores(test.x[index])["darkness (-mean)"]
    saved = {"index": index, "label": test.label[index], "darkness": darkness}
    if (folder / "scores.npz").exists():
        saved = load_arrays(folder / "scores.npz")
        if not (np.array_equal(saved["index"], index) and np.array_equal(saved["label"], test.label[index])
                and np.allclose(saved["darkness"], darkness)):  # fmt: skip
            raise SystemExit(f"{folder / 'scores.npz'}: scored on another test set than this configuration's")
    scored_elsewhere = [m for m in (*METHODS, *COMPONENTS) if m in saved]

    def full(values: np.ndarray, at: np.ndarray = index) -> np.ndarray:
        whole = np.full(len(test), np.nan)
        whole[at] = values
        return whole

    scores = {m: full(saved[m]) for m in METHODS if m in saved}
    components = {m: full(saved[m]) for m in COMPONENTS if m in saved}
    if "P_D" not in scores:
        G, D, _, _ = pipeline.trained_gan(cfg)
        scores["P_D"] = full(discriminator_score(D, decode(test.x[index])))
    subset = index
    if sample and ("AnoGAN" not in scores or "GAN_R" not in scores):
        pick = np.random.default_rng(cfg.seed + 23).choice(len(index), min(sample, len(index)), replace=False)
        subset = index[np.sort(pick)]
        feature, yeh = (sample_scores(cfg, test, subset, loss) for loss in ("feature", "yeh"))
        scores |= {"AnoGAN": full(feature["anomaly"], subset), "GAN_R": full(yeh["anomaly"], subset)}
        components |= {"R(x)": full(feature["residual"], subset), "D(x)": full(feature["discrimination"], subset),
                       "D^(x)": full(yeh["reference"], subset)}  # fmt: skip
    floors = floor_scores(test.x)
    results = pipeline.table1_results(test, scores, components, floors, cfg.n_bootstrap, cfg.seed, subset)
    record = {"train_s": done["train_s"], "trained_on": done["device"], "scored_elsewhere": scored_elsewhere,
              "patch_level_patches": len(index), "scored_patches": len(subset)}  # fmt: skip
    if (folder / "run.json").exists():
        record["run"] = load_json(folder / "run.json")
    pipeline.record(cfg, "02_dcgan", record, started, command)
    pipeline.record(cfg, "05_evaluation", results, started, command + (f" --sample {sample}" if sample else ""))
    for name, block in results.items():
        print(f"{name}: " + ", ".join(f"{m} {fmt_ci(r)}" for m, r in {**block["methods"], **block["floors"]}.items()))
    print(f"recorded {cfg.run_dir / 'metrics.json'}")


METHODS = ("AnoGAN", "GAN_R", "aCAE", "P_D")
COMPONENTS = ("R(x)", "D(x)", "D^(x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=PROFILES, default="paper")
    ap.add_argument("--dataset", choices=DATASETS, default="oct")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a config field")
    ap.add_argument("--out", type=Path, help="folder for the scores, the trained G and D and the run's record")
    ap.add_argument("--pack", type=Path, help="copy the data files the run reads into this folder and stop")
    ap.add_argument("--import", dest="imported", type=Path, help="record Table 1 from the --out folder of a run")
    ap.add_argument("--sample", type=int, default=0, help="with --import: map this many patch-level patches here")
    args = ap.parse_args()
    cfg = make_config(args.profile, args.dataset, args.data_dir, args.seed, **{k: parse_value(v) for k, v in args.p})
    command = f"python scripts/table1.py --profile {cfg.profile} --dataset {cfg.dataset} --seed {cfg.seed}"
    if args.pack:
        return pack(cfg, args.pack)
    if args.imported:
        return import_scores(cfg, args.imported, command, args.sample)
    if not args.out:
        ap.error("--out is required to score (or give --pack or --import)")
    out: Path = args.out
    device = pick_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
    started = time.perf_counter()
    clock = started
    stages: dict[str, float] = {}
    run = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        "git_commit": pipeline._git_commit(),
        "stages_s": stages,
    }

    def stage(name: str, text: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = round(now - clock, 1)
        print(f"[{now - started:7.1f} s] {text} ({now - clock:.1f} s)", flush=True)
        clock = now

    print(cfg.describe(), "on", run["device"], flush=True)
    train, test = pipeline.prepare_data(cfg)
    stage("data", f"data: {len(train)} training patches, {len(test)} test patches")
    G, D, history, _ = pipeline.trained_gan(cfg)
    export_gan(cfg, out)
    stage("gan", f"DCGAN: {history[-1]['epoch']:.2f} epochs, D(x) {history[-1]['d_real']:.2f}, "
                 f"D(G(z)) {history[-1]['d_fake']:.2f}")  # fmt: skip
    index = pipeline.query_index(cfg, "patch", train, test)
    x = decode(test.x[index])
    labels = test.label[index].astype(int)
    saved = {"index": index, "label": test.label[index], "darkness": floor_scores(test.x[index])["darkness (-mean)"]}

    def write() -> None:
        save_arrays(out / "scores.npz", **saved)
        save_json(out / "run.json", run)
        aucs = {m: auc(labels, saved[m]) for m in (*METHODS, "darkness") if m in saved}
        print("  all patch-level patches: " + ", ".join(f"{m} {a:.3f}" for m, a in aucs.items()), flush=True)

    saved["P_D"] = discriminator_score(D, x)
    anogan = pipeline.mapped(cfg, "feature", "patch")
    saved |= {"AnoGAN": anogan.anomaly, "R(x)": anogan.residual, "D(x)": anogan.discrimination}
    stage("anogan", f"AnoGAN: {len(index)} patches x {cfg.steps} steps")
    write()
    gan_r = pipeline.mapped(cfg, "yeh", "patch")
    saved |= {"GAN_R": gan_r.anomaly, "D^(x)": gan_r.reference}
    stage("gan_r", "GAN_R mapped")
    write()
    saved["aCAE"] = acae_scores(pipeline.trained_acae(cfg), x, cfg.lam)["anomaly"]
    stage("acae", "aCAE trained and scored")
    write()


if __name__ == "__main__":
    main()
