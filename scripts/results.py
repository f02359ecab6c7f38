"""Record run metrics under results/ and regenerate the README's results table.

    python scripts/results.py runs/oct-cpu runs/synthetic-cpu   # record, then render
    python scripts/results.py                                  # render only

The README gets one row per run and comparison (anogan_core.report.recorded_summary); the
index page reads the same files in full (recorded_results) and as a forest plot.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anogan_core.report import recorded_summary  # noqa: E402

START, END = "<!-- results:start -->", "<!-- results:end -->"


def main(run_dirs: list[str]) -> None:
    for run in map(Path, run_dirs):
        source = run / "metrics.json"
        if not source.is_file():
            raise SystemExit(f"error: {source} not found (run the book for it first)")
        target = ROOT / "results" / run.name / "metrics.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        print(f"recorded {source} -> {target.relative_to(ROOT)}")
    readme = ROOT / "README.md"
    table = recorded_summary(ROOT / "results")
    text = re.sub(f"{START}.*?{END}", f"{START}\n{table}\n{END}", readme.read_text(), flags=re.S)
    readme.write_text(text)
    print("README.md results table updated")


if __name__ == "__main__":
    main(sys.argv[1:])
