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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import COMPARISONS, validation_row  # noqa: E402

from anogan_core.config import PAPER_REAL_DATA_OPTIONS, make_config  # noqa: E402
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


def evaluate(name: str, options: dict[str, object], data_dir: str | None) -> dict[str, object]:
    t0 = time.perf_counter()
    row = validation_row(make_config("cpu", "oct", data_dir, **{**PAPER_REAL_DATA_OPTIONS, **options}))
    return {"variant": name, **row, "all s": time.perf_counter() - t0}


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
