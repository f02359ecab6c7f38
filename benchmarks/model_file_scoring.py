"""A carried model file on held-out test B-scans: is its threshold's false-positive rate the one it states?

The profile's DCGAN and izi_f encoder are trained on the public OCT data (or found in the stage
cache), exported with ``anogan export`` (calibrated at ``--fpr`` on the validation split's healthy
scans, no test label read), and a seeded sample of the Kermany *test* split's B-scans, healthy
(NORMAL) and diseased (CNV, DME, DRUSEN), is scored from its image files by
``anogan score --model`` once per mapping. Per mapping it prints the false-positive rate at the
threshold on the healthy test scans and the sensitivity on the diseased ones (each with its
Clopper-Pearson 95% interval), the B-scan AUC, and scans per minute of the whole command (start-up
and model loading included). The numbers go to ``results/<dataset>-<profile>/model_file.json``.

    python benchmarks/model_file_scoring.py --data-dir ../shared/data/oct [--profile cpu] [--scans 40] [--fpr 0.05]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import binomtest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core import pipeline  # noqa: E402
from anogan_core.config import make_config  # noqa: E402
from anogan_core.datasets import KERMANY, load_scans  # noqa: E402
from anogan_core.metrics import summarize  # noqa: E402
from anogan_core.report import fmt_ci, markdown_table  # noqa: E402
from anogan_core.storage import save_json  # noqa: E402


def rate(hits: int, n: int) -> dict[str, float]:
    """hits / n with its exact (Clopper-Pearson) 95% interval."""
    ci = binomtest(hits, n).proportion_ci(0.95) if n else None
    return {"rate": hits / n if n else float("nan"), "lo": ci.low if ci else float("nan"),
            "hi": ci.high if ci else float("nan"), "hits": hits, "n": n}  # fmt: skip


def fmt_rate(r: dict[str, float]) -> str:
    return f"{r['rate']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}] ({r['hits']}/{r['n']})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="the public OCT folder")
    ap.add_argument("--profile", default="cpu", help="the profile whose model is exported (default cpu)")
    ap.add_argument(
        "--scans", type=int, default=40, help="test B-scans of each kind, healthy and diseased (default 40)"
    )
    ap.add_argument("--fpr", type=float, default=0.05, help="the false-positive rate the threshold is set at")
    args = ap.parse_args()
    cfg = make_config(args.profile, "oct", args.data_dir)
    t0 = time.perf_counter()
    pipeline.trained_gan(cfg)
    pipeline.trained_encoder(cfg)
    pipeline.record(cfg, "02_dcgan", {}, t0, command="python benchmarks/model_file_scoring.py")
    model = cfg.run_dir / f"model-fpr{args.fpr:g}.pt"
    if not model.is_file():
        export = ["export", "--run", str(cfg.run_dir), "--out", str(model), "--fpr", str(args.fpr)]
        subprocess.run([sys.executable, "-m", "anogan_core", *export, "--data-dir", args.data_dir], check=True)

    _, test = load_scans("oct", args.data_dir, cfg.seed, cfg.n_train_scans, cfg.n_test_scans, cfg.n_disease_scans)
    kermany = [s for s in test if s.source == "kermany" and s.split == "test"]
    rng = np.random.default_rng(cfg.seed)
    chosen = []
    for healthy in (True, False):
        kind = [s for s in kermany if s.healthy == healthy]
        chosen += [kind[i] for i in sorted(rng.choice(len(kind), min(args.scans, len(kind)), replace=False))]
    files = [Path(args.data_dir) / KERMANY / s.label / f"{s.name}.jpeg" for s in chosen]
    diseased = np.array([not s.healthy for s in chosen])
    patient = np.array([s.patient for s in chosen])

    rows, record = [], {"model": model.name, "fpr": args.fpr, "test scans": len(files), "mappings": {}}
    for mapping in ("iterative", "encoder"):
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "anogan_core", "score", "--model", str(model), "--mapping", mapping]
            t = time.perf_counter()
            subprocess.run([*cmd, *map(str, files), "--out", out, "--quiet"], check=True)
            seconds = time.perf_counter() - t
            with open(Path(out) / "scans.csv") as fh:
                by_file = {r["file"]: r for r in csv.DictReader(fh)}
        scored = np.array([by_file[str(f)]["status"] == "scored" for f in files])
        anomalous = np.array([by_file[str(f)]["label"] == "anomalous" for f in files])
        score = np.array([float(by_file[str(f)]["score"] or "nan") for f in files])
        healthy_ok, sick_ok = scored & ~diseased, scored & diseased
        result = {
            "false-positive rate": rate(int((anomalous & healthy_ok).sum()), int(healthy_ok.sum())),
            "sensitivity": rate(int((anomalous & sick_ok).sum()), int(sick_ok.sum())),
            "auc": summarize(diseased[scored].astype(int), score[scored], patient[scored], cfg.n_bootstrap, cfg.seed),
            "refused": int((~scored).sum()),
            "seconds": round(seconds, 1),
            "scans per minute": round(60 * len(files) / seconds, 1),
        }
        record["mappings"][mapping] = result
        rows.append({
            "mapping": mapping,
            "FPR (healthy test)": fmt_rate(result["false-positive rate"]),
            "sensitivity (diseased test)": fmt_rate(result["sensitivity"]),
            "B-scan AUC": fmt_ci(result["auc"]),
            "scans/min": f"{result['scans per minute']:.1f}",
        })  # fmt: skip
    print(f"\n{model} at its threshold (fpr {args.fpr:g} on the validation split's healthy scans):\n")
    print(markdown_table(rows, list(rows[0])))
    save_json(ROOT / "results" / f"oct-{args.profile}" / "model_file.json", record)


if __name__ == "__main__":
    main()
