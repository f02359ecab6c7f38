"""Table 1 of the paper without Jupyter: chapter 5's patch-level scores, stage by stage.

For a machine that has PyTorch but not the book's tools, such as a GPU host. Three ways to score:

    # all of it there: data, DCGAN, the two mappings, the aCAE (--methods picks some); with
    # --budget-s only the stages that fit, as the planner measures them (--plan: print, run nothing)
    python scripts/table1.py --profile paper --dataset oct --data-dir DATA --out OUT [--budget-s 480 [--plan]]
    # the mappings alone, with a GAN exported by an earlier run and queries packed here
    python scripts/table1.py --profile paper --dataset oct --data-dir DATA --pack-queries q.npz
    python scripts/table1.py --profile paper --dataset oct --data-dir data --queries q.npz --gan GAN --out OUT
    # back here, with the same data: record Table 1
    python scripts/table1.py --profile paper --dataset oct --data-dir DATA --import OUT [OUT2 ...] [--sample N]

Every stage is cached (the pipeline's stages; the packed queries' mapping in blocks under
``runs/queries``), so a run that is stopped resumes where it was. After every stage ``OUT``
gets ``scores.npz`` (each method's score of every patch-level test patch, their labels and the
darkness floor: numbers, no pixels) and ``run.json`` (device, versions, stage seconds), and the
log prints plain AUCs; after training it gets the trained G and D (``gan.pt.<n>``, parts of at
most 15 MiB, and ``gan_done.json``). Only the patch-level test patches are scored (Table 1);
the B-scan-level test and chapter 5's diagnosis need the book.

``--import`` puts the GAN into this checkout's stage cache, checks that its own test set is the
one that was scored (same patches, labels and darkness floor), scores here what no folder
holds (P_D; with ``--sample N`` the mappings of a seeded sample of N patch-level patches, in
blocks kept under the run folder) and records Table 1 with patient-clustered bootstrap
intervals in ``<run_dir>/metrics.json`` (``02_dcgan`` and ``05_evaluation``), as chapter 5 does.

``--budget-s S`` first times the DCGAN's and the aCAE's updates and the mapping's steps on the
device (:mod:`anogan_core.budget`), prints each stage's projected seconds, and runs in priority
order (DCGAN, AnoGAN, GAN_R, aCAE) only what fits; every stage resumes from its checkpoint or its
finished blocks. On the CPU the same command runs at the ``smoke`` profile in the tests.

``--pack DIR`` copies the data files the configuration reads into DIR (every healthy Kermany
scan, the Duke set, the chosen disease scans) with ``pack.json``, their SHA-256 digests, checked
before a run reads DIR; ``-p n_disease_scans 20`` keeps it small (48 MiB for the paper profile)
and leaves the patch-level test set unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import Module
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core import budget, pipeline  # noqa: E402
from anogan_core.baselines import acae_scores, discriminator_score, floor_scores  # noqa: E402
from anogan_core.config import DATASETS, PROFILES, Config, make_config, pick_device  # noqa: E402
from anogan_core.datasets import DUKE, KERMANY, load_scans  # noqa: E402
from anogan_core.mapping import map_to_latent  # noqa: E402
from anogan_core.metrics import auc  # noqa: E402
from anogan_core.patches import decode  # noqa: E402
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
from anogan_core.training import load_dcgan  # noqa: E402

PART_BYTES = 15 * 2**20
GAN_KEYS = ("G", "D", "history", "samples", "width", "z_dim", "resize_conv", "spectral_norm", "epoch")


def parse_value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


PACK_MANIFEST = "pack.json"


def pack(cfg: Config, dest: Path) -> None:
    """Copy the files ``cfg`` reads (same selection, same order) into ``dest``, with a manifest of
    their SHA-256 digests that :func:`verify_pack` checks on the other side."""
    src = Path(cfg.data_dir)
    _, test = load_scans(cfg.dataset, cfg.data_dir, cfg.seed, cfg.n_train_scans, cfg.n_test_scans, cfg.n_disease_scans)
    shutil.copytree(src / DUKE, dest / DUKE, dirs_exist_ok=True)
    shutil.copytree(src / KERMANY / "NORMAL", dest / KERMANY / "NORMAL", dirs_exist_ok=True)
    for scan in test:
        if scan.source == "kermany" and not scan.healthy:
            (path,) = (src / KERMANY / scan.label).glob(f"{scan.name}.*")
            (dest / KERMANY / scan.label).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / KERMANY / scan.label / path.name)
    files = sorted(f for f in dest.rglob("*") if f.is_file() and f.name != PACK_MANIFEST)
    digests = {str(f.relative_to(dest)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    save_json(dest / PACK_MANIFEST, {"config": cfg.describe(), "files": digests})
    print(f"packed {len(files)} files, {sum(f.stat().st_size for f in files) / 2**20:.1f} MiB, into {dest}")


def verify_pack(folder: Path) -> None:
    """Refuse a packed data folder whose files differ from its manifest (a file missing or changed)."""
    manifest = load_json(folder / PACK_MANIFEST)["files"]
    for name, digest in manifest.items():
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{path}: {'missing' if not path.is_file() else 'changed'} since it was packed")
    print(f"{folder}: {len(manifest)} packed files match their checksums", flush=True)


def export_gan(cfg: Config, out: Path) -> None:
    """G, D and the training record (no optimiser state) in parts of at most ``PART_BYTES``."""
    ck = load_torch(cfg.stage_dir("gan") / "checkpoint.pt")
    buffer = io.BytesIO()
    torch.save({k: ck[k] for k in GAN_KEYS}, buffer)
    data = buffer.getvalue()
    for i in range(0, len(data), PART_BYTES):
        atomic_write(out / f"gan.pt.{i // PART_BYTES}", lambda fh, i=i: fh.write(data[i : i + PART_BYTES]))
    save_json(out / "gan_done.json", load_json(cfg.stage_dir("gan") / "done.json"))


def read_gan(folder: Path) -> dict[str, Any]:
    """The G, D and training record that :func:`export_gan` wrote into ``folder``."""
    parts = sorted(folder.glob("gan.pt.*"), key=lambda p: int(p.suffix[1:]))
    if not parts:
        raise SystemExit(f"{folder}: no gan.pt.<n> parts (an exported GAN) here")
    return torch.load(io.BytesIO(b"".join(p.read_bytes() for p in parts)), weights_only=False)


def import_gan(cfg: Config, folder: Path) -> dict[str, Any]:
    """Put an exported GAN into this checkout's stage cache for ``cfg``; its training record."""
    ck = read_gan(folder)
    target = cfg.stage_dir("gan")
    done = load_json(folder / "gan_done.json")
    save_torch(target / "checkpoint.pt", ck)
    save_json(target / "history.json", ck["history"])
    save_json(target / "done.json", done)
    print(f"imported the GAN into {target}")
    return done


def map_blocks(
    cfg: Config, G: Module, D: Module, x: np.ndarray, z_init: torch.Tensor | None, loss: str, folder: Path
) -> dict[str, np.ndarray]:
    """Map the uint8 patches ``x`` with ``loss``, ``map_chunk`` queries at a time, each block's scores
    kept in ``folder`` as soon as it is done (a stopped run resumes). With the z_1 of
    :func:`pipeline.query_start_z` the scores equal those rows of the whole test set's mapping."""
    settings = pipeline.mapping_settings(cfg) | {"loss": loss, "progress": False}
    blocks = []
    for start in tqdm(range(0, len(x), cfg.map_chunk), desc=f"{loss} blocks of {cfg.map_chunk}"):
        path = folder / f"{loss}-{start}.npz"
        if not path.exists():
            end = min(start + cfg.map_chunk, len(x))
            z = None if z_init is None else z_init[start:end]
            r = map_to_latent(G, D, decode(np.asarray(x[start:end])), **(settings | {"z_init": z}))
            save_arrays(path, anomaly=r.anomaly, residual=r.residual, discrimination=r.discrimination,
                        reference=r.reference)  # fmt: skip
        blocks.append(load_arrays(path))
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


NAMES = {  # Table 1's names of the scores each mapping gives
    "feature": {"anomaly": "AnoGAN", "residual": "R(x)", "discrimination": "D(x)"},
    "yeh": {"anomaly": "GAN_R", "reference": "D^(x)"},
}


def named(loss: str, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The scores of a ``loss`` mapping under Table 1's names."""
    return {name: arrays[field] for field, name in NAMES[loss].items()}


def pack_queries(cfg: Config, path: Path) -> None:
    """The patch-level test patches with what checks and starts them, for a host without the data."""
    train, test = pipeline.prepare_data(cfg)
    index = pipeline.query_index(cfg, "patch", train, test)
    x = np.asarray(test.x[index])
    save_arrays(path, compress=True, x=x, index=index, label=test.label[index], n_test=np.array(len(test)),
                darkness=floor_scores(x)["darkness (-mean)"], data_key=np.array(cfg.stage_key("data")))  # fmt: skip
    print(f"packed {len(x)} patch-level test patches into {path} ({path.stat().st_size / 2**20:.1f} MiB)")


def score_queries(cfg: Config, queries: Path, gan: Path, log: Progress) -> None:
    """Map packed queries with an exported GAN (no data stage): P_D, AnoGAN and GAN_R into ``log.out``."""
    q = load_arrays(queries)
    if str(q["data_key"]) != cfg.stage_key("data"):
        raise SystemExit(f"{queries}: packed for another data configuration than this one")
    with tempfile.TemporaryDirectory() as tmp:
        save_torch(Path(tmp) / "checkpoint.pt", read_gan(gan))
        G, D, _, _ = load_dcgan(Path(tmp), pick_device())
    print(cfg.describe(), "on", log.run["device"], f"with {len(q['x'])} packed queries", flush=True)
    saved = {k: q[k] for k in ("index", "label", "darkness")}
    saved["P_D"] = discriminator_score(D, decode(q["x"]))
    z_init = pipeline.query_start_z(cfg, int(q["n_test"]), q["index"])
    folder = queries_folder(cfg, len(q["x"]))
    for method, loss in MAPPINGS:
        saved |= named(loss, map_blocks(cfg, G, D, q["x"], z_init, loss, folder))
        log.stage(method, f"{method}: {len(q['x'])} patches x {cfg.steps} steps")
        log.write(saved)


def import_scores(cfg: Config, folders: list[Path], command: str, sample: int) -> None:
    """Record Table 1 from runs elsewhere: the GAN exported into one of ``folders``, and the scores
    of each (after checking they belong to this test set). What none of them scored is scored
    here: P_D on every patch-level test patch, the mappings on a seeded sample of ``sample``."""
    started = time.perf_counter()
    (gan_folder,) = [f for f in folders if list(f.glob("gan.pt.*"))] or [None]
    if gan_folder is None:
        raise SystemExit(f"none of {', '.join(map(str, folders))} holds an exported GAN (gan.pt.<n>)")
    done = import_gan(cfg, gan_folder)
    train, test = pipeline.prepare_data(cfg)
    index = pipeline.query_index(cfg, "patch", train, test)
    saved = {"index": index, "label": test.label[index], "darkness": floor_scores(test.x[index])["darkness (-mean)"]}
    runs = {}
    for folder in folders:
        if (folder / "scores.npz").exists():
            theirs = load_arrays(folder / "scores.npz")
            if not all(np.allclose(theirs[k], saved[k]) for k in ("index", "label", "darkness")):
                raise SystemExit(f"{folder / 'scores.npz'}: scored on another test set than this configuration's")
            saved |= theirs
        if (folder / "run.json").exists():
            runs[folder.name] = load_json(folder / "run.json")
    scored_elsewhere = [m for m in (*METHODS, *COMPONENTS) if m in saved]
    if "P_D" not in saved:
        saved["P_D"] = discriminator_score(pipeline.trained_gan(cfg)[1], decode(test.x[index]))
    subset = index
    if sample and not {"AnoGAN", "GAN_R"} <= set(saved):
        pick = np.sort(np.random.default_rng(cfg.seed + 23).choice(len(index), min(sample, len(index)), replace=False))
        subset = index[pick]
        G, D, _, _ = pipeline.trained_gan(cfg)
        folder = cfg.run_dir / f"sample-{len(subset)}"
        z_init = pipeline.query_start_z(cfg, len(test), subset)
        feature, yeh = (map_blocks(cfg, G, D, test.x[subset], z_init, loss, folder) for loss in ("feature", "yeh"))
        saved = {k: v[pick] for k, v in saved.items()} | named("feature", feature) | named("yeh", yeh)

    def full(values: np.ndarray) -> np.ndarray:
        whole = np.full(len(test), np.nan)
        whole[subset] = values
        return whole

    scores = {m: full(saved[m]) for m in METHODS if m in saved}
    components = {m: full(saved[m]) for m in COMPONENTS if m in saved}
    results = pipeline.table1_results(test, scores, components, floor_scores(test.x), cfg.n_bootstrap, cfg.seed, subset)
    record = {"train_s": done["train_s"], "trained_on": done["device"], "scored_elsewhere": scored_elsewhere,
              "patch_level_patches": len(index), "scored_patches": len(subset), "runs": runs}  # fmt: skip
    pipeline.record(cfg, "02_dcgan", record, started, command)
    pipeline.record(cfg, "05_evaluation", results, started, command + (f" --sample {sample}" if sample else ""))
    for name, block in results.items():
        print(f"{name}: " + ", ".join(f"{m} {fmt_ci(r)}" for m, r in {**block["methods"], **block["floors"]}.items()))
    print(f"recorded {cfg.run_dir / 'metrics.json'}")


METHODS = ("AnoGAN", "GAN_R", "aCAE", "P_D")
COMPONENTS = ("R(x)", "D(x)", "D^(x)")


class Progress:
    """Stage times and the run's provenance, written with the scores into ``out``."""

    def __init__(self, out: Path) -> None:
        device = pick_device()
        self.out, self.started, self.clock = out, time.perf_counter(), time.perf_counter()
        self.run: dict[str, Any] = {
            "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
            "git_commit": pipeline._git_commit(),
            "stages_s": {},
        }

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def stage(self, name: str, text: str) -> None:
        now = time.perf_counter()
        self.run["stages_s"][name] = round(now - self.clock, 1)
        print(f"[{now - self.started:7.1f} s] {text} ({now - self.clock:.1f} s)", flush=True)
        self.clock = now

    def write(self, saved: dict[str, np.ndarray]) -> None:
        save_arrays(self.out / "scores.npz", **saved)
        save_json(self.out / "run.json", self.run)
        labels = saved["label"].astype(int)
        aucs = {m: auc(labels, saved[m]) for m in (*METHODS, "darkness") if m in saved}
        print("  all patch-level patches: " + ", ".join(f"{m} {a:.3f}" for m, a in aucs.items()), flush=True)


def queries_folder(cfg: Config, n: int) -> Path:
    """Where the mapping blocks of ``n`` patch-level test patches are kept (resumable)."""
    return cfg.runs_root / "queries" / f"{cfg.stage_key('map')}-{n}"


def remaining_work(cfg: Config, n_train: int, n_queries: int) -> budget.Work:
    """What is left of each stage here: a checkpoint's updates and the blocks on disk are not counted."""
    per_epoch = n_train // cfg.batch_size
    gan_steps = acae_steps = cfg.epochs * per_epoch
    ckpt = cfg.stage_dir("gan") / "checkpoint.pt"
    if (cfg.stage_dir("gan") / "done.json").exists():
        gan_steps = 0
    elif ckpt.exists():
        ck = load_torch(ckpt)
        gan_steps -= ck["epoch"] * per_epoch + ck["step_in_epoch"]
    acae = pipeline.acae_dir(cfg)
    if (acae / "done.json").exists():
        acae_steps = 0
    elif (acae / "acae.pt").exists():
        acae_steps -= load_torch(acae / "acae.pt")["epoch"] * per_epoch
    folder, chunks = queries_folder(cfg, n_queries), range(0, n_queries, cfg.map_chunk)
    left = {name: sum(not (folder / f"{loss}-{c}.npz").exists() for c in chunks) for name, loss in MAPPINGS}
    return budget.Work(max(gan_steps, 0), max(acae_steps, 0), left, cfg.steps)


def plan_stages(cfg: Config, train_x: np.ndarray, n_queries: int, methods: list[str], budget_s: float) -> set[str]:
    """Measure this device, print the projected time of each stage and what fits ``budget_s``; the
    stages to run (P_D, one pass of D, comes with the DCGAN)."""
    rates = budget.measure_rates(cfg, train_x, pipeline.train_settings(cfg), pipeline.mapping_settings(cfg))
    print("measured:", rates.describe(), flush=True)
    projected = budget.project(remaining_work(cfg, len(train_x), n_queries), rates)
    wanted = set(methods) | ({"DCGAN"} if {"AnoGAN", "GAN_R", "P_D"} & set(methods) else set())
    decisions = budget.plan(projected, budget_s, wanted)
    print(f"plan for {budget_s:.0f} s:")
    for d in decisions:
        print(f"  {'run ' if d.run else 'skip'} {d.stage:7s} {d.seconds:9.0f} s  {d.reason}", flush=True)
    return {d.stage for d in decisions if d.run} | ({"P_D"} if "P_D" in methods else set())


MAPPINGS = (("AnoGAN", "feature"), ("GAN_R", "yeh"))


def score_here(
    cfg: Config, out: Path, methods: list[str], budget_s: float | None = None, dry_run: bool = False
) -> None:
    """Data, DCGAN (exported into ``out``), the mappings and the aCAE, each method's scores written
    into ``out`` as soon as they are known. With ``budget_s``, only the stages the planner finds
    room for (:mod:`anogan_core.budget`); ``dry_run`` prints the plan and stops."""
    log = Progress(out)
    print(cfg.describe(), "on", log.run["device"], flush=True)
    train, test = pipeline.prepare_data(cfg)
    log.stage("data", f"data: {len(train)} training patches, {len(test)} test patches")
    index = pipeline.query_index(cfg, "patch", train, test)
    if budget_s is not None:
        chosen = plan_stages(cfg, np.asarray(train.x), len(index), methods, budget_s - log.elapsed())
        log.stage("plan", "plan made")
        if dry_run:
            return
        methods = [m for m in methods if m in chosen]
    x = decode(test.x[index])
    saved = {"index": index, "label": test.label[index], "darkness": floor_scores(test.x[index])["darkness (-mean)"]}
    if {"AnoGAN", "GAN_R", "P_D"} & set(methods):
        G, D, history, _ = pipeline.trained_gan(cfg)
        export_gan(cfg, out)
        last = history[-1]
        log.stage("gan", f"DCGAN: {last['epoch']:.2f} epochs, D(x) {last['d_real']:.2f}, D(G(z)) {last['d_fake']:.2f}")
        saved["P_D"] = discriminator_score(D, x)
        log.write(saved)
        z_init, folder = pipeline.query_start_z(cfg, len(test), index), queries_folder(cfg, len(index))
        for method, loss in MAPPINGS:
            if method in methods:
                saved |= named(loss, map_blocks(cfg, G, D, test.x[index], z_init, loss, folder))
                log.stage(method, f"{method}: {len(index)} patches x {cfg.steps} steps")
                log.write(saved)
    if "aCAE" in methods:
        saved["aCAE"] = acae_scores(pipeline.trained_acae(cfg), x, cfg.lam)["anomaly"]
        log.stage("aCAE", "aCAE trained and scored")
        log.write(saved)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=PROFILES, default="paper")
    ap.add_argument("--dataset", choices=DATASETS, default="oct")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="a config field")
    ap.add_argument("--out", type=Path, help="score here: folder for the scores, the trained G and D, the record")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"with --out: some of {', '.join(METHODS)}")
    ap.add_argument("--budget-s", type=float, help="with --out: measure this device and run only the stages that fit")
    ap.add_argument("--plan", action="store_true", help="with --out and --budget-s: print the plan and stop")
    ap.add_argument("--queries", type=Path, help="with --out and --gan: map these packed patches, no data stage")
    ap.add_argument("--gan", type=Path, help="with --queries: a folder holding an exported GAN")
    ap.add_argument("--pack", type=Path, help="copy the data files the run reads into this folder and stop")
    ap.add_argument("--pack-queries", type=Path, help="write the patch-level test patches into this .npz and stop")
    ap.add_argument("--import", dest="imported", type=Path, nargs="+", help="record Table 1 from --out folders")
    ap.add_argument("--sample", type=int, default=0, help="with --import: map this many patch-level patches here")
    args = ap.parse_args()
    cfg = make_config(args.profile, args.dataset, args.data_dir, args.seed, **{k: parse_value(v) for k, v in args.p})
    command = f"python scripts/table1.py --profile {cfg.profile} --dataset {cfg.dataset} --seed {cfg.seed}"
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or not set(methods) <= set(METHODS):
        ap.error(f"--methods takes some of {', '.join(METHODS)}; got {args.methods!r}")
    if pick_device().type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
    if cfg.data_dir and (Path(cfg.data_dir) / PACK_MANIFEST).is_file():
        verify_pack(Path(cfg.data_dir))
    if args.pack:
        pack(cfg, args.pack)
    elif args.pack_queries:
        pack_queries(cfg, args.pack_queries)
    elif args.imported:
        import_scores(cfg, args.imported, command, args.sample)
    elif args.out and args.queries and args.gan:
        score_queries(cfg, args.queries, args.gan, Progress(args.out))
    elif args.out and not (args.queries or args.gan):
        score_here(cfg, args.out, methods, args.budget_s, args.plan)
    else:
        ap.error("give --out (with --queries and --gan, or neither), --pack, --pack-queries or --import")


if __name__ == "__main__":
    main()
