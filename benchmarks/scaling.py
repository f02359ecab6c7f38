"""Does scale explain the real-OCT failure? The ``cpu`` recipe at other scales, over GAN seeds.

Every point trains the ``cpu`` profile's recipe with one change and scores the *validation*
split of the public data (held-out healthy training patients and 3 of Duke's 10 subjects, as
``real_detection.py`` does: no test label is read), each with ``--seeds`` draws of the GAN
(``gan_seed``: initial weights, shuffling and z; the data split and patches stay the same):

* ``base``: today's settings (the spread between runs);
* ``N=25``, ``N=50``, ``N=100``: that many healthy training scans, with more patches per scan
  so that the number of training patches, and so of updates, stays that of all scans (only the
  variety of normal anatomy changes);
* ``width 8``, ``width 32``: D's first layer (and G's last) with that many channels (16 today);
* ``2x updates``: twice the epochs.

The mapping is the same at every point: the profile's iterative one (Gamma 100 from the best of
64 starts, residual low-passed at sigma 2). The phantom, where AnoGAN is known to work, is a
control for the seed and N series (``synthetic``: fluid vs normal on its test patches, which
choose nothing; the phantom has no validation split).

Each finished point is written at once to ``results/scaling/<dataset>-<point>-seed<k>.json``
(numbers only) and skipped when found, so a stopped run resumes; the GAN and the mapping are
also the pipeline's cached stages. Budget per point on 2 CPU cores: about 10 minutes for
``oct`` at width 16 (6 min of GAN training), 25 at width 32, 15 for ``2x updates``, about 8 for
the phantom.

    python benchmarks/scaling.py [--data-dir DIR] [--points base,N=25] [--seeds 3] [--datasets oct,synthetic]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from common import validation_row  # noqa: E402

from anogan_core import pipeline  # noqa: E402
from anogan_core.baselines import floor_scores  # noqa: E402
from anogan_core.config import Config, make_config  # noqa: E402
from anogan_core.datasets import load_scans  # noqa: E402
from anogan_core.metrics import auc  # noqa: E402
from anogan_core.report import markdown_table  # noqa: E402
from anogan_core.scaling import COLUMNS, POINTS, load_points, summary_rows  # noqa: E402
from anogan_core.storage import save_json  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results" / "scaling"
CONTROL_POINTS = ("base", "N=25", "N=50", "N=100")  # the phantom control's series


def point_config(dataset: str, point: str, gan_seed: int, data_dir: str | None) -> Config:
    """The ``cpu`` profile with the point's change; ``N=`` points keep the training patch count
    of all scans by taking more patches per scan."""
    options = dict(POINTS[point])
    base = make_config("cpu", dataset, data_dir)
    if "n_train_scans" in options:
        n_all = len(load_scans(dataset, base.data_dir, base.seed, 0, 0, base.n_disease_scans)[0])
        if options["n_train_scans"] >= n_all:
            raise SystemExit(f"error: point {point} asks for {options['n_train_scans']} of {n_all} training scans")
        options["train_patches_per_scan"] = round(base.train_patches_per_scan * n_all / options["n_train_scans"])
    return make_config("cpu", dataset, data_dir, gan_seed=gan_seed, **options)


def phantom_row(cfg: Config) -> dict[str, Any]:
    """The control: AUC of A(x) for fluid vs normal on the phantom's test patches, and the seconds."""
    train, test = pipeline.prepare_data(cfg)
    pipeline.trained_gan(cfg)
    result = pipeline.mapped(cfg, "feature", "patch")
    ((idx, labels),) = pipeline.comparisons(test).values()
    index = pipeline.query_index(cfg, "patch", train, test)
    return {
        "training patches": len(train),
        "phantom": auc(labels, result.anomaly[np.searchsorted(index, idx)]),
        "GAN s": pipeline.gan_record(cfg)["train_s"],
        "map s": pipeline.mapping_seconds(cfg, "feature", "patch"),
    }


def run_point(dataset: str, point: str, gan_seed: int, data_dir: str | None) -> dict[str, Any]:
    """The point's numbers, computed once and kept in ``results/scaling``."""
    path = RESULTS / f"{dataset}-{point.replace(' ', '_')}-seed{gan_seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    cfg = point_config(dataset, point, gan_seed, data_dir)
    row = validation_row(cfg) if dataset == "oct" else phantom_row(cfg)
    train, _ = pipeline.prepare_data(cfg)
    row |= {"dataset": dataset, "point": point, "gan_seed": gan_seed, "overrides": cfg.overrides,
            "training scans": len(train.scans), "width": cfg.width,
            "updates": cfg.epochs * (len(train) // cfg.batch_size), "wall s": time.perf_counter() - t0}  # fmt: skip
    save_json(path, row)
    return row


def test_spread(gan_seed: int, data_dir: str | None) -> dict[str, Any]:
    """The recorded headline's spread (the only use of the test split here): the ``cpu`` profile on
    ``oct`` with GAN seed ``gan_seed``, AUC of AnoGAN, GAN_R and the darkness floor on the three
    patch-level comparisons and at B-scan level; kept in ``results/scaling/test-spread-seed<k>.json``."""
    path = RESULTS / f"test-spread-seed{gan_seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    cfg = make_config("cpu", "oct", data_dir, gan_seed=gan_seed)
    _, test = pipeline.prepare_data(cfg)
    scores = {
        "AnoGAN": pipeline.mapped(cfg, "feature", "test").anomaly,
        "GAN_R": pipeline.mapped(cfg, "yeh", "test").anomaly,
    }
    floors = {"darkness (-mean)": floor_scores(test.x)["darkness (-mean)"]}
    aucs = {name: {m: r["auc"] for m, r in {**block["methods"], **block["floors"]}.items()}
            for name, block in pipeline.table1_results(test, scores, {}, floors, 0, cfg.seed).items()}  # fmt: skip
    bscan = pipeline.bscan_level(test, {**scores, **floors}, 0, cfg.seed)
    if bscan:
        aucs["B-scan: Kermany NORMAL vs CNV/DME/DRUSEN"] = {m: r["auc"] for m, r in bscan[0].items()}
    row = {"gan_seed": gan_seed, "overrides": cfg.overrides, "auc": aucs, "wall s": time.perf_counter() - t0}
    save_json(path, row)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="the public OCT folder (default: $ANOGAN_DATA or data/oct)")
    parser.add_argument("--points", default="", help=f"comma-separated points (default: all): {', '.join(POINTS)}")
    parser.add_argument("--seeds", type=int, default=3, help="GAN seeds per point (default 3)")
    parser.add_argument("--datasets", default="oct,synthetic", help="oct, synthetic (the control) or both")
    parser.add_argument(
        "--test-spread", action="store_true", help="only the headline's spread over GAN seeds (test split)"
    )
    args = parser.parse_args()
    if args.test_spread:
        for gan_seed in range(args.seeds):
            row = test_spread(gan_seed, args.data_dir)
            print(
                f"[test split, gan_seed {gan_seed}] "
                + "; ".join(
                    f"{name}: " + ", ".join(f"{m} {a:.3f}" for m, a in block.items())
                    for name, block in row["auc"].items()
                )
            )
        return
    points = [p.strip() for p in args.points.split(",") if p.strip()] or list(POINTS)
    unknown = [p for p in points if p not in POINTS]
    if unknown:
        raise SystemExit(f"error: unknown point(s) {unknown}; allowed: {', '.join(POINTS)}")
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    if not set(datasets) <= {"oct", "synthetic"}:
        raise SystemExit(f"error: --datasets takes oct and/or synthetic; got {args.datasets!r}")
    rows = []
    for point in points:
        for dataset in datasets:
            if dataset == "synthetic" and point not in CONTROL_POINTS:
                continue
            for gan_seed in range(args.seeds):
                row = run_point(dataset, point, gan_seed, args.data_dir)
                rows.append(row)
                cells = ", ".join(f"{k} {row[k]:.3f}" for k in COLUMNS if isinstance(row.get(k), float))
                print(f"[{dataset} {point} seed {gan_seed}] {cells}", flush=True)
    all_rows = load_points(RESULTS)
    print("\nAUC of A(x), validation split, mean ± sd [min, max] over GAN seeds (phantom: its test patches):\n")
    print(markdown_table(summary_rows([r for r in all_rows if r["point"] in points]), ["point", "seeds", *COLUMNS]))
    compute = sum(max(r["wall s"], r["GAN s"] + r["map s"]) for r in all_rows)  # a reused stage kept its time
    print(f"\ncompute of the {len(all_rows)} recorded points: {compute / 3600:.1f} h")


if __name__ == "__main__":
    main()
