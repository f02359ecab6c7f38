"""Detection metrics of Section 3: ROC, AUC, statistics at the Youden index, CIs.

Patches from one B-scan or patient are correlated, so confidence intervals come
from a *cluster* bootstrap: whole groups (patients) are resampled with
replacement, not single patches.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve


@dataclass(frozen=True)
class YoudenStats:
    """Statistics at the ROC cut-off that maximises sensitivity + specificity - 1."""

    threshold: float
    precision: float
    recall: float
    sensitivity: float
    specificity: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _check(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels).astype(int).ravel(), np.asarray(scores, dtype=float).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels {labels.shape} and scores {scores.shape} differ in length")
    if set(np.unique(labels)) != {0, 1}:
        raise ValueError("an ROC needs both classes: labels must contain 0s and 1s")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores contain NaN or infinite values")
    return labels, scores


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; larger scores mean 'more anomalous'."""
    labels, scores = _check(labels, scores)
    return float(roc_auc_score(labels, scores))


def roc(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rate, true-positive rate, thresholds)."""
    labels, scores = _check(labels, scores)
    return roc_curve(labels, scores)


def youden_stats(labels: np.ndarray, scores: np.ndarray) -> YoudenStats:
    """Precision, recall, sensitivity and specificity at the Youden-index cut-off.

    A score at or above the threshold calls the image anomalous.
    """
    labels, scores = _check(labels, scores)
    fpr, tpr, thr = roc_curve(labels, scores)
    best = int(np.argmax(tpr - fpr))
    threshold = float(thr[best])
    pred = scores >= threshold
    tp = int(np.sum(pred & (labels == 1)))
    fp = int(np.sum(pred & (labels == 0)))
    tn = int(np.sum(~pred & (labels == 0)))
    fn = int(np.sum(~pred & (labels == 1)))
    sens = tp / (tp + fn)
    return YoudenStats(
        threshold=threshold,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=sens,
        sensitivity=sens,
        specificity=tn / (tn + fp),
    )


def scan_score(patch_scores: np.ndarray) -> float:
    """B-scan-level aggregation (beyond the paper): the mean of the top quarter of a scan's patch scores.

    Fluid is local, so the mean over all patches would dilute it; the top quarter
    keeps a scan's most anomalous region while averaging out single-patch noise.
    """
    v = np.sort(np.asarray(patch_scores, dtype=np.float64))[::-1]
    if not len(v):
        raise ValueError("a scan score needs at least one patch score")
    return float(v[: max(1, len(v) // 4)].mean())


def bootstrap_auc(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """(AUC, lower, upper): percentile CI from resampling whole ``groups``.

    Without groups every sample is its own group. Resamples that miss a class
    are drawn again.
    """
    labels, scores = _check(labels, scores)
    point = float(roc_auc_score(labels, scores))
    if n_boot == 0:
        return point, float("nan"), float("nan")
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    values: list[float] = []
    tries = 0
    while len(values) < n_boot and tries < 20 * n_boot:
        tries += 1
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        y = labels[idx]
        if y.min() == y.max():
            continue
        values.append(float(roc_auc_score(y, scores[idx])))
    if not values:
        raise ValueError("no bootstrap resample held both classes: too few groups")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return point, float(lo), float(hi)


def summarize(
    labels: np.ndarray, scores: np.ndarray, groups: np.ndarray | None, n_boot: int, seed: int = 0
) -> dict[str, float]:
    """AUC with its CI and the Youden statistics: one row of Table 1."""
    value, lo, hi = bootstrap_auc(labels, scores, groups, n_boot, seed)
    row = {
        "auc": value,
        "auc_lo": lo,
        "auc_hi": hi,
        "n_pos": int(np.sum(labels)),
        "n_neg": int(np.sum(1 - np.asarray(labels))),
    }
    row.update(youden_stats(labels, scores).as_dict())
    return row


def knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5, seed: int = 0) -> float:
    """Cross-validated balanced accuracy of a k-nearest-neighbour vote (standardised
    features): how well normal and anomalous samples separate in a feature space."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), KNeighborsClassifier(k))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(model, features, labels, cv=cv, scoring="balanced_accuracy").mean())


def auc_by_stratum(
    labels: np.ndarray, scores: np.ndarray, strata: np.ndarray, edges: tuple[float, ...]
) -> list[dict[str, float]]:
    """AUC of each slice of the positives against *all* negatives.

    A positive falls in slice i when ``edges[i] < strata <= edges[i + 1]`` (for
    instance its fluid area fraction), which shows which anomalies a score misses.
    Slices without positives are left out.
    """
    labels, scores = _check(labels, scores)
    strata = np.asarray(strata, dtype=float).ravel()
    if strata.shape != labels.shape:
        raise ValueError(f"strata {strata.shape} and labels {labels.shape} differ in length")
    neg = scores[labels == 0]
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        pos = scores[(labels == 1) & (strata > lo) & (strata <= hi)]
        if len(pos):
            y = np.r_[np.zeros(len(neg)), np.ones(len(pos))]
            rows.append({"lo": lo, "hi": hi, "n_pos": len(pos), "auc": float(roc_auc_score(y, np.r_[neg, pos]))})
    return rows


def auc_within_bins(
    labels: np.ndarray, scores: np.ndarray, values: np.ndarray, edges: tuple[float, ...]
) -> list[dict[str, float]]:
    """AUC among the samples whose ``values`` fall in each bin, positives against the
    negatives *of the same bin*: a score that only tracks ``values`` (brightness, say)
    is at chance within every bin. A sample falls in bin i when ``edges[i] <= values <
    edges[i + 1]`` (the last bin includes its upper edge); bins missing a class are left out."""
    labels, scores = _check(labels, scores)
    values = np.asarray(values, dtype=float).ravel()
    if values.shape != labels.shape:
        raise ValueError(f"values {values.shape} and labels {labels.shape} differ in length")
    rows = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        inside = (values >= lo) & ((values < hi) | ((i == len(edges) - 2) & (values == hi)))
        y = labels[inside]
        if y.size and 0 < y.sum() < y.size:
            rows.append({"lo": lo, "hi": hi, "n": int(y.size), "n_pos": int(y.sum()),
                         "auc": float(roc_auc_score(y, scores[inside]))})  # fmt: skip
    return rows
