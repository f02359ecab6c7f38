"""Real OCT: the remedies for AnoGAN's failure, side by side on the validation split.

Each variant is the ``cpu`` profile on the public data (``oct``) with the options beyond
the paper set as named below; all share seeds, data protocol and everything else. A
variant trains its own GAN where its data differ (cached in ``runs/cache`` like the
book's stages, so the book reuses them), maps the *validation* patches (held-out
healthy training patients and 3 of Duke's 10 subjects: ``datasets.oct_scans``) and
scores them. No test patient's label is read: the ``cpu`` profile takes the variant
that wins here, and the book reports the test numbers.

Printed per variant: AUC of A(x) (Eq. 6) on the three patch comparisons, the darkness
floor (-mean grey value) within Duke, the pixel AUROC of the residual map over the Duke
validation patches, and the seconds of GAN training and of mapping.

    python benchmarks/real_detection.py [--data-dir DIR] [--variants NAME,NAME] [--list]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anogan_core import pipeline  # noqa: E402
from anogan_core.anomaly_maps import pixel_metrics  # noqa: E402
from anogan_core.baselines import floor_scores  # noqa: E402
from anogan_core.config import PAPER_REAL_DATA_OPTIONS, make_config  # noqa: E402
from anogan_core.metrics import auc  # noqa: E402
from anogan_core.report import markdown_table  # noqa: E402

VARIANTS: dict[str, dict[str, object]] = {
    "paper's residual and window": {},
    "low-pass residual (sigma 2)": {"residual_sigma": 2.0},
    "retina-only patches": {"patch_region": "retina"},
    "retina-only + low-pass": {"patch_region": "retina", "residual_sigma": 2.0},
    "despeckled (median 5)": {"despeckle": 5},
    "despeckled + retina-only": {"despeckle": 5, "patch_region": "retina"},
    "despeckled + retina-only + low-pass": {"despeckle": 5, "patch_region": "retina", "residual_sigma": 2.0},
    "width 32 + retina-only + low-pass": {"width": 32, "patch_region": "retina", "residual_sigma": 2.0},
}
COMPARISONS = {
    "Duke fluid vs Duke non-fluid": "fluid/non-fluid",
    "Duke fluid vs Kermany normal": "fluid/normal",
    "Duke non-fluid vs Kermany normal": "domain",
}


def evaluate(name: str, options: dict[str, object], data_dir: str | None) -> dict[str, object]:
    cfg = make_config("cpu", "oct", data_dir, **{**PAPER_REAL_DATA_OPTIONS, **options})
    t0 = time.perf_counter()
    train, test = pipeline.prepare_data(cfg)
    pipeline.trained_gan(cfg)
    gan_s = pipeline.gan_record(cfg)["train_s"]
    t1 = time.perf_counter()
    result = pipeline.mapped(cfg, "feature", "validation")
    map_s = time.perf_counter() - t1
    index = pipeline.query_index(cfg, "validation", train, test)
    anomaly, darkness = {}, floor_scores(test.x)["darkness (-mean)"]
    row: dict[str, object] = {"variant": name, "training patches": len(train), "validation patches": len(index)}
    for comparison, (idx, labels) in pipeline.comparisons(test, "validation").items():
        anomaly[comparison] = auc(labels, result.anomaly[np.searchsorted(index, idx)])
        row[COMPARISONS[comparison]] = anomaly[comparison]
    idx, labels = pipeline.comparisons(test, "validation")["Duke fluid vs Duke non-fluid"]
    row["darkness floor"] = auc(labels, darkness[idx])
    duke = np.searchsorted(index, idx)
    row["pixel AUROC"] = pixel_metrics(result.residual_image[duke], test.mask[idx])["pixel_auroc"]
    row["GAN s"], row["map s"], row["all s"] = gan_s, map_s, time.perf_counter() - t0
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="the public OCT folder (default: $ANOGAN_DATA or data/oct)")
    parser.add_argument("--variants", default="", help="comma-separated variant names (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="print the variants and their options, then stop")
    args = parser.parse_args()
    if args.list:
        for name, options in VARIANTS.items():
            print(f"{name}: {options or 'the cpu profile with the paper residual and patch window'}")
        return
    names = [n.strip() for n in args.variants.split(",") if n.strip()] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: unknown variant(s) {unknown}; allowed: {', '.join(VARIANTS)}")
    rows = []
    for name in names:
        rows.append(evaluate(name, VARIANTS[name], args.data_dir))
        cells = (f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items())
        print(f"[{name}] " + ", ".join(cells), flush=True)
    columns = ["variant", *COMPARISONS.values(), "darkness floor", "pixel AUROC", "GAN s", "map s"]
    print("\nAUC of A(x) on the validation split (held-out healthy training patients, 3 Duke subjects):\n")
    print(markdown_table(rows, columns))


if __name__ == "__main__":
    main()
