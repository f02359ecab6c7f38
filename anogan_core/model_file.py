"""A model a user can carry: one versioned file with everything that scores new scans.

A finished run keeps its trained networks in its stage cache (``runs/cache``), under keys that hash
the code of the stages: after an upgrade of the package the run no longer finds them, and a
colleague would need the whole ``runs/`` folder. :func:`export_model` writes one file instead,
holding G, D and (when trained) the izi_f encoder, the run's configuration (the preprocessing and
mapping settings the model scores with), an optional calibration, the versions that made it and a
checksum of every tensor. :func:`load_model` reads it back as a :class:`Model`, which
:mod:`scoring` uses exactly like a run folder (:func:`load_run`).

Loading never executes code from the file: it is read with ``torch.load(weights_only=True)``,
which admits tensors, numbers, strings, lists and dicts only. A file of another format or format
version, or whose tensors do not match its checksum, is refused with one line
(:class:`ModelFileError`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import pickle
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .config import Config, pick_device
from .encoder import Encoder, load_encoder
from .models import Discriminator, Generator, sample_z
from .storage import atomic_write, load_json
from .training import load_dcgan

FORMAT = "anogan-replication model"
FORMAT_VERSION = 1
MAPPINGS = ("iterative", "encoder")


class RunError(ValueError):
    """A run folder that holds no usable trained model."""


class ModelFileError(ValueError):
    """A model file that cannot be used: corrupt, foreign, or of another format version."""


@dataclass
class Model:
    """A trained model of normal appearance with the settings it scores with.

    ``cfg`` holds the run's preprocessing (column width, despeckling, patch region) and mapping
    settings (steps, lambda, learning rate, start pool, residual low-pass); ``encoder`` is set when
    the model scores with f-AnoGAN's izi_f encoder; ``source`` says where it was loaded from;
    ``calibration`` is the :class:`calibration.Calibration` (as a dict) of its mapping's scores."""

    cfg: Config
    G: Generator
    D: Discriminator
    source: str
    encoder: Encoder | None = None
    calibration: dict[str, Any] | None = None

    def mapping_settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`mapping.map_to_latent` with which this model maps a query."""
        return mapping_settings(self.cfg)

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the weights this model scores with: the same for a run folder and
        the model file exported from it."""
        h = hashlib.sha256()
        for net in (self.G, self.D, self.encoder):
            for name, tensor in (net.state_dict() if net is not None else {}).items():
                h.update(name.encode())
                h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]


def start_pool(cfg: Config) -> torch.Tensor | None:
    """The seeded pool of ``map_starts`` candidate z_1 shared by all queries, or None for one
    random z_1 per query (the paper)."""
    if cfg.map_starts == 1:
        return None
    return sample_z(cfg.map_starts, cfg.z_dim, torch.Generator().manual_seed(cfg.seed + 11))


def mapping_settings(cfg: Config) -> dict[str, Any]:
    """The keyword arguments of :func:`mapping.map_to_latent` that map a query as the run maps its
    test patches: Gamma, lambda, learning rate, clamp, chunk, seed, start pool and residual low-pass."""
    return {
        "steps": cfg.steps, "lam": cfg.lam, "lr": cfg.map_lr, "clamp": cfg.clamp_z, "chunk": cfg.map_chunk,
        "seed": cfg.seed, "starts": start_pool(cfg), "sigma": cfg.residual_sigma,
    }  # fmt: skip


def _config(recorded: dict[str, Any]) -> Config:
    names = {f.name for f in dataclasses.fields(Config)} - {"overrides"}
    return Config(**{k: v for k, v in recorded.items() if k in names})


def load_run(run_dir: str | Path, mapping: str = "iterative", device: torch.device | None = None) -> Model:
    """The configuration (``metrics.json``) and trained DCGAN of a run folder ``runs/<run>``, and
    its izi_f encoder for ``mapping='encoder'`` (beyond the paper, trained by the fast-mapping chapter).

    They live in the run's stage cache ``<runs>/cache/<dataset>-<stage>-<key>``; if the code or
    settings they depend on changed since, the key differs and the error says so (a model file
    from :func:`export_model` does not depend on it)."""
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown mapping {mapping!r}; allowed: {', '.join(MAPPINGS)}")
    run_dir = Path(run_dir)
    metrics = run_dir / "metrics.json"
    if not metrics.is_file():
        raise RunError(f"{run_dir}: not a run folder (no metrics.json); build the book for it first")
    try:
        recorded = load_json(metrics).get("config")
    except (ValueError, UnicodeDecodeError) as err:  # cut short or not JSON
        raise RunError(
            f"{metrics}: not a readable metrics file ({type(err).__name__}: {err}); rebuild the run"
        ) from err
    if not recorded:
        raise RunError(f"{metrics}: no 'config' entry; rebuild the run's chapters")
    cfg = _config(recorded)
    gan_dir = run_dir.parent / "cache" / f"{cfg.dataset}-gan-{cfg.stage_key('gan')}"
    if not (gan_dir / "done.json").is_file():
        raise RunError(
            f"{run_dir}: its trained DCGAN is not at {gan_dir} (the code or data settings changed since the run, "
            f"or its GAN chapter never finished); rebuild it: python scripts/book.py run 02_dcgan "
            f"--profile {cfg.profile} --dataset {cfg.dataset}"
        )
    device = device or pick_device()
    G, D, _, _ = load_dcgan(gan_dir, device)
    if mapping == "iterative":
        return Model(cfg, G, D, str(run_dir))
    encoder_dir = run_dir.parent / "cache" / f"{cfg.dataset}-encoder-{cfg.stage_key('encoder')}"
    if not (encoder_dir / "done.json").is_file():
        raise RunError(
            f"{run_dir}: its izi_f encoder is not at {encoder_dir}; train it: python scripts/book.py run "
            f"07_fast_mapping --profile {cfg.profile} --dataset {cfg.dataset}"
        )
    return Model(cfg, G, D, str(run_dir), load_encoder(encoder_dir, device)[0])


def _checksum(payload: dict[str, Any]) -> str:
    """SHA-256 over every tensor's name, shape, dtype and bytes, and the rest of the payload as text."""
    h = hashlib.sha256()
    for part in ("G", "D", "encoder"):
        for name, tensor in sorted((payload.get(part) or {}).items()):
            t = tensor.detach().cpu().contiguous()
            h.update(f"{part}.{name}:{tuple(t.shape)}:{t.dtype}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    rest = {k: v for k, v in payload.items() if k not in ("G", "D", "encoder", "checksum")}
    h.update(repr(sorted(rest.items())).encode())
    return h.hexdigest()


def export_model(run_dir: str | Path, path: str | Path, calibrations: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write the run's model (G, D, the izi_f encoder when trained, its configuration) into one file,
    with ``calibrations``: mapping ('iterative', 'encoder') -> the calibration of its scores."""
    model = load_run(run_dir, device=torch.device("cpu"))
    try:
        encoder = load_run(run_dir, "encoder", torch.device("cpu")).encoder
    except RunError:
        encoder = None
    cfg = model.cfg
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.as_dict() | {"data_dir": Path(cfg.data_dir).name if cfg.data_dir else ""},
        "networks": {
            "z_dim": cfg.z_dim,
            "width": cfg.width,
            "resize_conv": cfg.resize_conv,
            "spectral_norm": cfg.spectral_norm,
        },  # fmt: skip
        "G": model.G.state_dict(),
        "D": model.D.state_dict(),
        "encoder": None if encoder is None else encoder.state_dict(),
        "calibration": calibrations or {},
        "provenance": {
            "run": Path(run_dir).name,
            "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "anogan_core": __version__,
            "torch": str(torch.__version__),  # a TorchVersion object would not load with weights_only
            "python": platform.python_version(),
        },
    }
    payload["checksum"] = _checksum(payload)
    return atomic_write(Path(path), lambda fh: torch.save(payload, fh))


def read_model_file(path: str | Path) -> dict[str, Any]:
    """The checked contents of a model file, or :class:`ModelFileError` naming what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        payload = torch.load(io.BytesIO(path.read_bytes()), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, KeyError) as err:
        raise ModelFileError(f"{path}: not a readable model file ({type(err).__name__}: {err})".split("\n")[0]) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an {FORMAT} file (write one with: anogan export --run RUN --out FILE)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {payload.get('format_version')!r}; this anogan_core "
            f"({__version__}) reads version {FORMAT_VERSION}: export the model again with it"
        )
    if payload.get("checksum") != _checksum(payload):
        raise ModelFileError(f"{path}: checksum mismatch, the file is corrupt or was changed after export")
    return payload


def load_model(path: str | Path, mapping: str = "iterative", device: torch.device | None = None) -> Model:
    """The :class:`Model` in a file written by :func:`export_model`."""
    if mapping not in MAPPINGS:
        raise ValueError(f"unknown mapping {mapping!r}; allowed: {', '.join(MAPPINGS)}")
    payload = read_model_file(path)
    device = device or pick_device()
    net = payload["networks"]
    G = Generator(net["z_dim"], net["width"], net["resize_conv"]).to(device)
    D = Discriminator(net["width"], net["spectral_norm"]).to(device)
    G.load_state_dict(payload["G"])
    D.load_state_dict(payload["D"])
    encoder = None
    if mapping == "encoder":
        if payload["encoder"] is None:
            raise ModelFileError(f"{path}: holds no izi_f encoder; score with --mapping iterative")
        encoder = Encoder(net["z_dim"], net["width"]).to(device)
        encoder.load_state_dict(payload["encoder"])
        encoder.eval()
    calibration = payload["calibration"].get(mapping)  # each mapping's scores have their own scale
    return Model(_config(payload["config"]), G.eval(), D.eval(), str(path), encoder, calibration)
