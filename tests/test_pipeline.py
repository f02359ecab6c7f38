import numpy as np
import pytest

from anogan_core import pipeline
from anogan_core.config import make_config
from anogan_core.model_file import start_pool
from anogan_core.patches import PatchSet


def _tiny(**kw):
    return make_config(
        "smoke",
        "synthetic",
        n_train_scans=4,
        n_test_scans=2,
        train_patches_per_scan=32,
        test_patches_per_scan=8,
        epochs=1,
        steps=4,
        **kw,
    )


def test_same_seed_gives_identical_results_in_fresh_run_folders(tmp_path, monkeypatch):
    results = []
    for name in ("a", "b"):
        monkeypatch.setenv("ANOGAN_RUNS", str(tmp_path / name))
        cfg = _tiny()
        res = pipeline.mapped(cfg, "feature", "test", progress=False)
        results.append((res.anomaly, res.z))
    assert np.array_equal(results[0][0], results[1][0]) and np.array_equal(results[0][1], results[1][1])


def test_stages_are_cached_and_reused(tmp_path):
    cfg = _tiny()
    pipeline.mapped(cfg, "feature", "test", progress=False)
    stamp = (cfg.stage_dir("gan") / "checkpoint.pt").stat().st_mtime_ns
    other_lam = _tiny(lam=0.5)
    pipeline.mapped(other_lam, "feature", "test", progress=False)
    assert (cfg.stage_dir("gan") / "checkpoint.pt").stat().st_mtime_ns == stamp  # GAN reused
    assert len(list(cfg.stage_dir("map").glob("test-feature-*.npz"))) == 2


def _patchset(sources_labels, patch_labels, scan_of_patch, splits=None):
    splits = splits or ["test"] * len(sources_labels)
    scans = [
        {"name": str(i), "patient": f"p{i}", "source": s, "label": lab, "split": split}
        for i, ((s, lab), split) in enumerate(zip(sources_labels, splits))
    ]
    n = len(patch_labels)
    return PatchSet(
        np.zeros((n, 64, 64), np.uint8),
        np.array(scan_of_patch),
        np.zeros((n, 2), np.int32),
        np.array(patch_labels, np.int8),
        None,
        np.zeros(n, np.int8),
        scans,
    )


def test_real_data_comparisons_follow_the_protocol():
    ps = _patchset(
        [("kermany", "NORMAL"), ("kermany", "CNV"), ("duke", "FLUID"), ("duke", "DME")],
        [0, 0, 0, 1, 0, 0],
        [0, 1, 2, 2, 2, 3],
    )
    assert pipeline.patch_level(ps).tolist() == [0, 2, 3, 4, 5]  # no CNV patches at patch level
    comp = pipeline.comparisons(ps)
    idx, lab = comp["Duke fluid vs Kermany normal"]
    assert idx.tolist() == [0, 3] and lab.tolist() == [0, 1]
    idx, lab = comp["Duke fluid vs Duke non-fluid"]
    assert idx.tolist() == [2, 3, 4, 5] and lab.tolist() == [0, 1, 0, 0]
    idx, lab = comp["Duke non-fluid vs Kermany normal"]
    assert idx.tolist() == [0, 2, 4, 5] and lab.tolist() == [0, 1, 1, 1]


def test_validation_scans_enter_no_test_comparison():
    ps = _patchset(
        [("kermany", "NORMAL"), ("duke", "FLUID"), ("kermany", "NORMAL"), ("duke", "FLUID"), ("kermany", "DME")],
        [0, 1, 0, 0, 1, 0, 0],
        [0, 1, 1, 2, 3, 3, 4],
        ["test", "test", "validation", "validation", "test"],
    )
    assert pipeline.patch_level(ps).tolist() == [0, 1, 2]
    assert pipeline.patch_level(ps, "validation").tolist() == [3, 4, 5]
    test = pipeline.comparisons(ps)
    assert test["Duke fluid vs Kermany normal"][0].tolist() == [0, 1]
    validation = pipeline.comparisons(ps, "validation")
    assert validation["Duke fluid vs Kermany normal"][0].tolist() == [3, 4]
    assert validation["Duke fluid vs Duke non-fluid"][1].tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown split 'train'"):
        pipeline.patch_level(ps, "train")
    # the same-scanner protocol has no Kermany scans: only the within-Duke comparison
    duke_only = _patchset([("duke", "FLUID")], [0, 1], [0, 0])
    assert list(pipeline.comparisons(duke_only)) == ["Duke fluid vs Duke non-fluid"]


def test_table1_results_per_comparison_by_hand():
    # two Kermany normal scans (patients p0, p1) and one Duke scan holding fluid and non-fluid patches
    ps = _patchset(
        [("kermany", "NORMAL"), ("kermany", "NORMAL"), ("duke", "FLUID")],
        [0, 0, 0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 2, 2, 2, 2],
    )
    score = np.array([1.0, 5.0, 2.0, 3.0, 4.0, 6.0, 0.0, 7.0])
    out = pipeline.table1_results(ps, {"A": score}, {"R": -score}, {"F": score * 0 + 1}, n_boot=0, seed=0)
    assert list(out) == [
        "Duke fluid vs Kermany normal",
        "Duke fluid vs Duke non-fluid",
        "Duke non-fluid vs Kermany normal",
    ]
    # fluid {4, 6} against normal {1, 5, 2, 3}: 7 of 8 pairs ranked right
    row = out["Duke fluid vs Kermany normal"]["methods"]["A"]
    assert row["auc"] == 7 / 8 and (row["n_pos"], row["n_neg"]) == (2, 4)
    assert out["Duke fluid vs Kermany normal"]["components"]["R"]["auc"] == 1 / 8
    assert out["Duke fluid vs Duke non-fluid"]["methods"]["A"]["auc"] == 2 / 4  # {4, 6} against {0, 7}
    assert out["Duke fluid vs Kermany normal"]["floors"]["F"]["auc"] == 0.5
    # scored on a subset only: the other patches may be NaN and are left out of every comparison
    sparse = np.where(np.isin(np.arange(8), [0, 2, 4, 6]), score, np.nan)
    out = pipeline.table1_results(ps, {"A": sparse}, {}, {}, n_boot=0, seed=0, subset=np.array([0, 2, 4, 6]))
    row = out["Duke fluid vs Kermany normal"]["methods"]["A"]
    assert row["auc"] == 1.0 and (row["n_pos"], row["n_neg"]) == (1, 2)  # 4 against {1, 2}
    with pytest.raises(ValueError, match="NaN"):
        pipeline.table1_results(ps, {"A": sparse}, {}, {}, n_boot=0, seed=0)
    # a subset that holds no Duke non-fluid patch leaves that comparison out
    out = pipeline.table1_results(ps, {"A": score}, {}, {}, n_boot=0, seed=0, subset=np.array([0, 1, 4, 5]))
    assert list(out) == ["Duke fluid vs Kermany normal"]


def test_bscan_sensitivity_and_specificity_at_the_validation_threshold():
    kinds = [("kermany", "NORMAL")] * 5 + [("kermany", "DME")] * 2
    splits = ["validation"] * 3 + ["test"] * 4
    ps = _patchset(kinds, [0] * 7, list(range(7)), splits)  # one patch per scan: its score is the scan's
    scores = np.array([1.0, 2.0, 3.0, 1.5, 2.5, 2.5, 5.0])
    row = pipeline.bscan_at_threshold(ps, {"A": scores}, fpr=0.5)["A"]
    assert row["threshold"] == 2.0 and row["n_calibration"] == 3  # half of {1, 2, 3} lie above 2
    assert row["specificity"] == 0.5 and row["sensitivity"] == 1.0  # normal {1.5, 2.5}, diseased {2.5, 5}
    assert pipeline.bscan_at_threshold(_patchset(kinds, [0] * 7, list(range(7))), {"A": scores}) is None


def test_gan_seed_draws_another_gan_on_the_same_data(tmp_path):
    base, other = _tiny(), _tiny(gan_seed=1)
    assert pipeline.training_seed(base) == base.seed and pipeline.training_seed(other) != base.seed
    assert other.stage_key("data") == base.stage_key("data") and other.stage_key("gan") != base.stage_key("gan")
    G0, G1 = (pipeline.trained_gan(c, progress=False)[0] for c in (base, other))
    assert not all(np.array_equal(a.detach(), b.detach()) for a, b in zip(G0.parameters(), G1.parameters()))


def test_scan_scores_take_the_top_quarter():
    ps = _patchset([("kermany", "NORMAL"), ("kermany", "DME")], [0] * 8, [0, 0, 0, 0, 1, 1, 1, 1])
    ids, agg = pipeline.scan_scores(ps, np.array([1, 2, 3, 4, 10, 0, 0, 0.0]))
    assert ids.tolist() == [0, 1] and agg.tolist() == [4.0, 10.0]
    ids, agg = pipeline.scan_scores(ps, np.array([1, 2, 3, 4, 10, 0, 0, 0.0]), np.array([5, 6, 7, 0, 1]))
    assert ids.tolist() == [0, 1] and agg.tolist() == [2.0, 0.0]


def test_a_subset_mapped_alone_equals_the_same_rows_of_the_test_set():
    cfg = _tiny(sweep_queries=8)
    train, test = pipeline.prepare_data(cfg, progress=False)
    index = pipeline.query_index(cfg, "sweep", train, test)
    whole = pipeline.mapped(cfg, "feature", "test", progress=False)
    alone = pipeline.mapped(cfg, "feature", "sweep", lam=0.3, progress=False)  # mapped on its own
    again = pipeline.mapped(_tiny(sweep_queries=8, lam=0.3), "feature", "test", progress=False).subset(index)
    assert np.allclose(alone.anomaly, again.anomaly, rtol=1e-4) and np.allclose(alone.z, again.z, atol=1e-5)
    assert np.array_equal(pipeline.mapped(cfg, "feature", "sweep", progress=False).anomaly, whole.anomaly[index])


def test_a_new_sweep_size_is_mapped_anew_and_keeps_the_test_set_mapping():
    small, large = _tiny(sweep_queries=4), _tiny(sweep_queries=6)
    assert small.stage_dir("map") == large.stage_dir("map")  # the test-set mappings are shared
    assert len(pipeline.mapped(small, "feature", "sweep", lam=0.3, progress=False).z) == 4
    assert len(pipeline.mapped(large, "feature", "sweep", lam=0.3, progress=False).z) == 6


def test_a_new_train_reference_size_is_mapped_anew(monkeypatch):
    cfg = _tiny()
    monkeypatch.setattr(pipeline, "MAX_TRAIN_REFERENCE", 4)
    assert len(pipeline.mapped(cfg, "feature", "train", progress=False).z) == 4
    monkeypatch.setattr(pipeline, "MAX_TRAIN_REFERENCE", 6)  # not a Config field, so the file name holds it
    assert len(pipeline.mapped(cfg, "feature", "train", progress=False).z) == 6


def test_bscan_level_needs_disease_classes_and_adds_thickness():
    ps = _patchset([("kermany", "NORMAL"), ("kermany", "DME"), ("duke", "FLUID")], [0] * 6, [0, 0, 1, 1, 2, 2])
    for s, t in zip(ps.scans, (70.0, 90.0, 80.0)):
        s["thickness_px"] = t
    rows, n_scans, n_diseased = pipeline.bscan_level(ps, {"A": np.array([0, 1, 5, 6, 9, 9.0])}, 0, 0)
    assert (n_scans, n_diseased) == (2, 1)
    assert rows["A"]["auc"] == 1.0 and rows["retina thickness"]["auc"] == 1.0
    only_normal = _patchset([("kermany", "NORMAL")], [0, 0], [0, 0])
    assert pipeline.bscan_level(only_normal, {"A": np.zeros(2)}, 0, 0) is None
    validation_only = _patchset([("kermany", "NORMAL"), ("kermany", "DME")], [0, 0], [0, 1], ["validation", "test"])
    assert pipeline.bscan_level(validation_only, {"A": np.zeros(2)}, 0, 0) is None


def test_phantom_boundary_errors_are_small():
    errors = pipeline.phantom_boundary_errors(seed=0, n=1, column_um=22.0)
    assert errors.shape == (2, 2) and errors.max() < 1.5


def test_a_side_by_side_start_setting_is_mapped_in_its_own_cache():
    cfg = _tiny(sweep_queries=4)  # smoke: the best of 64 shared starts
    best = pipeline.mapped(cfg, "feature", "sweep", progress=False)  # read off the test-set mapping
    single = pipeline.mapped(cfg, "feature", "sweep", progress=False, starts=1)
    one_start = _tiny(sweep_queries=4, map_starts=1)
    assert one_start.stage_dir("map") != cfg.stage_dir("map")
    assert [p.name for p in one_start.stage_dir("map").glob("*.npz")] == ["sweep4-feature-lam0.1.npz"]
    assert len(single.z) == 4 and not np.array_equal(single.z, best.z)
    assert len(start_pool(cfg)) == 64 and start_pool(one_start) is None


def test_the_hybrid_with_no_steps_scores_the_encoders_z():
    cfg = _tiny(hybrid_steps=0, encoder_epochs=1)
    izif, seconds = pipeline.encoded(cfg, progress=False)
    hybrid, index, _ = pipeline.hybrid_mapped(cfg, progress=False)
    _, test = pipeline.prepare_data(cfg, progress=False)
    assert len(izif.anomaly) == len(test) and seconds > 0
    assert np.array_equal(index, pipeline.patch_level(test))
    np.testing.assert_allclose(hybrid.z, izif.z[index], atol=1e-6)
    assert np.isfinite(hybrid.anomaly).all()
    # cached: a second call reads the same numbers back
    assert np.array_equal(pipeline.encoded(cfg, progress=False)[0].anomaly, izif.anomaly)


def test_mapping_settings_map_a_query_as_the_run_maps_its_test_patches():
    from anogan_core.mapping import map_to_latent
    from anogan_core.patches import decode

    cfg = _tiny()
    _, test = pipeline.prepare_data(cfg, progress=False)
    G, D, _, _ = pipeline.trained_gan(cfg, progress=False)
    rows = np.array([0, len(test) - 1])
    alone = map_to_latent(G, D, decode(test.x[rows]), progress=False, **pipeline.mapping_settings(cfg))
    np.testing.assert_allclose(
        alone.anomaly, pipeline.mapped(cfg, "feature", "test", progress=False).anomaly[rows], rtol=1e-4
    )


def test_fluid_example_scans_hold_annotated_fluid():
    examples = pipeline.fluid_example_scans(_tiny(), n=3)
    assert 1 <= len(examples) <= 3
    assert all(scan.fluid.any() and flat.fluid.any() for scan, flat in examples)


def test_a_gpu_profile_never_starts_days_of_work_on_a_cpu(tmp_path, monkeypatch):
    cfg = make_config("paper", "synthetic", n_train_scans=2, n_test_scans=1, train_patches_per_scan=8)
    for stage in (pipeline.trained_gan, pipeline.trained_acae, pipeline.trained_encoder):
        with pytest.raises(pipeline.StageNotComputed, match="paper profile is not computed .* on this CPU") as err:
            stage(cfg, progress=False)
        assert "scripts/table1.py --profile paper --dataset synthetic --out DIR" in str(err.value)
        assert "--import DIR" in str(err.value) and "ANOGAN_ALLOW_CPU=1" in str(err.value)
    with pytest.raises(pipeline.StageNotComputed, match="the feature mapping of the patch queries"):
        pipeline.mapped(cfg, "feature", "patch", progress=False)
    smoke = make_config("smoke", "synthetic", n_train_scans=2, n_test_scans=1, train_patches_per_scan=64, epochs=1)
    assert pipeline.trained_gan(smoke, progress=False)  # other profiles compute as always
