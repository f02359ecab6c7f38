import matplotlib.pyplot as plt
import numpy as np

from anogan_core import figures


def test_every_figure_runs_on_tiny_inputs():
    rng = np.random.default_rng(0)
    p = rng.uniform(-1, 1, (4, 64, 64))
    labels = np.array([0, 1, 0, 1])
    scan = rng.uniform(-1, 1, (100, 120))
    line = np.full(120, 30.0)
    made = [
        figures.preprocessing_overview(scan, line, line + 40, scan, line, np.array([[10, 10]]), p[:2], p[2:]),
        figures.boundary_gallery([scan], [line], [line + 40], ["one"]),
        figures.side_by_side([scan, scan], ["a", "b"]),
        figures.histograms({"a": rng.normal(size=50)}, "x", "t"),
        figures.patch_grid(p, "grid", cols=2),
        figures.loss_curves(
            [{"epoch": e, "loss_d": 1.0, "loss_g": 2.0, "d_real": 0.7, "d_fake": 0.3} for e in (0.5, 1)]
        ),
        figures.samples_over_epochs(rng.integers(0, 255, (2, 16, 64, 64), dtype=np.uint8)),
        figures.roc_figure({"m": (labels, np.array([0.1, 0.9, 0.2, 0.8]))}, "roc", {"m": "AUC 1.00"}),
        figures.trajectories(rng.uniform(size=(5, 4, 3)), labels, 0.1, "traj"),
        figures.query_pairs(p, p, "pairs"),
        figures.tsne_scatter(rng.normal(size=(4, 2)), labels, p, "tsne", n_examples=2),
        figures.anomaly_rows(p, p, np.abs(p), labels.astype(bool), labels.astype(bool), p > 0, ["a", "b"], [2, 2]),
        figures.heatmap_overlay(scan, np.abs(scan), scan > 0.5, "heat"),
        figures.auc_by_bins({"share": ("fluid share", {"A": [{"lo": 0, "hi": 0.5, "n_pos": 2, "auc": 0.7}]})}),
        figures.score_against_brightness(p.mean((1, 2)), {"R(x)": p.std((1, 2))}, labels, "test"),
        figures.forest_plot(
            [
                {"run": "r", "comparison": c, "auc": 0.7, "auc_lo": 0.6, "auc_hi": 0.8, "floor": floor, "paper": paper}
                for c, floor, paper in (("fluid vs normal", 0.65, 0.89), ("B-scan", None, None))
            ]  # fmt: skip
        ),
        figures.scaling_curves(
            {"real OCT": {"A(x)": (np.array([25, 25, 50, 50.0]), np.array([0.5, 0.6, 0.6, 0.7]), None)}},
            "healthy training scans",
            {"darkness floor": 0.7},
        ),  # fmt: skip
    ]
    for fig in made:
        assert fig.axes, "a figure without axes"
        plt.close(fig)
