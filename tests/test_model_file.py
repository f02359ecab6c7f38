import io
import json

import pytest
import torch

from anogan_core import config, model_file
from anogan_core.cli import main
from anogan_core.model_file import FORMAT, ModelFileError, RunError, export_model, load_model, load_run
from anogan_core.scoring import score_scans


@pytest.fixture(scope="module")
def model_path(trained_run, tmp_path_factory):
    return export_model(trained_run, tmp_path_factory.mktemp("model") / "model.pt")


def test_a_model_file_scores_as_its_run(trained_run, model_path, phantom_files):
    files = [phantom_files / "normal_0.png", phantom_files / "fluid_0.png"]
    from_run = score_scans(trained_run, files, progress=False).scored
    from_file = score_scans(model_path, files, progress=False).scored
    assert [s.score for s in from_file] == [s.score for s in from_run]
    assert all((a.anomaly == b.anomaly).all() for a, b in zip(from_file, from_run))
    model = load_model(model_path)
    assert model.cfg == load_run(trained_run).cfg and model.source == str(model_path)
    # the run trained an encoder: the file holds it, and it scores as the run's
    fast_run = score_scans(trained_run, files, mapping="encoder", progress=False).scored
    fast_file = score_scans(model_path, files, mapping="encoder", progress=False).scored
    assert [s.score for s in fast_file] == [s.score for s in fast_run]


def test_the_file_outlives_a_change_of_the_stage_code(trained_run, model_path, monkeypatch):
    monkeypatch.setattr(config, "code_digest", lambda modules: "after-an-upgrade")
    with pytest.raises(RunError, match="its trained DCGAN is not at"):
        load_run(trained_run)
    assert load_model(model_path).G is not None


def _rewrite(payload, path):
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(buffer.getvalue())
    return path


def test_corrupt_foreign_and_newer_files_are_refused_in_one_line(model_path, tmp_path):
    payload = torch.load(model_path, weights_only=True)
    changed = {**payload, "G": {k: v + 1 if v.is_floating_point() else v for k, v in payload["G"].items()}}
    cases = {
        "checksum mismatch": _rewrite(changed, tmp_path / "changed.pt"),
        "model format version 2": _rewrite({**payload, "format_version": 2}, tmp_path / "newer.pt"),
        f"not an {FORMAT} file": _rewrite({"weights": torch.zeros(2)}, tmp_path / "foreign.pt"),
        "not a readable model file": tmp_path / "cut.pt",
        "no such model file": tmp_path / "missing.pt",
    }
    (tmp_path / "cut.pt").write_bytes(model_path.read_bytes()[:5000])
    for reason, path in cases.items():
        with pytest.raises(ModelFileError, match=reason) as err:
            load_model(path)
        assert "\n" not in str(err.value)


class Payload:
    """An object whose unpickling would run code."""

    def __reduce__(self):
        return (exec, ("raise SystemExit('code from a model file ran')",))


def test_loading_never_runs_code_from_the_file(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "x": Payload()}, path)
    with pytest.raises(ModelFileError, match="not a readable model file"):
        load_model(path)


def test_a_model_without_an_encoder_refuses_the_encoder_mapping(trained_run, model_path, tmp_path, monkeypatch):
    monkeypatch.setattr(model_file, "load_encoder", lambda *a: (_ for _ in ()).throw(RunError("none")))
    payload = torch.load(model_path, weights_only=True)
    payload["encoder"] = None
    payload["checksum"] = model_file._checksum(payload)
    path = _rewrite(payload, tmp_path / "plain.pt")
    assert load_model(path).encoder is None
    with pytest.raises(ModelFileError, match="holds no izi_f encoder"):
        load_model(path, "encoder")


def test_export_and_score_from_the_command_line(trained_run, phantom_files, tmp_path, capsys):
    path = tmp_path / "model.pt"
    assert main(["export", "--run", str(trained_run), "--out", str(path)]) == 0
    assert main(["export", "--run", str(trained_run), "--out", str(path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    out = tmp_path / "scores"
    args = ["score", "--model", str(path), str(phantom_files / "normal_0.png"), "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert json.loads((out / "run.json").read_text())["calibration"] == load_model(path).calibration
    assert load_model(path).calibration["n_scans"] == 20  # the export calibrated on fresh healthy phantom scans
    # each mapping's scores have their own scale, so each its own calibration
    assert load_model(path, "encoder").calibration["threshold"] != load_model(path).calibration["threshold"]
    assert main(["score", "--model", str(tmp_path / "none.pt"), str(phantom_files), "--out", str(tmp_path / "x")]) == 2
    assert "no such file" in capsys.readouterr().err
