import pickle

import numpy as np
import pytest

from anogan_core.storage import load_arrays, load_json, load_torch, save_arrays, save_json, save_torch, update_json


def test_roundtrips(tmp_path):
    save_json(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(3)})
    assert load_json(tmp_path / "a.json") == {"x": 1.5, "y": [0, 1, 2]}
    update_json(tmp_path / "a.json", z=2)
    assert load_json(tmp_path / "a.json")["z"] == 2
    save_arrays(tmp_path / "b.npz", v=np.eye(2))
    assert np.array_equal(load_arrays(tmp_path / "b.npz")["v"], np.eye(2))
    flat = np.zeros((64, 64), np.uint8)
    save_arrays(tmp_path / "plain.npz", x=flat)
    save_arrays(tmp_path / "small.npz", compress=True, x=flat)
    assert np.array_equal(load_arrays(tmp_path / "small.npz")["x"], flat)
    assert (tmp_path / "small.npz").stat().st_size < (tmp_path / "plain.npz").stat().st_size / 10


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "ck.pt"
    save_torch(path, {"epoch": 1})
    with pytest.raises((AttributeError, TypeError, pickle.PicklingError)):
        save_torch(path, {"epoch": 2, "unpicklable": lambda: None})  # fails mid-write
    assert load_torch(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]
