"""Preprocessing speed on all real B-scans (Kermany test split + Duke): loading,
then normalisation, resampling, boundary detection and flattening on all cores.

    python benchmarks/preprocess_speed.py [DATA_DIR]   (default: $ANOGAN_DATA or data/oct)
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from anogan_core.config import resolve_data_dir  # noqa: E402
from anogan_core.datasets import load_duke, load_kermany  # noqa: E402
from anogan_core.pipeline import preprocess_all  # noqa: E402


def main() -> None:
    root = resolve_data_dir("oct", sys.argv[1] if len(sys.argv) > 1 else None)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scans = load_kermany(root) + load_duke(root)
    t_load = time.perf_counter() - t0
    flats, kept, failed = preprocess_all(scans, 22.0, progress=False)
    t_pre = time.perf_counter() - t0 - t_load
    print(
        f"{os.cpu_count()} cores; {len(scans)} B-scans loaded in {t_load:.1f} s "
        f"({len(caught)} warning(s): {'; '.join(str(w.message)[:80] for w in caught)})"
    )
    print(
        f"preprocessed {len(kept)} in {t_pre:.1f} s ({1000 * t_pre / len(scans):.0f} ms per scan); "
        f"no retina found in {len(failed)}; total {t_load + t_pre:.1f} s"
    )


if __name__ == "__main__":
    main()
