import numpy as np
import pytest

from anogan_core.calibration import Calibration, CalibrationError, calibrate, calibration_scans
from anogan_core.config import make_config
from anogan_core.datasets import Scan
from anogan_core.figures import heatmap_overlay
from anogan_core.metrics import scan_score
from anogan_core.model_file import load_run
from anogan_core.phantom import make_scans
from anogan_core.preprocess import prepare_scan
from anogan_core.scoring import calibrate_model, score_flat_scan


def test_the_threshold_is_exceeded_by_the_stated_share_of_healthy_scores():
    scores = np.arange(1.0, 21.0)  # 20 healthy scans
    c = calibrate(scores, fpr=0.1, source="test", heat_values=np.linspace(0, 1, 1001))
    assert c.threshold == 19.0 and (scores > c.threshold).mean() == 0.05  # at most the rate
    assert (c.low, c.high, c.n_scans) == (1.0, 20.0, 20) and c.heat_max == pytest.approx(0.99)
    assert c.normalise(19.0) == 0.5 and c.normalise(1000.0) == 1.0 and c.normalise(-5.0) == 0.0
    assert c.normalise(19.0 + 19.0 / 4) == pytest.approx(0.75)
    assert c.label(np.array([19.0, 19.5])).tolist() == ["normal", "anomalous"]
    assert Calibration(**c.as_dict()) == c
    assert np.isnan(calibrate(scores, fpr=0.1, source="no maps").heat_max)


def test_bad_rates_too_few_scans_and_datasets_without_healthy_scans_are_refused(tmp_path):
    with pytest.raises(CalibrationError, match=r"must lie in \(0, 1\)"):
        calibrate(np.arange(5.0), fpr=1.0, source="x")
    with pytest.raises(CalibrationError, match="at least 2 healthy scans"):
        calibrate(np.ones(1), fpr=0.05, source="x")
    (tmp_path / "duke-dme-chiu2015").mkdir()
    with pytest.raises(CalibrationError, match="dataset 'duke' holds no held-out healthy"):
        calibration_scans(make_config("smoke", "duke", tmp_path))


def test_phantom_calibration_scans_are_healthy_and_new():
    scans, source = calibration_scans(make_config("smoke"), n_phantom=5)
    assert len(scans) == 5 and all(s.healthy for s in scans) and "seed 202" in source


def test_calibrated_labels_call_held_out_healthy_scans_anomalous_at_about_the_rate(trained_run):
    model = load_run(trained_run)
    calibration = calibrate_model(model, fpr=0.25, n_phantom=24)
    fresh = make_scans(24, 303)  # healthy scans that neither trained nor calibrated the model
    scores = []
    for s in fresh:
        scan = Scan(s.image, "phantom", "x", "x", "NORMAL", s.width_mm)
        scores.append(scan_score(score_flat_scan(model, prepare_scan(scan, model.cfg.column_um))[1]))
    called = int((calibration.label(np.array(scores)) == "anomalous").sum())
    assert 1 <= called <= 12  # 6 expected; a binomial 99% range of 24 draws at 0.25


def test_maps_of_one_model_share_the_colour_scale():
    image = np.zeros((100, 200))
    limits = []
    for heat in (np.full((100, 200), 0.1), np.full((100, 200), 3.0)):
        fig = heatmap_overlay(image, heat, None, "map", vmax=2.0, scale_note="healthy scans")
        limits.append(fig.axes[0].images[1].get_clim())
    assert limits == [(0, 2.0), (0, 2.0)]
