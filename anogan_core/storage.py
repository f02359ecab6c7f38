"""Atomic writes: every artifact is written to a temporary file, then renamed.

A run interrupted mid-write never leaves a truncated checkpoint, patch array or
metrics file behind; readers see the old version or the new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def atomic_write(path: Path, write: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_json(path: Path, obj: Any) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def load_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def update_json(path: Path, **entries: Any) -> dict[str, Any]:
    """Merge ``entries`` into the JSON object at ``path`` (created if missing)."""
    data = load_json(path) if Path(path).exists() else {}
    data.update(entries)
    save_json(path, data)
    return data


def save_torch(path: Path, obj: Any) -> Path:
    return atomic_write(path, lambda fh: torch.save(obj, fh))


def load_torch(path: Path, device: str | torch.device = "cpu") -> Any:
    return torch.load(path, map_location=device, weights_only=False)


def save_arrays(path: Path, compress: bool = False, **arrays: np.ndarray) -> Path:
    """Arrays into one ``.npz`` (zip-deflated with ``compress``)."""
    return atomic_write(path, lambda fh: (np.savez_compressed if compress else np.savez)(fh, **arrays))


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")
