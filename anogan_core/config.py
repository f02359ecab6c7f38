"""Profiles, validated run configuration, run directories and the device.

A :class:`Config` fixes every number a run depends on. Three profiles give the
defaults: ``smoke`` (the whole book in minutes on 2 CPU cores), ``cpu`` (the most
meaningful results 2 cores can give in about an hour) and ``paper`` (the settings
of Schlegl et al. 2017, Section 3: 64x64 patches, 512-256-128-64 channels, 5x5
kernels, z of 100 dims, 20 epochs, 500 mapping steps, lambda = 0.1, 8192 test
patches; meant for a GPU).

Artifacts are cached per *stage* under ``runs/cache``: a stage's key hashes only the
fields and the code it depends on. Rerunning the mapping chapter with another
``lam`` reuses the trained GAN; a change to the phantom's code rebuilds the data;
results of different settings land in different run directories
(``runs/<dataset>-<profile>[-<hash of overrides>]``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import torch

PROFILES = ("smoke", "cpu", "paper")
DATASETS = ("synthetic", "oct", "duke", "folder")
DATA_ENV = "ANOGAN_DATA"
RUNS_ENV = "ANOGAN_RUNS"
DEVICE_ENV = "ANOGAN_DEVICE"

# Which fields each cached stage depends on (each stage also depends on the
# stages before it, see Config.stage_key).
STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "data": (
        "n_train_scans",
        "n_test_scans",
        "n_disease_scans",
        "train_patches_per_scan",
        "test_patches_per_scan",
        "patch_size",
        "column_um",
        "despeckle",
        "patch_region",
    ),
    "gan": (
        "width",
        "z_dim",
        "epochs",
        "batch_size",
        "lr_g",
        "lr_d",
        "beta1",
        "resize_conv",
        "spectral_norm",
        "gan_seed",
    ),
    # the query sets' sizes are in the mapping files' names (pipeline)
    "map": ("steps", "map_lr", "clamp_z", "map_starts", "residual_sigma"),
    "encoder": ("encoder_epochs", "encoder_lr", "kappa", "residual_sigma"),
}
# The stages each stage's artifacts depend on (itself last): the encoder branches off the GAN.
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "data": ("data",),
    "gan": ("data", "gan"),
    "map": ("data", "gan", "map"),
    "encoder": ("data", "gan", "encoder"),
}
# The modules whose code each stage runs: a change to them invalidates the stage's cache.
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "data": ("phantom", "datasets", "preprocess", "patches"),
    "gan": ("models", "training"),
    "map": ("mapping",),
    "encoder": ("mapping", "encoder"),
}


class ConfigError(ValueError):
    """A parameter that is unknown, of the wrong type, or out of range."""


@dataclass(frozen=True)
class Config:
    """Every setting of one run. Build it with :func:`make_config`."""

    profile: str
    dataset: str
    data_dir: str = ""
    seed: int = 0
    # data (Section 3): scans, patches of c x c pixels, ~22 um per column
    n_train_scans: int = 0  # healthy scans used for training; 0 means all available
    n_test_scans: int = 0  # test scans per class; 0 means all available
    n_disease_scans: int = 0  # Kermany CNV/DME/DRUSEN scans per class (B-scan test); 0 means all
    train_patches_per_scan: int = 64  # K in Section 2.1
    test_patches_per_scan: int = 32
    patch_size: int = 64
    column_um: float = 22.0
    # beyond the paper, for real OCT (chapter 5 measures each): a median filter of this many pixels
    # over every flattened scan (0: none), patches from the whole window or from the retina only
    despeckle: int = 0
    patch_region: str = "window"  # 'window': may reach into vitreous and choroid; 'retina': ILM to RPE only
    # DCGAN (Section 2.1 and 3): width = channels of D's first conv (paper: 64)
    width: int = 64
    z_dim: int = 100
    epochs: int = 20
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    resize_conv: bool = False  # beyond the paper: G upsamples without checkerboard (models.ResizeConvTranspose)
    spectral_norm: bool = False  # beyond the paper: D's layers spectrally normalised (models.Discriminator)
    # beyond the paper's single run: another draw of the GAN's (and the aCAE's) initial weights, shuffling and
    # z, with the same data split and patches (``seed`` changes those too), to measure the spread between runs
    gan_seed: int = 0
    # mapping (Section 2.2): Gamma steps, lambda of Eq. 5
    steps: int = 500
    lam: float = 0.1
    map_lr: float = 0.05
    clamp_z: bool = True
    map_starts: int = 1  # z_1 = best of this many shared random z (1: one random z per query, the paper)
    residual_sigma: float = 0.0  # beyond the paper: Gaussian low-pass (pixels) of both images of Eq. 3's residual
    map_chunk: int = 256
    # beyond the paper: f-AnoGAN's izi_f encoder on the frozen G and D (encoder module), kappa of its
    # score, and the hybrid that starts the iterative mapping from E(x) with this many steps
    encoder_epochs: int = 3
    encoder_lr: float = 1e-4
    kappa: float = 1.0
    hybrid_steps: int = 20
    sweep_queries: int = 1024  # patch-level test patches mapped per setting of the ablation sweeps
    # evaluation
    n_bootstrap: int = 1000
    overrides: dict[str, Any] = field(default_factory=dict, compare=False)

    # ---- derived locations -------------------------------------------------
    @property
    def runs_root(self) -> Path:
        """``$ANOGAN_RUNS``, else ``runs/`` in the project root (or the working folder)."""
        return Path(os.environ[RUNS_ENV]) if os.environ.get(RUNS_ENV) else project_root() / "runs"

    @property
    def run_dir(self) -> Path:
        """``runs/<dataset>-<profile>`` plus a hash of the overrides, if any."""
        name = f"{self.dataset}-{self.profile}"
        keyed = dict(self.overrides)
        if self.seed != 0:
            keyed["seed"] = self.seed
        if self.dataset == "folder":
            keyed["data_dir"] = self.data_dir
        if keyed:
            name += "-" + _digest(keyed)
        return self.runs_root / name

    def stage_key(self, stage: str) -> str:
        """Hash of everything the artifacts of ``stage`` depend on."""
        if stage not in STAGE_FIELDS:
            raise ConfigError(f"unknown stage {stage!r}; allowed: {', '.join(STAGE_INPUTS)}")
        upto = STAGE_INPUTS[stage]
        payload: dict[str, Any] = {"dataset": self.dataset, "seed": self.seed}
        if self.dataset == "folder":
            payload["data_dir"] = self.data_dir
        for s in upto:
            payload.update({k: getattr(self, k) for k in STAGE_FIELDS[s]})
        payload["code"] = code_digest(tuple(module for s in upto for module in STAGE_CODE[s]))
        return _digest(payload)

    def stage_dir(self, stage: str) -> Path:
        """Cache folder of a stage, shared by all runs whose stage inputs agree."""
        return self.runs_root / "cache" / f"{self.dataset}-{stage}-{self.stage_key(stage)}"

    def describe(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in sorted(self.overrides.items()))
        return (
            f"dataset **{self.dataset}**, profile **{self.profile}**, seed {self.seed}"
            + (f", overrides: {extra}" if extra else "")
            + f"; run directory `{self.run_dir.name}`"
        )

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("overrides")
        return d


_PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "smoke": dict(
        n_train_scans=12,
        n_test_scans=4,
        n_disease_scans=4,
        train_patches_per_scan=96,
        test_patches_per_scan=24,
        width=8,
        epochs=2,
        resize_conv=True,
        spectral_norm=True,
        batch_size=64,
        steps=30,
        map_lr=0.1,
        map_starts=64,
        patch_region="retina",
        residual_sigma=2.0,
        map_chunk=128,
        encoder_epochs=1,
        sweep_queries=256,
        n_bootstrap=200,
    ),
    "cpu": dict(  # chosen by measurement on 2 cores (benchmarks/): ~31 (phantom) to ~54 (real data) minutes per book
        n_train_scans=0,
        n_test_scans=0,
        n_disease_scans=20,
        train_patches_per_scan=120,
        test_patches_per_scan=16,
        width=16,
        epochs=6,
        # Twice the updates of batch 64 for 18% more time on 2 cores: phantom AUC of A(x) after
        # 6 epochs 0.914 (batch 32) vs 0.858 (64), 0.883 (16), and 0.903 for 64 x 12 epochs
        # (benchmarks/gan_recipe.py --batch 64,32 --queries 400).
        batch_size=32,
        # Beyond the paper: D's layers spectrally normalised, with the paper's learning rates. With
        # the plain recipe (2e-4 for both, no normalisation) D wins at once (D(x) 0.98, D(G(z)) 0.02
        # after 3 epochs), G collapses to a few grainy modes, and phantom AUC stays near 0.73. Letting
        # D learn 4x slower (lr_d 5e-5, the previous cpu recipe) balanced the game but left the layers
        # of real-data samples faint and broken; spectral normalisation gives continuous layers, a
        # bright RPE band and real speckle grain (benchmarks/gan_recipe.py prints the recipes side by side).
        spectral_norm=True,
        # Beyond the paper: G's 5x5 stride-2 kernels tied to a 4x4 kernel convolved with a 2x2
        # box (nearest-neighbour upsampling + 4x4 convolution). Real data, 2 epochs: period-2
        # amplitude of generated patches 2.6x / 5.1x that of real ones across columns / rows
        # with free kernels, 0.28x / 0.89x tied (benchmarks/checkerboard.py prints both).
        resize_conv=True,
        steps=100,
        map_lr=0.05,
        # Beyond the paper: each query starts from the best of 64 shared random z (one forward
        # pass of the pool) instead of one random z. Phantom AUC of A(x), 400 queries, Gamma
        # 100: 0.915 with one random start, 0.946 with the best of 64 (chapter 3 shows both).
        map_starts=64,
        # Beyond the paper, for real OCT: patches between the ILM and the RPE only, and the residual of
        # Eq. 3 between images low-passed with sigma 2 px. Chosen on the validation split (held-out healthy
        # training patients, 3 Duke subjects) as the best of eight variants on Duke fluid vs Duke non-fluid:
        # AUC of A(x) 0.648 against 0.535 with the paper's window and residual, still under the darkness
        # floor (0.724); despeckling (median 5) lifted only the comparisons against the other scanner
        # (width 32 with both: 0.582, 3x the training time; benchmarks/real_detection.py prints all eight;
        # over 3 GAN seeds width 32 gives 0.602 against 0.569 at 16, within the spread: benchmarks/scaling.py).
        patch_region="retina",
        residual_sigma=2.0,
        map_chunk=64,
        # 256 per sweep setting keeps the real-data book within the hour (512 took ~220 s more)
        sweep_queries=256,
        n_bootstrap=1000,
    ),
    "paper": dict(
        n_train_scans=0,
        n_test_scans=0,
        # 1,000 per healthy B-scan: 178,000 patches from the 178 healthy Kermany training scans (data stage
        # 40 s on 16 cores); the paper took 1,000,000 from 270 volumes of 49 B-scans (~75 per B-scan)
        train_patches_per_scan=1000,
        test_patches_per_scan=48,  # patch-level test set cut to the paper's 8192 if larger (real data: 6,240)
        width=64,
        epochs=20,
        batch_size=64,
        steps=500,
        map_lr=0.05,
        map_chunk=1024,  # on a GPU; on a CPU make_config caps it at CPU_MAP_CHUNK
        encoder_epochs=20,  # beyond the paper: as many epochs as the GAN (f-AnoGAN trains E as long)
        sweep_queries=2048,
        n_bootstrap=1000,
    ),
}

# Allowed ranges: (type, low, high) with None for open ends.
_RANGES: dict[str, tuple[type, float | None, float | None]] = {
    "seed": (int, 0, None),
    "n_train_scans": (int, 0, None),
    "n_test_scans": (int, 0, None),
    "n_disease_scans": (int, 0, None),
    "train_patches_per_scan": (int, 1, None),
    "test_patches_per_scan": (int, 1, None),
    "patch_size": (int, 64, 64),
    "column_um": (float, 1.0, 100.0),
    "despeckle": (int, 0, 15),
    "patch_region": (str, None, None),
    "width": (int, 1, 1024),
    "z_dim": (int, 1, None),
    "epochs": (int, 0, None),
    "batch_size": (int, 2, None),
    "lr_g": (float, 0.0, 1.0),
    "lr_d": (float, 0.0, 1.0),
    "beta1": (float, 0.0, 1.0),
    "resize_conv": (bool, None, None),
    "spectral_norm": (bool, None, None),
    "gan_seed": (int, 0, None),
    "steps": (int, 0, None),
    "lam": (float, 0.0, 1.0),
    "map_lr": (float, 0.0, 10.0),
    "clamp_z": (bool, None, None),
    "map_starts": (int, 1, None),
    "residual_sigma": (float, 0.0, 8.0),
    "map_chunk": (int, 1, None),
    "encoder_epochs": (int, 0, None),
    "encoder_lr": (float, 0.0, 1.0),
    "kappa": (float, 0.0, None),
    "hybrid_steps": (int, 0, None),
    "sweep_queries": (int, 2, None),
    "n_bootstrap": (int, 0, None),
}
# The paper's values of the options beyond it that address real OCT (chapter 5 sets them side by side).
PAPER_REAL_DATA_OPTIONS: dict[str, Any] = {"patch_region": "window", "despeckle": 0, "residual_sigma": 0.0}
_CHOICES: dict[str, tuple[str, ...]] = {"patch_region": ("window", "retina")}
TUNABLE = tuple(_RANGES)
# The same-scanner protocol (dataset 'duke') trains on 33 Duke B-scans instead of ~180 Kermany
# ones: it takes this many times the profile's patches per scan, for about as many training patches.
DUKE_TRAIN_PATCH_FACTOR = 6
# Queries mapped at once on a CPU: the fastest chunk on 2 cores at both the cpu and the
# paper width (benchmarks/mapping_speed.py: at paper width 60 img-steps/s with 64,
# 45 with 256). The chunk never changes the results, only the speed.
CPU_MAP_CHUNK = 64


def project_root() -> Path:
    """The checkout holding ``_toc.yml`` above the working folder, else the working folder.

    Notebooks execute inside ``book/``; this keeps their runs in one place.
    """
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "_toc.yml").is_file() and (folder / "anogan_core").is_dir():
            return folder
    return here


@cache
def code_digest(modules: tuple[str, ...]) -> str:
    """Hash of the source of ``anogan_core`` modules (read once per process, so that one
    notebook's keys stay consistent while it runs)."""
    h = hashlib.sha256()
    for module in modules:
        h.update((Path(__file__).parent / f"{module}.py").read_bytes())
    return h.hexdigest()[:12]


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _check_value(name: str, value: Any) -> Any:
    kind, low, high = _RANGES[name]
    if kind is str:
        if value not in _CHOICES[name]:
            raise ConfigError(f"parameter {name!r} must be one of {', '.join(_CHOICES[name])}; got {value!r}")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"parameter {name!r} must be True or False, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(
            f"parameter {name!r} must be a number ({kind.__name__}), got {value!r} of type {type(value).__name__}"
        )
    if kind is int:
        if float(value) != int(value):
            raise ConfigError(f"parameter {name!r} must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
        raise ConfigError(f"parameter {name!r} must lie in {span}, got {value!r}")
    return value


def resolve_data_dir(dataset: str, data_dir: str | os.PathLike[str] | None) -> str:
    """The data folder: the argument, else ``$ANOGAN_DATA``, else ``data/oct``.

    The synthetic phantom needs none and gets ``""``. A missing folder is an error
    naming the folder and how to set it.
    """
    if dataset == "synthetic":
        return ""
    chosen = str(data_dir) if data_dir else os.environ.get(DATA_ENV, "") or "data/oct"
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"data directory {str(path)!r} for dataset {dataset!r} does not exist; "
            f"pass data_dir=... (papermill: -p data_dir PATH) or set ${DATA_ENV} "
            "(see data/README.md for the expected layout)"
        )
    return str(path.resolve())


def make_config(
    profile: str = "smoke",
    dataset: str = "synthetic",
    data_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
    **overrides: Any,
) -> Config:
    """Validated configuration from a profile name plus overrides.

    Overrides whose value is ``None`` are ignored, so a notebook can pass its
    parameters straight through (``lam=None`` keeps the profile's lambda).
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)}")
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; allowed: {', '.join(DATASETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(TUNABLE))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(TUNABLE)}")
    seed = _check_value("seed", seed)
    defaults = dict(_PROFILE_DEFAULTS[profile])
    if dataset == "duke":
        defaults["train_patches_per_scan"] = DUKE_TRAIN_PATCH_FACTOR * defaults.get("train_patches_per_scan", 64)
    values = dict(defaults)
    checked = {k: _check_value(k, v) for k, v in given.items()}
    values.update(checked)
    if "map_chunk" not in checked and pick_device().type == "cpu":
        values["map_chunk"] = min(values["map_chunk"], CPU_MAP_CHUNK)
    base = {f.name: f.default for f in fields(Config) if f.name in TUNABLE}
    base.update(defaults)
    changed = {k: v for k, v in checked.items() if base.get(k) != v}
    return Config(
        profile=profile,
        dataset=dataset,
        data_dir=resolve_data_dir(dataset, data_dir),
        seed=seed,
        overrides=changed,
        **values,
    )


def chapter_config(parameters: Mapping[str, Any]) -> Config:
    """A chapter's configuration from its papermill parameters (pass ``globals()``): profile,
    dataset, data_dir, seed and whichever tunable fields the chapter declares (``None`` keeps
    the profile's value)."""
    return make_config(
        parameters["profile"],
        parameters["dataset"],
        parameters.get("data_dir") or None,
        parameters.get("seed", 0),
        **{k: parameters[k] for k in TUNABLE if k in parameters and k != "seed"},
    )


def pick_device() -> torch.device:
    """CUDA when present, else CPU; ``$ANOGAN_DEVICE`` forces one."""
    forced = os.environ.get(DEVICE_ENV)
    if forced:
        return torch.device(forced)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
