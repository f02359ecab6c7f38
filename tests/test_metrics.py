import numpy as np
import pytest

from anogan_core.metrics import (
    auc,
    auc_by_stratum,
    auc_within_bins,
    bootstrap_auc,
    knn_accuracy,
    summarize,
    youden_stats,
)


def test_auc_hand_computed():
    # pairs (pos, neg): (0.35 > 0.1), (0.35 < 0.4), (0.8 > 0.1), (0.8 > 0.4) -> 3/4
    assert auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auc([0, 1], [0.0, 0.0]) == pytest.approx(0.5)


def test_youden_hand_computed():
    labels = [0, 0, 0, 1, 1, 1]
    scores = [0.1, 0.2, 0.7, 0.6, 0.8, 0.9]
    s = youden_stats(labels, scores)
    # cut at 0.6: TP 3, FP 1, TN 2, FN 0 -> J = 1 - 1/3; cut at 0.8: TP 2, FP 0 -> J = 2/3. Tie: first (0.8)
    assert s.threshold in (0.6, 0.8)
    if s.threshold == 0.8:
        assert (s.sensitivity, s.specificity, s.precision) == pytest.approx((2 / 3, 1.0, 1.0))
    else:
        assert (s.sensitivity, s.specificity, s.precision) == pytest.approx((1.0, 2 / 3, 0.75))
    assert s.recall == s.sensitivity
    perfect = youden_stats([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4])
    assert (perfect.threshold, perfect.sensitivity, perfect.specificity) == (0.3, 1.0, 1.0)


def test_bootstrap_resamples_groups():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 200)
    scores = labels + rng.normal(0, 1, 400)
    point, lo, hi = bootstrap_auc(labels, scores, n_boot=300)
    assert lo < point < hi and hi - lo < 0.15
    # the same data in 8 highly correlated groups: a much wider interval
    groups = np.repeat(np.arange(8), 50)
    scores_g = labels + np.repeat(rng.normal(0, 1, 8), 50) + rng.normal(0, 0.1, 400)
    _, glo, ghi = bootstrap_auc(labels, scores_g, groups, n_boot=300)
    _, plo, phi = bootstrap_auc(labels, scores_g, None, n_boot=300)
    assert ghi - glo > 2 * (phi - plo)


def test_errors_and_summary():
    with pytest.raises(ValueError, match="both classes"):
        auc([1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        auc([0, 1], [0.1, np.nan])
    row = summarize(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4]), None, n_boot=0)
    assert row["auc"] == 1.0 and row["n_pos"] == 2 and np.isnan(row["auc_lo"])


def test_knn_accuracy_separable_vs_noise():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60)
    separable = rng.normal(0, 1, (120, 5)) + labels[:, None] * 4
    assert knn_accuracy(separable, labels) > 0.95
    assert knn_accuracy(rng.normal(0, 1, (120, 5)), labels) < 0.7


def test_auc_by_stratum_hand_computed():
    # negatives score 1, 2, 3; small anomalies score 0 and 2.5, large ones 4 and 5
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    scores = np.array([1.0, 2.0, 3.0, 0.0, 2.5, 4.0, 5.0])
    area = np.array([0, 0, 0, 0.01, 0.02, 0.3, 0.5])
    rows = auc_by_stratum(labels, scores, area, edges=(0, 0.05, 0.2, 1))
    assert [r["n_pos"] for r in rows] == [2, 2]  # the empty (0.05, 0.2] slice is left out
    assert rows[0]["auc"] == pytest.approx(2 / 6)  # 0 beats none of 3, 2.5 beats 2 of 3
    assert rows[1]["auc"] == 1.0
    with pytest.raises(ValueError, match="strata"):
        auc_by_stratum(labels, scores, area[:3], edges=(0, 1))


def test_auc_within_bins_separates_a_confounder_from_a_signal():
    rng = np.random.default_rng(0)
    brightness = rng.uniform(0, 1, 4000)
    share = 0.8 - 0.2 * np.floor(brightness * 4)  # 80% positives among the darkest quarter ... 20% among the brightest
    labels = (rng.uniform(0, 1, 4000) < share).astype(int)  # positives are darker, at random within a quarter
    darkness = -brightness  # tracks brightness only
    signal = labels + rng.normal(0, 1, 4000)  # knows the label, blind to brightness
    edges = (0.0, 0.25, 0.5, 0.75, 1.0)
    assert auc(labels, darkness) > 0.7  # overall the confounder looks like a detector
    within = auc_within_bins(labels, darkness, brightness, edges)
    assert len(within) == 4 and all(abs(r["auc"] - 0.5) < 0.1 for r in within)
    assert all(r["auc"] > 0.65 for r in auc_within_bins(labels, signal, brightness, edges))
    assert sum(r["n"] for r in within) == 4000  # every sample in one bin, the top edge included
    one_class = auc_within_bins(np.array([0, 0, 1, 1]), np.arange(4.0), np.array([0, 0, 1, 1.0]), (0, 0.5, 1))
    assert one_class == []  # each bin holds one class only
