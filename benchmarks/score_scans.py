"""`anogan score` on a finished real-data run's own B-scan test set: speed and agreement with the book.

The held-out Kermany test scans of the run (NORMAL against CNV/DME/DRUSEN, the book's B-scan-level
test) are scored twice by the scoring code of the command line, from their image files:

1. as the command line does (``python -m anogan_core score``, 64x64 windows tiling the retina with
   stride 16): scans per minute and the scan-level AUC;
2. at the test patches' own positions (read from the run's cached test set): the same scan score
   must give the book's B-scan-level AnoGAN AUC, which checks that reading, preprocessing, mapping
   and aggregation equal the book's.

    python benchmarks/score_scans.py --run runs/oct-cpu --data-dir data/oct
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
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core.datasets import KERMANY  # noqa: E402
from anogan_core.metrics import scan_score, summarize  # noqa: E402
from anogan_core.model_file import load_run  # noqa: E402
from anogan_core.patches import PatchSet, encode  # noqa: E402
from anogan_core.preprocess import prepare_scan  # noqa: E402
from anogan_core.report import fmt_ci, markdown_table  # noqa: E402
from anogan_core.scoring import read_scan, score_flat_scan  # noqa: E402
from anogan_core.storage import load_json  # noqa: E402

COMPARISON = "B-scan: Kermany NORMAL vs CNV/DME/DRUSEN"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a finished oct run folder, e.g. runs/oct-cpu")
    ap.add_argument("--data-dir", required=True, help="the OCT data folder the run was built from")
    args = ap.parse_args()
    run = load_run(args.run)
    cfg = run.cfg
    test = PatchSet.load(Path(args.run).parent / "cache" / f"{cfg.dataset}-data-{cfg.stage_key('data')}" / "test")
    with_patches = set(np.unique(test.scan).tolist())  # as in the book, a scan without test patches has no score
    scans = [
        (i, s)
        for i, s in enumerate(test.scans)
        if s["source"] == "kermany" and s["split"] == "test" and i in with_patches
    ]
    files = [Path(args.data_dir) / KERMANY / s["label"] / f"{s['name']}.jpeg" for _, s in scans]
    label = np.array([int(s["label"] != "NORMAL") for _, s in scans])
    patient = np.array([s["patient"] for _, s in scans])

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "anogan_core", "score", "--run", args.run, *map(str, files), "--out", tmp]
        subprocess.run([*cmd, "--quiet"], check=True)
        cli_s = time.perf_counter() - t0
        with open(Path(tmp) / "scans.csv") as fh:
            by_file = {r["file"]: r for r in csv.DictReader(fh)}
    cli_score = np.array([float(by_file[str(f)]["score"] or "nan") for f in files])
    windows = int(sum(int(by_file[str(f)]["windows"]) for f in files))

    same_patches, book_score = 0, []
    for (i, _), path in tqdm(list(zip(scans, files)), desc="book's positions", unit="scan"):
        flat = prepare_scan(read_scan(path), cfg.column_um, cfg.despeckle)
        own = np.flatnonzero(test.scan == i)
        pos = test.pos[own]
        patches = np.stack([encode(flat.image[r : r + 64, c : c + 64]) for r, c in pos])
        same_patches += int(np.array_equal(patches, np.asarray(test.x[own])))
        book_score.append(scan_score(score_flat_scan(run, flat, positions=pos)[1]))

    recorded = load_json(Path(args.run) / "metrics.json")["05_evaluation"]["results"][COMPARISON]["methods"]["AnoGAN"]
    ok = np.isfinite(cli_score)
    rows = [
        {"scoring": "book (recorded)", "scans": len(files), "AUC [95% CI]": fmt_ci(recorded)},
        {
            "scoring": "score code at the book's test positions",
            "scans": len(files),
            "AUC [95% CI]": fmt_ci(summarize(label, np.array(book_score), patient, cfg.n_bootstrap, cfg.seed)),
        },
        {
            "scoring": "anogan score (tiling, stride 16)",
            "scans": int(ok.sum()),
            "AUC [95% CI]": fmt_ci(summarize(label[ok], cli_score[ok], patient[ok], cfg.n_bootstrap, cfg.seed)),
        },
    ]
    print(markdown_table(rows, ["scoring", "scans", "AUC [95% CI]"]))
    print(f"\npatches identical to the run's test patches in {same_patches} of {len(files)} scans")
    print(
        f"anogan score: {len(files)} scans ({windows} windows) in {cli_s:.0f} s with start-up, "
        f"{60 * len(files) / cli_s:.1f} scans per minute"
    )


if __name__ == "__main__":
    main()
