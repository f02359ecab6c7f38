"""Why a score fails or works on real OCT: where in the data its AUC comes from.

A patch-level AUC near chance can hide a score that works within every kind of patch
but is swamped by a confounder. Three factors are measured here for a score and a
comparison (positives = patches holding fluid):

* the fluid's share of the patch (:func:`metrics.auc_by_stratum`: each share against
  all negatives): does the score miss small spots only, or large fluid too?
* the patch's mean grey value (:func:`metrics.auc_within_bins`, quartiles): fluid is
  dark, so a score that grows with brightness (a residual of speckle, which is
  stronger in bright tissue) is pulled below chance overall, and a darkness floor
  looks good overall, while within a brightness quartile both show what they know;
* the patch's depth, the rows between its top and the RPE (quartiles): fluid-thickened
  retinas put patches where healthy ones have none.

The trivial darkness floor (-mean grey value) is measured alongside, and the speckle
of each source (:func:`appearance_by_group`): a scanner whose speckle differs is told
apart from the training scanner by any score that sees speckle, fluid or not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from . import pipeline
from .baselines import floor_scores
from .config import Config
from .mapping import MappingResult
from .metrics import auc_by_stratum, auc_within_bins, summarize
from .patches import PatchSet, decode
from .preprocess import FLAT_RPE_ROW
from .sample_quality import speckle_statistics

FLUID_SHARE_EDGES = (0.0, 0.02, 0.05, 0.2, 1.0)  # fraction of a patch's pixels that are fluid
QUARTILES = (0.0, 0.25, 0.5, 0.75, 1.0)
WITHIN_SCANNER = "Duke fluid vs Duke non-fluid"  # the real-data comparison without a scanner shift


def patch_brightness(patches: PatchSet) -> np.ndarray:
    """(N,) mean grey value of each patch in [-1, 1] (Section 3 units)."""
    return np.asarray(patches.x, dtype=np.float32).reshape(len(patches), -1).mean(1) / 127.5 - 1.0


def patch_depth(patches: PatchSet) -> np.ndarray:
    """(N,) rows from each patch's top edge down to the RPE row of the flattened scan."""
    return (FLAT_RPE_ROW - patches.pos[:, 0]).astype(float)


def fluid_share(patches: PatchSet) -> np.ndarray:
    """(N,) fraction of each patch's pixels annotated as fluid (0 without masks)."""
    if patches.mask is None:
        return np.zeros(len(patches))
    return patches.mask.reshape(len(patches), -1).mean(1)


def _quartile_edges(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.unique(np.quantile(values, QUARTILES)))


def auc_by_factor(
    patches: PatchSet, index: np.ndarray, labels: np.ndarray, scores: dict[str, np.ndarray]
) -> dict[str, tuple[str, dict[str, list[dict[str, float]]]]]:
    """Panels for :func:`figures.auc_by_bins`: the AUC of each score (arrays over all of
    ``patches``; the darkness floor is added) by fluid share, by brightness quartile and
    by depth quartile, on the comparison ``index`` with its ``labels``."""
    brightness, depth = patch_brightness(patches)[index], patch_depth(patches)[index]
    scores = {**{k: np.asarray(v)[index] for k, v in scores.items()}, "darkness floor": -brightness}
    share = fluid_share(patches)[index]
    return {
        "by fluid share (each share vs all negatives)": (
            "fluid share of the patch",
            {k: auc_by_stratum(labels, v, share, FLUID_SHARE_EDGES) for k, v in scores.items()},
        ),
        "within brightness quartiles": (
            "patch mean grey value",
            {k: auc_within_bins(labels, v, brightness, _quartile_edges(brightness)) for k, v in scores.items()},
        ),
        "within depth quartiles": (
            "rows from the patch top to the RPE",
            {k: auc_within_bins(labels, v, depth, _quartile_edges(depth)) for k, v in scores.items()},
        ),
    }


def brightness_correlation(patches: PatchSet, index: np.ndarray, score: np.ndarray) -> float:
    """Spearman correlation between a score and the patch mean grey value over ``index``
    (take normal patches: there it can only measure the score's bias)."""
    return float(spearmanr(np.asarray(score)[index], patch_brightness(patches)[index])[0])


def worst_misses(labels: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions (into ``labels``) of the ``k`` positives that ``scores`` ranks as most normal."""
    positives = np.flatnonzero(labels == 1)
    return positives[np.argsort(np.asarray(scores)[positives], kind="stable")[:k]]


@dataclass
class VariantScores:
    """A model's AnoGAN scores on its own patch-level test patches (one entry per variant
    of the side-by-side: the test patches differ when the patch region does)."""

    test: PatchSet
    index: np.ndarray  # the patch-level test patches, rows of ``result``
    result: MappingResult

    def scores(self) -> dict[str, np.ndarray]:
        """A(x) and R(x) over all of ``test`` (zero outside ``index``)."""
        out = {"A(x)": np.zeros(len(self.test)), "R(x)": np.zeros(len(self.test))}
        out["A(x)"][self.index], out["R(x)"][self.index] = self.result.anomaly, self.result.residual
        return out

    def within_scanner(self) -> tuple[str, np.ndarray, np.ndarray]:
        """(name, indices, labels) of the comparison without a scanner shift: Duke fluid vs Duke
        non-fluid on the real data, else the dataset's first comparison."""
        comparisons = pipeline.comparisons(self.test)
        name = WITHIN_SCANNER if WITHIN_SCANNER in comparisons else next(iter(comparisons))
        return name, *comparisons[name]


def variant_scores(cfg: Config) -> VariantScores:
    """Data, GAN and the AnoGAN mapping (Eq. 5-6) of the patch-level test set for ``cfg`` (cached stages)."""
    train, test = pipeline.prepare_data(cfg)
    index = pipeline.query_index(cfg, "patch", train, test)
    return VariantScores(test, index, pipeline.mapped(cfg, "feature", "patch"))


def side_by_side(variants: Mapping[str, VariantScores], n_boot: int, seed: int) -> dict[str, dict[str, dict]]:
    """comparison -> column -> Table 1 row (AUC with its patient-clustered CI): AnoGAN's A(x)
    and the darkness and flatness floors of each variant, on its own test patches."""
    table: dict[str, dict[str, dict]] = {}
    for label, v in variants.items():
        patients, scores = v.test.column("patient"), {"AnoGAN": v.scores()["A(x)"], **floor_scores(v.test.x)}
        for name, (idx, labels) in pipeline.comparisons(v.test).items():
            for method, values in scores.items():
                row = summarize(labels, values[idx], patients[idx], n_boot, seed)
                table.setdefault(name, {})[f"{method}, {label}"] = row
    return table


def appearance_by_group(patches: PatchSet, index: np.ndarray) -> list[dict[str, object]]:
    """Per (source, scan label, patch label) group of ``index``: patch count, mean grey value and
    the speckle statistics (:func:`sample_quality.speckle_statistics`). A scanner shift shows as
    speckle of another contrast or grain between sources whose patches are all normal."""
    source, scan_label = patches.column("source")[index], patches.column("label")[index]
    patch_label = patches.label[index]
    rows = []
    for key in sorted(set(zip(source, scan_label, patch_label))):
        members = index[(source == key[0]) & (scan_label == key[1]) & (patch_label == key[2])]
        x = decode(np.asarray(patches.x)[members]).squeeze(1).numpy()
        stats = speckle_statistics(x)
        rows.append({"group": f"{key[0]} {key[1]}, {'fluid' if key[2] else 'no fluid'} patches",
                     "patches": len(members), "mean grey value": float(x.mean()), "speckle contrast": stats.contrast,
                     "grain across columns": stats.correlation_across_columns,
                     "grain down rows": stats.correlation_down_rows})  # fmt: skip
    return rows
