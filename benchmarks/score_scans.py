"""`anogan score` on a finished real-data run's own B-scan test set: speed and agreement with the book.

The held-out Kermany test scans of the run (NORMAL against CNV/DME/DRUSEN, the book's B-scan-level
test) are scored twice by the scoring code of the command line, from their image files:

1. as the command line does (``python -m anogan_core score``, 64x64 windows tiling the retina with
   stride 16): scans per minute and the scan-level AUC;
2. at the test patches' own positions (read from the run's cached test set): the same scan score
   must give the book's B-scan-level AnoGAN AUC, which checks that reading, preprocessing, mapping
   and aggregation equal the book's.

    python benchmarks/score_scans.py --run runs/oct-cpu --data-dir data/oct

``--soak N`` instead scores N files, a mix of good phantom B-scans (70%) and odd ones (random noise,
too small, turned by 90 degrees, truncated, garbage bytes, CMYK and 16-bit encodings, a header
declaring 3968 x 8192 pixels), with ``--model`` or ``--run`` and the encoder mapping, and samples
the command's resident memory and its rows as it goes: throughput and peak memory per tenth of the
files, which must stay flat as the number of files grows.

    python benchmarks/score_scans.py --soak 1000 --model runs/oct-cpu/model-fpr0.05.pt
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
from PIL import Image
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core.datasets import KERMANY  # noqa: E402
from anogan_core.metrics import scan_score, summarize  # noqa: E402
from anogan_core.model_file import load_run  # noqa: E402
from anogan_core.patches import PatchSet, encode  # noqa: E402
from anogan_core.phantom import make_scans  # noqa: E402
from anogan_core.preprocess import prepare_scan  # noqa: E402
from anogan_core.report import fmt_ci, markdown_table  # noqa: E402
from anogan_core.scan_files import read_scan  # noqa: E402
from anogan_core.scoring import score_flat_scan  # noqa: E402
from anogan_core.storage import load_json  # noqa: E402

COMPARISON = "B-scan: Kermany NORMAL vs CNV/DME/DRUSEN"


def soak_files(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` files in ``folder``: 70% healthy or diseased phantom B-scans, 30% odd ones of seven kinds."""
    rng = np.random.default_rng(seed)
    scans = make_scans(16, seed + 500) + make_scans(16, seed + 501, diseased=True)
    for i in tqdm(range(n), desc="writing soak files", unit="file"):
        image = scans[i % len(scans)].image
        kind = "good" if rng.random() < 0.7 else rng.choice(ODD_KINDS)
        path = folder / f"{i:05d}-{kind}.png"
        if kind == "good":
            Image.fromarray(image).save(path)
        elif kind == "noise":
            Image.fromarray(rng.integers(0, 256, image.shape, dtype=np.uint8)).save(path)
        elif kind == "tiny":
            Image.fromarray(image[:40, :60]).save(path)
        elif kind == "turned":
            Image.fromarray(np.ascontiguousarray(image.T)).save(path)
        elif kind == "truncated":
            Image.fromarray(image).save(path)
            path.write_bytes(path.read_bytes()[:2000])
        elif kind == "garbage":
            path.write_bytes(rng.bytes(500))
        elif kind == "cmyk":
            Image.fromarray(image).convert("CMYK").save(path.with_suffix(".jpg"), quality=95)
        elif kind == "deep":
            Image.fromarray(image.astype(np.uint16) * 257).save(path.with_suffix(".tif"))
        elif kind == "huge":
            Image.new("L", (8192, 3968), 90).save(path)


ODD_KINDS = ["noise", "tiny", "turned", "truncated", "garbage", "cmyk", "deep", "huge"]


def rss_mib(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(n: int, source: list[str]) -> None:
    """Score ``n`` soak files with the encoder mapping; print throughput and peak memory per tenth."""
    with tempfile.TemporaryDirectory() as tmp:
        folder, out = Path(tmp) / "in", Path(tmp) / "out"
        folder.mkdir()
        soak_files(folder, n)
        cmd = [sys.executable, "-m", "anogan_core", "score", *source, str(folder), "--out", str(out)]
        t0 = time.perf_counter()
        proc = subprocess.Popen([*cmd, "--mapping", "encoder", "--quiet"], stderr=subprocess.DEVNULL)
        samples = []  # (seconds, rows written, resident MiB)
        while proc.poll() is None:
            rows = (out / "scans.csv").read_text().count("\n") - 1 if (out / "scans.csv").is_file() else 0
            try:
                samples.append((time.perf_counter() - t0, rows, rss_mib(proc.pid)))
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.5)
        seconds = time.perf_counter() - t0
        with open(out / "scans.csv") as fh:
            rows = list(csv.DictReader(fh))
    table, start = [], (0.0, 0)
    for tenth in range(1, 11):
        part = [s for s in samples if (tenth - 1) * n / 10 <= s[1] < tenth * n / 10 or (tenth == 10 and s[1] >= n)]
        if not part:
            continue
        end = part[-1]
        rate = (end[1] - start[1]) / max(end[0] - start[0], 1e-9) * 60
        table.append({"files": f"{(tenth - 1) * n // 10}-{tenth * n // 10}", "files/min": f"{rate:.0f}",
                      "peak MiB": f"{max(s[2] for s in part):.0f}"})  # fmt: skip
        start = end[:2]
    print(markdown_table(table, ["files", "files/min", "peak MiB"]))
    scored = sum(r["status"] == "scored" for r in rows)
    peak = max(s[2] for s in samples)
    print(f"\n{len(rows)} rows for {n} files ({scored} scored, {len(rows) - scored} refused) in {seconds:.0f} s "
          f"with start-up: {60 * n / seconds:.0f} files per minute; peak {peak:.0f} MiB")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="a finished oct run folder, e.g. runs/oct-cpu")
    ap.add_argument("--model", help="with --soak: a model file instead of --run")
    ap.add_argument("--data-dir", help="the OCT data folder the run was built from")
    ap.add_argument("--soak", type=int, default=0, help="score this many good and odd files instead")
    args = ap.parse_args()
    if args.soak:
        soak(args.soak, ["--model", args.model] if args.model else ["--run", args.run])
        return
    if not (args.run and args.data_dir):
        ap.error("give --run and --data-dir (or --soak N with --model or --run)")
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
