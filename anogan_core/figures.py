"""Figures of the paper (1, 2b, 3, 4) and of the chapters, as functions of arrays.

Every function returns a matplotlib Figure and labels its axes, legends and
colour bars; the notebooks only call them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox, OffsetImage

from .metrics import roc

PATCH_CMAP = "gray"


def _gray(ax: plt.Axes, img: np.ndarray, title: str | None = None) -> None:
    ax.imshow(img, cmap=PATCH_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def preprocessing_overview(
    resampled: np.ndarray,
    top: np.ndarray,
    bottom: np.ndarray,
    flat: np.ndarray,
    flat_top: np.ndarray,
    positions: np.ndarray,
    normal: np.ndarray,
    fluid: np.ndarray,
    size: int = 64,
) -> Figure:
    """Figure 1: raw scan with boundaries, flattened retina with patch positions, example patches."""
    fig = plt.figure(figsize=(12, 6.5))
    grid = fig.add_gridspec(3, 8)
    ax = fig.add_subplot(grid[0:2, 0:4])
    ax.imshow(resampled, cmap=PATCH_CMAP, vmin=-1, vmax=1, aspect="auto")
    ax.plot(top, color="gold", lw=1, label="top (ILM)")
    ax.plot(bottom, color="red", lw=1, label="bottom (RPE)")
    ax.set(title="resampled B-scan with detected boundaries", xlabel="column (~22 um)", ylabel="row (~3.9 um)")
    ax.legend(loc="lower left", fontsize=7)
    ax = fig.add_subplot(grid[0:2, 4:8])
    ax.imshow(flat, cmap=PATCH_CMAP, vmin=-1, vmax=1, aspect="auto")
    ax.plot(flat_top, color="gold", lw=1)
    for r, c in positions:
        ax.add_patch(plt.Rectangle((c, r), size, size, fill=False, color="cyan", lw=0.6))
    ax.set(title="flattened retina and sampled 64x64 patch positions", xlabel="column", ylabel="row")
    for i in range(4):
        if i < len(normal):
            _gray(fig.add_subplot(grid[2, i]), normal[i], "normal patch")
        if i < len(fluid):
            _gray(fig.add_subplot(grid[2, 4 + i]), fluid[i], "fluid patch")
    fig.tight_layout()
    return fig


def boundary_gallery(
    images: Sequence[np.ndarray], tops: Sequence[np.ndarray], bottoms: Sequence[np.ndarray], titles: Sequence[str]
) -> Figure:
    """Scans with their detected boundaries, for a reader to judge the segmentation."""
    n = len(images)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    for ax, img, t, b, title in zip(axes.flat, images, tops, bottoms, titles):
        ax.imshow(img, cmap=PATCH_CMAP, vmin=-1, vmax=1, aspect="auto")
        ax.plot(t, color="gold", lw=0.8)
        ax.plot(b, color="red", lw=0.8)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str]) -> Figure:
    fig, axes = plt.subplots(1, len(images), figsize=(5 * len(images), 3.6), squeeze=False)
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img, cmap=PATCH_CMAP, aspect="auto")
        ax.set(title=title, xlabel="column", ylabel="row")
    fig.tight_layout()
    return fig


def histograms(values: Mapping[str, np.ndarray], xlabel: str, title: str, bins: int = 60, log: bool = False) -> Figure:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, v in values.items():
        ax.hist(np.asarray(v).ravel(), bins=bins, histtype="step", density=True, label=name, lw=1.4)
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    if log:
        ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    return fig


def patch_grid(patches: np.ndarray, title: str, cols: int = 8) -> Figure:
    """A grid of patches in [-1, 1]."""
    n = len(patches)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, p in zip(axes.flat, patches):
        ax.imshow(p, cmap=PATCH_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def loss_curves(history: Sequence[Mapping[str, float]]) -> Figure:
    """Adversarial losses and mean D outputs over training."""
    ep = np.array([h["epoch"] for h in history])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.6))
    a.plot(ep, [h["loss_d"] for h in history], label="D loss (Eq. 1)")
    a.plot(ep, [h["loss_g"] for h in history], label="G loss (Eq. 2, non-saturating)")
    a.set(xlabel="epoch", ylabel="binary cross-entropy", title="losses")
    a.legend()
    b.plot(ep, [h["d_real"] for h in history], label="mean D(x), real")
    b.plot(ep, [h["d_fake"] for h in history], label="mean D(G(z)), generated")
    b.set(xlabel="epoch", ylabel="sigmoid output", title="discriminator outputs", ylim=(0, 1))
    b.legend()
    fig.tight_layout()
    return fig


def samples_over_epochs(samples: np.ndarray, n: int = 8) -> Figure:
    """G(z) for fixed z (columns) after each epoch (rows); uint8 input."""
    epochs = len(samples)
    fig, axes = plt.subplots(epochs, n, figsize=(n * 1.0, epochs * 1.0 + 0.4), squeeze=False)
    for e in range(epochs):
        for j in range(n):
            ax = axes[e, j]
            ax.imshow(samples[e, j], cmap=PATCH_CMAP, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(f"ep {e + 1}", fontsize=8)
    fig.suptitle("G(z) for 8 fixed z, after each epoch")
    fig.tight_layout()
    return fig


def roc_figure(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str, aucs: Mapping[str, str] | None = None
) -> Figure:
    """ROC curves; ``curves`` maps a name to (labels, scores)."""
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc(labels, scores)
        label = f"{name} ({aucs[name]})" if aucs else name
        ax.plot(fpr, tpr, label=label, lw=1.5)
    ax.plot([0, 1], [0, 1], color="gray", ls=":", lw=1)
    ax.set(xlabel="false-positive rate (1 - specificity)", ylabel="true-positive rate (sensitivity)", title=title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def trajectories(traj: np.ndarray, labels: np.ndarray, lam: float, title: str) -> Figure:
    """Mapping loss L(z_gamma) (Eq. 5) over the steps, median and quartiles per class."""
    loss = (1 - lam) * traj[..., 0] + lam * traj[..., 1]
    steps = np.arange(len(loss))
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for lab, name, color in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        sel = loss[:, labels == lab]
        if sel.shape[1] == 0:
            continue
        q1, med, q3 = np.quantile(sel, [0.25, 0.5, 0.75], axis=1)
        ax.plot(steps, med, color=color, label=f"{name} (median)")
        ax.fill_between(steps, q1, q3, color=color, alpha=0.2)
    ax.set(xlabel="backpropagation step gamma", ylabel="mapping loss L(z) (Eq. 5)", title=title)
    ax.legend()
    fig.tight_layout()
    return fig


def query_pairs(x: np.ndarray, gz: np.ndarray, title: str) -> Figure:
    """Queries (top row) above G(z_Gamma) (bottom row)."""
    n = len(x)
    fig, axes = plt.subplots(2, n, figsize=(n * 1.1, 2.6), squeeze=False)
    for j in range(n):
        _gray(axes[0, j], x[j])
        _gray(axes[1, j], gz[j])
    axes[0, 0].set_ylabel("query x", fontsize=8)
    axes[1, 0].set_ylabel("G(z)", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def tsne_scatter(emb: np.ndarray, labels: np.ndarray, patches: np.ndarray, title: str, n_examples: int = 6) -> Figure:
    """Figure 2b: embedding of normal (blue) and anomalous (red) patches, with examples."""
    fig, ax = plt.subplots(figsize=(7, 6))
    for lab, name, color in ((0, "normal", "tab:blue"), (1, "anomalous (fluid)", "tab:red")):
        sel = labels == lab
        ax.scatter(emb[sel, 0], emb[sel, 1], s=5, alpha=0.6, color=color, label=name)
    rng = np.random.default_rng(0)
    for lab in (0, 1):
        idx = np.flatnonzero(labels == lab)
        for i in rng.choice(idx, min(n_examples // 2, len(idx)), replace=False):
            box = OffsetImage(patches[i], cmap=PATCH_CMAP, zoom=0.45, norm=plt.Normalize(-1, 1))
            color = "tab:red" if lab else "tab:blue"
            ax.add_artist(AnnotationBbox(box, emb[i], frameon=True, bboxprops={"edgecolor": color}))
    ax.set(title=title, xlabel="t-SNE 1", ylabel="t-SNE 2")
    ax.legend(markerscale=3)
    fig.tight_layout()
    return fig


def anomaly_rows(
    x: np.ndarray,
    gz: np.ndarray,
    residual: np.ndarray,
    by_r: np.ndarray,
    by_d: np.ndarray,
    masks: np.ndarray,
    block_titles: Sequence[str],
    block_sizes: Sequence[int],
    caption: str = "red bar: anomalous by R(x); yellow bar: anomalous by D(x) (Youden cut-offs)",
) -> Figure:
    """Figure 3: inputs; G(z); residual overlay; red bar = R calls anomalous,
    yellow bar = D calls anomalous; fluid annotation. Columns grouped in blocks."""
    n = len(x)
    fig, axes = plt.subplots(4, n, figsize=(n * 1.15, 5.4), squeeze=False)
    vmax = float(np.quantile(residual, 0.99)) or 1.0
    for j in range(n):
        _gray(axes[0, j], x[j])
        _gray(axes[1, j], gz[j])
        _gray(axes[2, j], x[j])
        overlay = np.zeros((*residual[j].shape, 4))
        overlay[..., 0] = 1.0
        overlay[..., 3] = np.clip(residual[j] / vmax, 0, 1) * 0.85
        axes[2, j].imshow(overlay, interpolation="nearest")
        for k, (flag, color) in enumerate(((by_r[j], "red"), (by_d[j], "gold"))):
            if flag:
                axes[2, j].add_patch(plt.Rectangle((2 + 8 * k, 56), 7, 6, color=color))
        axes[3, j].imshow(masks[j], cmap="Greens", vmin=0, vmax=1, interpolation="nearest")
        axes[3, j].set_xticks([])
        axes[3, j].set_yticks([])
    for row, name in enumerate(("input x", "G(z_Gamma)", "residual overlay", "fluid mask")):
        axes[row, 0].set_ylabel(name, fontsize=8)
    start = 0
    for title, size in zip(block_titles, block_sizes):
        if size:
            axes[0, start].set_title(title, fontsize=8, loc="left")
        start += size
    fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    return fig


def heatmap_overlay(
    image: np.ndarray,
    heat: np.ndarray,
    mask: np.ndarray | None,
    title: str,
    vmax: float | None = None,
    scale_note: str = "",
) -> Figure:
    """A stitched anomaly map over a flattened B-scan, with the fluid outline. ``vmax`` fixes the top
    of the colour scale (so that maps of one model compare; ``scale_note`` says where it comes from);
    without it the scale is this map's own."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.imshow(image, cmap=PATCH_CMAP, vmin=-1, vmax=1, aspect="auto")
    shown = np.ma.masked_invalid(np.where(heat > 0, heat, np.nan))
    im = ax.imshow(shown, cmap="inferno", alpha=0.55, aspect="auto", vmin=0 if vmax else None, vmax=vmax)
    if mask is not None and mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
        title += " (cyan: expert fluid outline)"
    label = "mean residual |x - G(z)|" + (f"\n{scale_note}" if scale_note else "")
    fig.colorbar(im, ax=ax, label=label, extend="max" if vmax else "neither")
    ax.set(title=title, xlabel="column", ylabel="row")
    fig.tight_layout()
    return fig


def auc_by_bins(panels: Mapping[str, tuple[str, Mapping[str, Sequence[Mapping[str, float]]]]]) -> Figure:
    """One panel per factor: ``title -> (x label, score -> rows)`` with rows of
    :func:`metrics.auc_within_bins` or :func:`metrics.auc_by_stratum` (lo, hi, n_pos, auc);
    each score's AUC is drawn at its bins' centres, chance marked."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.6), squeeze=False)
    for ax, (title, (xlabel, scores)) in zip(axes[0], panels.items()):
        for name, rows in scores.items():
            centres = [(r["lo"] + r["hi"]) / 2 for r in rows]
            ax.plot(centres, [r["auc"] for r in rows], marker="o", lw=1.4, label=name)
        ax.axhline(0.5, color="gray", ls=":", lw=1)
        ax.set(title=title, xlabel=xlabel, ylabel="AUC", ylim=(0.2, 1.0))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def score_against_brightness(
    brightness: np.ndarray, scores: Mapping[str, np.ndarray], labels: np.ndarray, title: str
) -> Figure:
    """Each score against the patch mean grey value, normal and anomalous patches apart."""
    fig, axes = plt.subplots(1, len(scores), figsize=(4.3 * len(scores), 3.7), squeeze=False)
    for ax, (name, score) in zip(axes[0], scores.items()):
        for lab, label, color in ((0, "normal", "tab:blue"), (1, "fluid", "tab:red")):
            sel = labels == lab
            ax.scatter(brightness[sel], score[sel], s=3, alpha=0.35, color=color, label=label)
        ax.set(xlabel="patch mean grey value (Section 3 units, [-1, 1])", ylabel=name, title=f"{name}: {title}")
        ax.legend(markerscale=4, fontsize=7)
    fig.tight_layout()
    return fig


def forest_plot(rows: Sequence[Mapping[str, Any]], method: str = "AnoGAN") -> Figure:
    """``method``'s AUC with its 95% CI per recorded run and comparison (rows of
    :func:`report.recorded_headline`), each against the darkness floor of the same data (orange bar)
    and the paper's AUC (red diamond); labels at the size of body text."""
    fig, ax = plt.subplots(figsize=(7.7, 0.3 * len(rows) + 1.2))  # the page column: text-sized labels
    for y, r in enumerate(rows):
        ax.errorbar(r["auc"], y, xerr=[[r["auc"] - r["auc_lo"]], [r["auc_hi"] - r["auc"]]], fmt="o", color="k",
                    ms=5, lw=1.5, capsize=3)  # fmt: skip
        if r.get("floor") is not None:
            ax.plot(r["floor"], y, marker="|", color="tab:orange", ms=16, mew=3, ls="none")
        if r.get("paper") is not None:
            ax.plot(r["paper"], y, marker="D", color="tab:red", ms=6, ls="none")
    names = [f"{r['run']}: {r['comparison']}".replace("NORMAL vs CNV/DME/DRUSEN", "normal vs diseased") for r in rows]
    ax.set_yticks(range(len(rows)), names, fontsize=11)
    ax.axvline(0.5, color="gray", ls=":", lw=1)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(min(0.3, *(r["auc_lo"] - 0.05 for r in rows)) if rows else 0.3, 1.0)
    ax.plot([], [], marker="o", color="k", ls="none", label=f"{method}, ours, 95% CI (patient bootstrap)")
    ax.plot([], [], marker="|", color="tab:orange", ms=12, mew=3, ls="none", label="darkness floor (same data)")
    ax.plot([], [], marker="D", color="tab:red", ls="none", label="the paper (Table 1)")
    ax.set_xlabel("AUC", fontsize=11)
    ax.tick_params(axis="x", labelsize=11)
    fig.legend(fontsize=10, loc="upper center", ncol=3, frameon=False, handletextpad=0.2, columnspacing=1.0)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig


def query_seconds(seconds: Mapping[str, float], title: str) -> Figure:
    """Seconds per 1,000 queries of each scoring method, on a log axis, with the value printed."""
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(seconds) + 1.2))
    names, values = list(seconds), list(seconds.values())
    ax.barh(names, values, color="tab:blue")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.3g} s", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set(xlabel="seconds per 1,000 queries (log scale)", title=title)
    ax.set_xlim(min(values) / 2, max(values) * 8)
    fig.tight_layout()
    return fig


def scaling_curves(
    panels: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray, Any]]],
    xlabel: str,
    floors: Mapping[str, Mapping[str, float]],
) -> Figure:
    """One panel per title: for each series name, every seed's AUC (dots), the mean per scale (line
    with ± 1 sd bars) and the fitted trend (dashed; a :class:`scaling.Trend`, or None), on a log2
    scale axis ticked at the measured scales; ``floors[title]`` draws a horizontal reference line
    per name in that panel (the darkness floor)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items()):
        for k, (name, (x, y, trend)) in enumerate(series.items()):
            colour = f"C{k}"
            ax.scatter(x, y, s=12, alpha=0.5, color=colour)
            scales = np.unique(x)
            means = [y[x == s].mean() for s in scales]
            sds = [y[x == s].std(ddof=1) if (x == s).sum() > 1 else 0.0 for s in scales]
            ax.errorbar(scales, means, yerr=sds, color=colour, marker="o", capsize=3, label=name)
            if trend is not None:
                grid = np.geomspace(scales.min(), scales.max(), 50)
                ax.plot(grid, trend.predict(grid), "--", color=colour, lw=1)
        for name, level in floors.get(title, {}).items():
            ax.axhline(level, color="0.4", ls=":", lw=1.2, label=name)
        measured = np.unique(np.concatenate([x for x, _, _ in series.values()]))
        if len(measured) > 1:
            ax.set_xscale("log", base=2)
        ax.set_xticks(measured, [f"{v:g}" for v in measured])
        ax.minorticks_off()
        ax.axhline(0.5, color="0.8", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("AUC")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
