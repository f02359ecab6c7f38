"""Cached stages that the chapters call: data -> trained DCGAN -> mapped queries.

Each stage computes its artifact on first use and reuses it afterwards, keyed by
:meth:`Config.stage_dir`, so any chapter can run alone (missing inputs are made on
demand) and settings never mix. Records of what produced a run (command
parameters, versions, device, wall time) go to ``<run_dir>/metrics.json``.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .baselines import AdversarialAutoencoder, train_acae
from .calibration import DEFAULT_FPR, calibrate
from .config import PAPER_REAL_DATA_OPTIONS, Config, code_digest, pick_device
from .datasets import Scan, load_scans
from .encoder import Encoder, EncoderScores, EncoderSettings, encode_and_score, load_encoder, train_encoder
from .mapping import MappingResult, map_to_latent
from .metrics import scan_score, summarize
from .model_file import mapping_settings
from .models import sample_z
from .patches import PatchSet, decode, extract_patches
from .phantom import make_scans
from .preprocess import FlatScan, PreprocessError, prepare_scan, preprocess_scan, resample_width
from .storage import load_arrays, load_json, load_torch, save_arrays, save_json, update_json
from .training import TrainSettings, load_dcgan, train_dcgan

MAX_TRAIN_REFERENCE = 512  # normal training patches mapped for Figure 4c/d
GPU_PROFILES = ("paper",)  # profiles whose heavy stages take days on a CPU
ALLOW_CPU_ENV = "ANOGAN_ALLOW_CPU"  # set to 1 to compute them on a CPU all the same


class StageNotComputed(RuntimeError):
    """A heavy stage of a GPU profile, not in the cache, asked for on a CPU."""


def _may_compute(cfg: Config, what: str, folder: Path) -> None:
    """Refuse to start ``what`` of a :data:`GPU_PROFILES` profile on a CPU: say that it is not computed
    and how to compute it on a GPU and bring it here, instead of computing it for days."""
    if cfg.profile not in GPU_PROFILES or pick_device().type != "cpu" or os.environ.get(ALLOW_CPU_ENV) == "1":
        return
    raise StageNotComputed(
        f"{what} of the {cfg.profile} profile is not computed (nothing at {folder}), and on this CPU it would take "
        f"days. Compute it on a GPU with: python scripts/table1.py --profile {cfg.profile} --dataset {cfg.dataset} "
        f"--out DIR [--budget-s S]; then here: python scripts/table1.py --profile {cfg.profile} --dataset "
        f"{cfg.dataset} --import DIR. To compute it here all the same, set {ALLOW_CPU_ENV}=1."
    )


PAPER_TEST_PATCHES = 8192  # Section 3: "The test set in total consisted of 8192 image patches"


def _infos(scans: list[Scan], flats: list[FlatScan]) -> list[dict[str, Any]]:
    """Per-scan records kept with a patch set (thickness feeds a trivial floor score)."""
    return [
        {
            "name": s.name,
            "patient": s.patient,
            "label": s.label,
            "source": s.source,
            "split": s.split,
            "thickness_px": float(np.median(f.raw_bottom - f.raw_top)),
        }  # fmt: skip
        for s, f in zip(scans, flats)
    ]


def _preprocess_one(args: tuple[Scan, float, int]) -> FlatScan | str:
    try:
        return prepare_scan(*args)
    except PreprocessError as err:
        return str(err)


def preprocess_all(
    scans: list[Scan], column_um: float, progress: bool = True, despeckle: int = 0
) -> tuple[list[FlatScan], list[Scan], list[str]]:
    """Preprocess scans on all cores. Scans without a detectable retina are
    skipped and reported (the documented policy), never silently dropped."""
    workers = min(len(scans), os.cpu_count() or 1)
    jobs = [(s, column_um, despeckle) for s in scans]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(
                tqdm(
                    pool.map(_preprocess_one, jobs, chunksize=8),
                    total=len(jobs),
                    disable=not progress,
                    desc="preprocess",
                )
            )
    else:
        results = [_preprocess_one(j) for j in tqdm(jobs, disable=not progress, desc="preprocess")]
    flats, kept, failed = [], [], []
    for scan, res in zip(scans, results):
        if isinstance(res, str):
            failed.append(res)
        else:
            flats.append(res)
            kept.append(scan)
    return flats, kept, failed


def prepare_data(cfg: Config, progress: bool = True) -> tuple[PatchSet, PatchSet]:
    """(training patches, test patches), built once per data key."""
    folder = cfg.stage_dir("data")
    if (folder / "done.json").exists():
        return PatchSet.load(folder / "train"), PatchSet.load(folder / "test")
    t0 = time.perf_counter()
    train_scans, test_scans = load_scans(
        cfg.dataset, cfg.data_dir, cfg.seed, cfg.n_train_scans, cfg.n_test_scans, cfg.n_disease_scans
    )
    t_load = time.perf_counter() - t0
    train_flat, train_scans, fail_train = preprocess_all(train_scans, cfg.column_um, progress, cfg.despeckle)
    test_flat, test_scans, fail_test = preprocess_all(test_scans, cfg.column_um, progress, cfg.despeckle)
    t_pre = time.perf_counter() - t0 - t_load
    train = extract_patches(
        train_flat, _infos(train_scans, train_flat), cfg.train_patches_per_scan, cfg.seed, region=cfg.patch_region
    )
    train = train.subset(np.flatnonzero(train.label == 0))  # annotated fluid never trains the model of normal
    test = extract_patches(
        test_flat, _infos(test_scans, test_flat), cfg.test_patches_per_scan, cfg.seed + 1, with_masks=True,
        region=cfg.patch_region,
    )  # fmt: skip
    level = patch_level(test)
    if cfg.profile == "paper" and len(level) > PAPER_TEST_PATCHES:  # the paper's patch-level test set size
        keep = np.random.default_rng(cfg.seed).choice(level, PAPER_TEST_PATCHES, replace=False)
        test = test.subset(np.sort(np.concatenate([keep, np.setdiff1d(np.arange(len(test)), level)])))
    train.save(folder / "train")
    test.save(folder / "test")
    save_json(
        folder / "done.json",
        {
            "load_s": t_load,
            "preprocess_s": t_pre,
            "scans_train": len(train_scans),
            "scans_test": len(test_scans),
            "skipped": fail_train + fail_test,
        },
    )
    return PatchSet.load(folder / "train"), PatchSet.load(folder / "test")


def data_record(cfg: Config) -> dict[str, Any]:
    """Timing and skip counts of the data stage."""
    prepare_data(cfg, progress=False)
    return load_json(cfg.stage_dir("data") / "done.json")


def train_settings(cfg: Config) -> TrainSettings:
    return TrainSettings(
        width=cfg.width, z_dim=cfg.z_dim, epochs=cfg.epochs, batch_size=cfg.batch_size,
        lr_g=cfg.lr_g, lr_d=cfg.lr_d, beta1=cfg.beta1, resize_conv=cfg.resize_conv,
        spectral_norm=cfg.spectral_norm, seed=training_seed(cfg),
    )  # fmt: skip


GAN_SEED_STRIDE = 7919  # a prime: gan_seed k trains from seed + k * GAN_SEED_STRIDE


def training_seed(cfg: Config) -> int:
    """The seed of the GAN's and the aCAE's training: ``seed``, moved by ``gan_seed`` (0: ``seed`` itself)."""
    return cfg.seed + GAN_SEED_STRIDE * cfg.gan_seed


def trained_gan(cfg: Config, progress: bool = True) -> tuple[torch.nn.Module, torch.nn.Module, list[dict], np.ndarray]:
    """(G, D, history, per-epoch samples): trained once per GAN key, resumed if interrupted."""
    folder = cfg.stage_dir("gan")
    device = pick_device()
    if not (folder / "done.json").exists():
        _may_compute(cfg, "the DCGAN's training", folder)
        train, _ = prepare_data(cfg, progress)
        t0 = time.perf_counter()
        train_dcgan(train.x, train_settings(cfg), folder, device, progress)
        save_json(
            folder / "done.json", {"train_s": time.perf_counter() - t0, "device": str(device), "patches": len(train)}
        )
    return load_dcgan(folder, device)


def gan_record(cfg: Config) -> dict[str, Any]:
    trained_gan(cfg, progress=False)
    return load_json(cfg.stage_dir("gan") / "done.json")


def patch_level(test: PatchSet, split: str = "test") -> np.ndarray:
    """Patches of ``split`` ('test' or 'validation') whose patch label is known: annotated
    scans and healthy scans.

    Kermany CNV/DME/DRUSEN scans carry no masks, so their patches are neither
    positive nor negative at patch level; they serve the B-scan-level test.
    """
    if split not in ("test", "validation"):
        raise ValueError(f"unknown split {split!r}; allowed: test, validation")
    known = np.array([s["split"] == split and (s["source"] != "kermany" or s["label"] == "NORMAL") for s in test.scans])
    return np.flatnonzero(known[test.scan])


def comparisons(test: PatchSet, split: str = "test") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Patch-level comparisons of ``split``: name -> (indices into ``test``, labels).

    On the real data these are the protocol's three (shared/data/oct/README.md), each
    where both of its classes are present (the ``duke`` protocol has no Kermany scans).
    """
    level = np.zeros(len(test), bool)
    level[patch_level(test, split)] = True
    source, label = test.column("source"), test.label.astype(int)
    if "duke" not in set(source):
        idx = np.flatnonzero(level)
        return {"fluid vs normal": (idx, label[idx])}
    duke, normal = level & (source == "duke"), level & (source == "kermany") & (test.column("label") == "NORMAL")
    out = {}
    for name, pos, neg in (
        ("Duke fluid vs Kermany normal", duke & (label == 1), normal),
        ("Duke fluid vs Duke non-fluid", duke & (label == 1), duke & (label == 0)),
        ("Duke non-fluid vs Kermany normal", duke & (label == 0), normal),
    ):
        if pos.any() and neg.any():
            idx = np.flatnonzero(pos | neg)
            out[name] = (idx, pos[idx].astype(int))
    return out


def table1_results(
    test: PatchSet,
    scores: dict[str, np.ndarray],
    components: dict[str, np.ndarray],
    floors: dict[str, np.ndarray],
    n_boot: int,
    seed: int,
    subset: np.ndarray | None = None,
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """Table 1 per patch-level comparison of the test split (:func:`comparisons`): for each,
    ``methods``, ``components`` and ``floors``, every score summarised by :func:`metrics.summarize`
    (AUC with its patient-clustered bootstrap CI, statistics at the Youden index). The arrays hold
    one score per test patch; patches outside the patch-level test set, or outside ``subset`` (test
    patch indices, when only those were scored; a comparison of which it holds one class only is
    left out), may be NaN."""
    patients = test.column("patient")
    out = {}
    for name, (idx, labels) in comparisons(test).items():
        if subset is not None:
            keep = np.isin(idx, subset)
            idx, labels = idx[keep], labels[keep]
            if len(np.unique(labels)) < 2:  # the subset holds one class of this comparison only
                continue
        out[name] = {
            group: {m: summarize(labels, s[idx], patients[idx], n_boot, seed) for m, s in block.items()}
            for group, block in (("methods", scores), ("components", components), ("floors", floors))
        }
    return out


def query_index(cfg: Config, queries: str, train: PatchSet, test: PatchSet) -> np.ndarray:
    """Which patches a query set holds: 'test' (all), 'train' (a seeded sample of
    normal training patches, Figure 4c/d), 'sweep' (a seeded sample of the
    patch-level test set for the ablation sweeps), 'patch' (the whole patch-level test
    set) or 'validation' (the patch-level validation patches, on which settings beyond
    the paper are chosen)."""
    rng = np.random.default_rng(cfg.seed)
    if queries == "test":
        return np.arange(len(test))
    if queries == "train":
        return np.sort(rng.choice(len(train), min(MAX_TRAIN_REFERENCE, len(train)), replace=False))
    if queries == "sweep":
        idx = patch_level(test)
        return np.sort(rng.choice(idx, min(cfg.sweep_queries, len(idx)), replace=False))
    if queries in ("patch", "validation"):
        return patch_level(test, "test" if queries == "patch" else "validation")
    raise ValueError(f"unknown query set {queries!r}; allowed: test, train, sweep, patch, validation")


def with_paper_options(cfg: Config) -> Config:
    """``cfg`` with the options beyond the paper for real OCT at the paper's values (the patch
    window, no despeckling, the pixel-wise residual): the paper-faithful model at the same scale."""
    return dataclasses.replace(cfg, **PAPER_REAL_DATA_OPTIONS)


def mapped(
    cfg: Config,
    loss: str = "feature",
    queries: str = "test",
    lam: float | None = None,
    progress: bool = True,
    starts: int | None = None,
) -> MappingResult:
    """Map a query set (see :func:`query_index`) with ``loss``; cached per mapping
    key, loss, lambda and query set. ``starts`` replaces the profile's ``map_starts``
    (for side-by-side comparisons; such a mapping has its own cache).

    Every test patch has its own z_1 (drawn once for the whole test set, or chosen
    from the shared pool of :func:`start_pool`), so a subset mapped alone equals the
    same rows of the whole set mapped together: the sweep at the profile's settings
    is read from the test-set mapping.
    """
    if starts is not None and starts < 1:
        raise ValueError(f"starts must be at least 1 (one random z_1 per query); got {starts}")
    own_settings = starts is None or starts == cfg.map_starts
    if not own_settings:
        cfg = dataclasses.replace(cfg, map_starts=starts)
    lam = cfg.lam if lam is None else lam
    if loss == "residual":
        lam = 0.0
    path = _result_path(cfg, queries, loss, lam)
    if path.exists():
        return _load_result(path)
    train, test = prepare_data(cfg, progress)
    index = query_index(cfg, queries, train, test)
    if queries == "sweep" and lam == cfg.lam and loss != "residual" and own_settings:
        return mapped(cfg, loss, "test", lam, progress).subset(index)
    whole = _result_path(cfg, "test", loss, lam)
    if queries in ("patch", "validation") and whole.exists():
        return _load_result(whole).subset(index)
    _may_compute(cfg, f"the {loss} mapping of the {queries} queries", path)
    G, D, _, _ = trained_gan(cfg, progress)
    x = (train if queries == "train" else test).x[index]
    if queries == "train":
        z_init = query_start_z(cfg, len(index), np.arange(len(index)))
    else:
        z_init = query_start_z(cfg, len(test), index)
    t0 = time.perf_counter()
    own = {"lam": lam, "loss": loss, "z_init": z_init, "record": True, "progress": progress}
    result = map_to_latent(G, D, decode(x), **(mapping_settings(cfg) | own))
    _save_result(path, result, time.perf_counter() - t0)
    return result


def query_start_z(cfg: Config, n_test: int, rows: np.ndarray) -> torch.Tensor | None:
    """z_1 of the test patches at ``rows`` of a test set of ``n_test``: one random z_1 per test patch,
    drawn once for the whole set (so a subset mapped alone starts where the whole set would), or None
    when the profile starts every query from the shared pool (:func:`model_file.start_pool`)."""
    if cfg.map_starts != 1:
        return None
    return sample_z(n_test, cfg.z_dim, torch.Generator().manual_seed(cfg.seed + 7))[rows]


def _result_path(cfg: Config, queries: str, loss: str, lam: float) -> Path:
    """Cache file of one mapping. The sampled query sets' names hold their sizes, so a new size maps
    anew while the test-set mappings of the same stage key are reused."""
    name = {"train": f"train{MAX_TRAIN_REFERENCE}", "sweep": f"sweep{cfg.sweep_queries}"}.get(queries, queries)
    return cfg.stage_dir("map") / f"{name}-{loss}-lam{lam:g}.npz"


def _save_result(path: Path, r: MappingResult, seconds: float) -> None:
    save_arrays(
        path,
        z=r.z, generated=r.generated.astype(np.float16), residual=r.residual, discrimination=r.discrimination,
        reference=r.reference, anomaly=r.anomaly, residual_image=r.residual_image.astype(np.float16),
        trajectory=r.trajectory, lam=np.array(r.lam), loss=np.array(r.loss), seconds=np.array(seconds),
    )  # fmt: skip


def _load_result(path: Path) -> MappingResult:
    a = load_arrays(path)
    return MappingResult(
        z=a["z"], generated=a["generated"].astype(np.float32), residual=a["residual"],
        discrimination=a["discrimination"], reference=a["reference"], anomaly=a["anomaly"],
        residual_image=a["residual_image"].astype(np.float32), trajectory=a["trajectory"],
        lam=float(a["lam"]), loss=str(a["loss"]),
    )  # fmt: skip


def mapping_seconds(cfg: Config, loss: str = "feature", queries: str = "test", lam: float | None = None) -> float:
    lam = 0.0 if loss == "residual" else (cfg.lam if lam is None else lam)
    return _seconds(_result_path(cfg, queries, loss, lam))


def _seconds(path: Path) -> float:
    """The recorded duration of a cached mapping, read without loading its arrays."""
    with np.load(path) as data:
        return float(data["seconds"])


def encoder_settings(cfg: Config) -> EncoderSettings:
    return EncoderSettings(
        epochs=cfg.encoder_epochs, batch_size=cfg.batch_size, lr=cfg.encoder_lr, kappa=cfg.kappa,
        sigma=cfg.residual_sigma, seed=cfg.seed,
    )  # fmt: skip


def trained_encoder(cfg: Config, progress: bool = True) -> Encoder:
    """The izi_f encoder (beyond the paper, :mod:`encoder`) on the run's frozen G and D: trained once
    per encoder key on the normal training patches, resumed if interrupted."""
    folder = cfg.stage_dir("encoder")
    device = pick_device()
    if not (folder / "done.json").exists():
        _may_compute(cfg, "the izi_f encoder's training", folder)
        train, _ = prepare_data(cfg, progress)
        G, D, _, _ = trained_gan(cfg, progress)
        t0 = time.perf_counter()
        train_encoder(train.x, G, D, encoder_settings(cfg), folder, device, progress)
        save_json(
            folder / "done.json", {"train_s": time.perf_counter() - t0, "device": str(device), "patches": len(train)}
        )
    return load_encoder(folder, device)[0]


def encoder_record(cfg: Config) -> dict[str, Any]:
    trained_encoder(cfg, progress=False)
    return load_json(cfg.stage_dir("encoder") / "done.json") | {
        "history": load_json(cfg.stage_dir("encoder") / "history.json")
    }


def encoded(cfg: Config, progress: bool = True) -> tuple[EncoderScores, float]:
    """(izi_f scores of every test patch, seconds the scoring took), cached per encoder key."""
    path = cfg.stage_dir("encoder") / "test-izif.npz"
    if not path.exists():
        E = trained_encoder(cfg, progress)
        G, D, _, _ = trained_gan(cfg, progress)
        _, test = prepare_data(cfg, progress)
        x = decode(np.array(test.x))  # a writable copy of the memory map
        t0 = time.perf_counter()
        s = encode_and_score(E, G, D, x, cfg.kappa, cfg.residual_sigma, cfg.map_chunk)
        seconds = time.perf_counter() - t0
        save_arrays(
            path, z=s.z, residual=s.residual, feature=s.feature, anomaly=s.anomaly,
            residual_image=s.residual_image.astype(np.float16), seconds=np.array(seconds),
        )  # fmt: skip
    a = load_arrays(path)
    scores = EncoderScores(a["z"], a["residual"], a["feature"], a["anomaly"], a["residual_image"].astype(np.float32))
    return scores, float(a["seconds"])


def hybrid_mapped(cfg: Config, progress: bool = True) -> tuple[MappingResult, np.ndarray, float]:
    """(AnoGAN's mapping of the patch-level test patches started from E(x) with ``hybrid_steps`` steps,
    their indices in the test set, seconds), cached per encoder key and mapping settings."""
    name = f"patch-hybrid{cfg.hybrid_steps}-lam{cfg.lam:g}-lr{cfg.map_lr:g}-clamp{int(cfg.clamp_z)}.npz"
    path = cfg.stage_dir("encoder") / name
    train, test = prepare_data(cfg, progress)
    index = query_index(cfg, "patch", train, test)
    if not path.exists():
        _may_compute(cfg, "the hybrid mapping", path)
        z_init = torch.from_numpy(encoded(cfg, progress)[0].z[index])
        G, D, _, _ = trained_gan(cfg, progress)
        t0 = time.perf_counter()
        own = {"steps": cfg.hybrid_steps, "starts": None, "z_init": z_init, "record": True, "progress": progress}
        result = map_to_latent(G, D, decode(test.x[index]), **(mapping_settings(cfg) | own))
        _save_result(path, result, time.perf_counter() - t0)
    return _load_result(path), index, _seconds(path)


COMMIT_ENV = "ANOGAN_GIT_COMMIT"  # the commit of a copied checkout without its .git folder (a GPU host)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get(COMMIT_ENV, "unknown")


def record(
    cfg: Config, chapter: str, results: dict[str, Any], started: float, command: str | None = None
) -> dict[str, Any]:
    """Merge a chapter's numbers into ``<run_dir>/metrics.json`` with provenance (``command``: what
    produced them, when not the chapter run by ``scripts/book.py``)."""
    params = " ".join(f"-p {k} {v}" for k, v in sorted(cfg.overrides.items()))
    if command is None:
        command = f"python scripts/book.py run {chapter} --profile {cfg.profile} --dataset {cfg.dataset}"
        command += f" --seed {cfg.seed}"
    if cfg.data_dir:
        command += f" --data-dir {Path(cfg.data_dir).name}"
    entry = {
        "command": (command + " " + params).strip(),
        "results": results,
        "wall_s": round(time.perf_counter() - started, 1),
        "git_commit": _git_commit(),
        "device": str(pick_device()),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
    }
    return update_json(
        cfg.run_dir / "metrics.json",
        config=cfg.as_dict() | {"data_dir": Path(cfg.data_dir).name if cfg.data_dir else ""},
        overrides=cfg.overrides,
        **{chapter: entry},
    )


def example_scans(cfg: Config, per_group: int = 2) -> list[tuple[Scan, FlatScan]]:
    """A few preprocessed scans per (split, label, source) group, for the figures."""
    train, test = load_scans(
        cfg.dataset, cfg.data_dir, cfg.seed, cfg.n_train_scans, cfg.n_test_scans, cfg.n_disease_scans
    )
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for split, scans in (("train", train), ("test", test)):
        for scan in scans:
            key = (split, scan.label, scan.source)
            if seen.get(key, 0) >= per_group:
                continue
            try:
                out.append((scan, prepare_scan(scan, cfg.column_um, cfg.despeckle)))
            except PreprocessError:
                continue
            seen[key] = seen.get(key, 0) + 1
    return out


def fluid_example_scans(cfg: Config, n: int = 3) -> list[tuple[Scan, FlatScan]]:
    """Up to ``n`` of the :func:`example_scans` that hold annotated fluid, for the B-scan maps."""
    return [(s, f) for s, f in example_scans(cfg, per_group=2) if s.fluid is not None and s.fluid.any()][:n]


def count_table(train: PatchSet, test: PatchSet) -> list[dict[str, Any]]:
    """Scans, patients and patches per split and (source, label) group."""

    def row(split: str, group: str, ps: PatchSet, sel: np.ndarray) -> dict[str, Any]:
        ids = np.unique(ps.scan[sel])
        return {
            "split": split, "group": group, "scans": len(ids),
            "patients": len({ps.scans[i]["patient"] for i in ids}),
            "patches": int(sel.sum()), "fluid patches": int(ps.label[sel].sum()),
        }  # fmt: skip

    rows = [row("train", "healthy", train, np.ones(len(train), bool))]
    source, label = test.column("source"), test.column("label")
    for group in sorted(set(zip(source, label))):
        rows.append(row("test", " ".join(group), test, (source == group[0]) & (label == group[1])))
    return rows


def acae_dir(cfg: Config) -> Path:
    """Cache folder of the aCAE: under the GAN's stage (same settings), keyed also by the code
    of baselines.py, so that a change there retrains the aCAE and not the GAN."""
    return cfg.stage_dir("gan") / f"acae-{code_digest(('baselines',))}"


def trained_acae(cfg: Config, progress: bool = True) -> AdversarialAutoencoder:
    """The aCAE baseline, trained once per GAN key with the DCGAN's settings."""
    folder = acae_dir(cfg)
    device = pick_device()
    if not (folder / "done.json").exists():
        _may_compute(cfg, "the aCAE's training", folder)
        train, _ = prepare_data(cfg, progress)
        t0 = time.perf_counter()
        train_acae(
            train.x, cfg.width, cfg.z_dim, cfg.epochs, cfg.batch_size, cfg.lr_g, training_seed(cfg), folder, device,
            progress,
            resize_conv=cfg.resize_conv,
        )  # fmt: skip
        save_json(folder / "done.json", {"train_s": time.perf_counter() - t0, "device": str(device)})
    model = AdversarialAutoencoder(cfg.z_dim, cfg.width, cfg.resize_conv).to(device)
    model.load_state_dict(load_torch(folder / "acae.pt", device)["model"])
    return model.eval()


def scan_scores(test: PatchSet, scores: np.ndarray, index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """B-scan-level aggregation: (scan ids, :func:`metrics.scan_score` of each scan's patch scores)."""
    index = np.arange(len(test)) if index is None else index
    scan, values = test.scan[index], np.asarray(scores)[index]
    ids = np.unique(scan)
    return ids, np.array([scan_score(values[scan == i]) for i in ids])


def bscan_level(
    test: PatchSet, scores: dict[str, np.ndarray], n_boot: int, seed: int
) -> tuple[dict[str, dict[str, float]], int, int] | None:
    """B-scan-level test (beyond the paper): held-out Kermany NORMAL scans against
    CNV/DME/DRUSEN scans, each score aggregated by :func:`scan_scores`, plus the
    retina-thickness floor. Returns (rows per score, scans, diseased scans), or
    None when the test set holds no Kermany disease classes."""
    kermany = np.flatnonzero((test.column("source") == "kermany") & (test.column("split") == "test"))
    if not len(kermany) or len({test.scans[i]["label"] for i in np.unique(test.scan[kermany])}) < 2:
        return None
    ids = np.unique(test.scan[kermany])
    label = np.array([int(test.scans[i]["label"] != "NORMAL") for i in ids])
    patient = np.array([test.scans[i]["patient"] for i in ids])
    rows = {m: summarize(label, scan_scores(test, s, kermany)[1], patient, n_boot, seed) for m, s in scores.items()}
    thickness = np.array([test.scans[i]["thickness_px"] for i in ids])
    rows["retina thickness"] = summarize(label, thickness, patient, n_boot, seed)
    return rows, len(ids), int(label.sum())


def bscan_at_threshold(
    test: PatchSet, scores: dict[str, np.ndarray], fpr: float = DEFAULT_FPR
) -> dict[str, dict[str, float]] | None:
    """Sensitivity and specificity of the B-scan-level test at a threshold chosen without test labels:
    the scan score that ``fpr`` of the validation split's healthy Kermany scans exceed
    (:func:`calibration.calibrate`, as ``anogan score`` labels scans). None without such scans or
    without the B-scan-level test."""
    source, split, label = test.column("source"), test.column("split"), test.column("label")
    healthy = np.flatnonzero((source == "kermany") & (split == "validation") & (label == "NORMAL"))
    kermany = np.flatnonzero((source == "kermany") & (split == "test"))
    if len(np.unique(test.scan[healthy])) < 2 or len(set(label[kermany])) < 2:
        return None
    out = {}
    for method, values in scores.items():
        calibration = calibrate(scan_scores(test, values, healthy)[1], fpr, "validation split")
        ids, agg = scan_scores(test, values, kermany)
        diseased = np.array([test.scans[i]["label"] != "NORMAL" for i in ids])
        called = agg > calibration.threshold
        out[method] = {
            "threshold": calibration.threshold, "fpr": fpr, "n_calibration": calibration.n_scans,
            "sensitivity": float(called[diseased].mean()), "specificity": float(1 - called[~diseased].mean()),
        }  # fmt: skip
    return out


def phantom_boundary_errors(seed: int, n: int, column_um: float) -> np.ndarray:
    """(scans, 2) mean absolute ILM and RPE errors (rows) of the boundary detection
    on ``n`` healthy and ``n`` diseased phantom scans, against their truth."""
    errors = []
    for s in make_scans(n, seed) + make_scans(n, seed, diseased=True):
        f = preprocess_scan(s.image, s.width_mm, column_um, s.fluid)
        cols = len(f.raw_top)
        errors.append(
            [np.abs(f.raw_top - resample_width(s.top[None, :], cols)[0]).mean(),
             np.abs(f.raw_bottom - resample_width(s.bottom[None, :], cols)[0]).mean()]
        )  # fmt: skip
    return np.array(errors)
