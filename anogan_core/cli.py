"""Command line: ``python -m anogan_core score|export|phantom`` (also ``anogan``).

    anogan phantom --out scans/                          # a few phantom B-scans to try it on
    anogan score --run runs/synthetic-smoke scans/ --out scores/
    anogan export --run runs/synthetic-smoke --out model.pt   # one file to carry
    anogan score --model model.pt scans/ --out scores/

``score`` writes into ``--out``: ``scans.csv`` (one row per B-scan: its score, normalised score and
label, or the reason it was refused; a volume file's B-scans are numbered in ``bscan``),
``patches.csv`` (every window's position, A(x), R(x) and D(x)), ``volumes.csv`` (with volume files:
one row per volume, its score over B-scans and its worst B-scan), ``maps/<scan>.png`` (the stitched
residual map over the flattened scan) and ``run.json`` (the run, model and settings used). An
output folder that is not empty is left alone unless ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from . import __version__  # noqa: E402
from .calibration import DEFAULT_FPR, Calibration, CalibrationError  # noqa: E402
from .datasets import KERMANY_WIDTH_MM  # noqa: E402
from .figures import heatmap_overlay  # noqa: E402
from .metrics import scan_score  # noqa: E402
from .model_file import MAPPINGS, Model, ModelFileError, RunError, export_model  # noqa: E402
from .phantom import WIDTH_MM, make_scans  # noqa: E402
from .scoring import STRIDE, ScanScore, calibrate_model, image_files, iter_scores, load, source_name  # noqa: E402
from .storage import atomic_write, load_json, save_json  # noqa: E402
from .volumes import VOLUME_SUFFIXES, is_volume  # noqa: E402

OUTPUTS = ("scans.csv", "patches.csv", "volumes.csv", "run.json")
RUN_SETTINGS = ("patch_region", "column_um", "despeckle", "steps", "lam", "map_lr", "map_starts", "residual_sigma")
PHANTOM_SEED = 101  # the book's runs draw their phantom scans from seeds 0.. : these are new scans


class UsageError(ValueError):
    """A command line that cannot be carried out."""


def _claim_folder(out: Path, force: bool, owned: Sequence[str]) -> None:
    """Make ``out`` ready for writing: refuse a non-empty folder unless ``force``, which removes only the
    files this command writes (``owned``, and PNGs under ``maps/``)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise UsageError(f"--out {out}: folder exists and is not empty; pass --force to overwrite its outputs")
        for name in owned:
            (out / name).unlink(missing_ok=True)
        for png in (out / "maps").glob("*.png"):
            png.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    def write(fh: Any) -> None:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        fh.write(text.getvalue().encode())

    atomic_write(path, write)


def _unique_name(stem: str, taken: set[str]) -> str:
    name, n = stem, 2
    while name in taken:
        name, n = f"{stem}-{n}", n + 1
    taken.add(name)
    return name


def _save_map(path: Path, scored: ScanScore, name: str, calibration: Calibration | None) -> None:
    title = f"{name}: score {scored.score:.4f}"
    if calibration is None:
        fig = heatmap_overlay(scored.flat.image, scored.heat, None, title + " (colour scale of this scan)")
    else:
        title += f", normalised {float(calibration.normalise(scored.score)):.2f} ({calibration.label(scored.score)})"
        note = f"scale of all maps of this model ({calibration.n_scans} healthy scans)"
        fig = heatmap_overlay(scored.flat.image, scored.heat, None, title, calibration.heat_max, note)
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    plt.close(fig)


def score_command(args: argparse.Namespace) -> int:
    files = image_files(args.inputs)
    if not files:
        raise UsageError(f"no image or volume files found in {', '.join(args.inputs)}")
    if args.model and not Path(args.model).is_file():
        raise UsageError(f"--model {args.model}: no such file (write one with: anogan export --run RUN --out FILE)")
    run = load(args.model or args.run, args.mapping)
    calibration = _calibration(run, args)
    out = Path(args.out)
    _claim_folder(out, args.force, OUTPUTS)
    scan_rows, patch_rows, refused, taken = [], [], {}, set()
    volumes: dict[Path, list[ScanScore | None]] = {}  # per volume file, its B-scans (None: refused)
    outcomes = iter_scores(run, files, args.width_mm, args.stride)
    for path, bscan, outcome in tqdm(outcomes, desc="scoring", unit="scan", disable=args.quiet):
        source, index = source_name(path, bscan), "" if bscan is None else bscan
        if is_volume(path):
            volumes.setdefault(path, []).append(None if isinstance(outcome, str) else outcome)
        if isinstance(outcome, str):
            refused[source] = outcome
            scan_rows.append([path, index, "refused", "", "", "", 0, "", "", outcome])
            tqdm.write(f"refused {source}: {outcome}", file=sys.stderr)
            continue
        name = _unique_name(path.stem if bscan is None else f"{path.stem}-bscan{bscan:03d}", taken)
        _save_map(out / "maps" / f"{name}.png", outcome, name, calibration)
        normalised, label = _normalised(calibration, outcome.score)
        scan_rows.append([path, index, "scored", f"{outcome.score:.6g}", normalised, label, len(outcome.anomaly),
                          f"{outcome.width_mm:.4g}", f"{outcome.seconds:.2f}", ""])  # fmt: skip
        window_norm = [_normalised(calibration, a)[0] for a in outcome.anomaly]
        patch_rows += [
            [path, index, int(r), int(c), f"{a:.6g}", n, f"{res:.6g}", f"{d:.6g}"]
            for (r, c), a, n, res, d in zip(
                outcome.positions, outcome.anomaly, window_norm, outcome.residual, outcome.discrimination
            )
        ]
    header = ["file", "bscan", "status", "score", "normalised", "label", "windows", "width_mm", "seconds", "reason"]
    _write_csv(out / "scans.csv", header, scan_rows)
    header = ["file", "bscan", "row", "col", "anomaly", "normalised", "residual", "discrimination"]
    _write_csv(out / "patches.csv", header, patch_rows)
    if volumes:
        _write_csv(out / "volumes.csv", VOLUME_HEADER, [_volume_row(p, b, calibration) for p, b in volumes.items()])
    n_scored = len(scan_rows) - len(refused)
    record = _run_record(run, args, n_scored, refused)
    record["calibration"] = None if calibration is None else calibration.as_dict()
    save_json(out / "run.json", record)
    print(f"scored {n_scored} of {len(scan_rows)} scans, refused {len(refused)}; results in {out}")
    return 0 if n_scored else 1


VOLUME_HEADER = ["file", "bscans", "scored", "score", "normalised", "anomalous_bscans", "worst_bscan", "worst_score",
                 "worst_normalised"]  # fmt: skip


def _volume_row(path: Path, bscans: list[ScanScore | None], calibration: Calibration | None) -> list[Any]:
    """One volume: its score (the mean of the top quarter of its B-scans' scores, as a B-scan's is of
    its windows'), how many B-scans lie above the threshold, and its worst B-scan."""
    scored = [b for b in bscans if b is not None]
    if not scored:
        return [path, len(bscans), 0, "", "", "", "", "", ""]
    score = scan_score(np.array([b.score for b in scored]))
    worst = max(scored, key=lambda b: b.score)
    anomalous = "" if calibration is None else sum(calibration.label(b.score) == "anomalous" for b in scored)
    return [path, len(bscans), len(scored), f"{score:.6g}", _normalised(calibration, score)[0], anomalous,
            worst.bscan, f"{worst.score:.6g}", _normalised(calibration, worst.score)[0]]  # fmt: skip


def _normalised(calibration: Calibration | None, score: float) -> tuple[str, str]:
    """(normalised score, label) as CSV cells; empty without a calibration."""
    if calibration is None:
        return "", ""
    return f"{float(calibration.normalise(score)):.4f}", str(calibration.label(score))


def _calibration(model: Model, args: argparse.Namespace) -> Calibration | None:
    """The model file's calibration, or a run folder's at ``--fpr``, or None where there is none."""
    if model.calibration is not None:
        return Calibration(**model.calibration)
    if args.model:
        print("note: this model file holds no calibration for this mapping: scores are not normalised", file=sys.stderr)
        return None
    return _run_calibration(model, Path(args.run), args.mapping, args.fpr, args.data_dir, args.quiet)


def _run_calibration(
    model: Model, run: Path, mapping: str, fpr: float, data_dir: str | None, quiet: bool
) -> Calibration | None:
    """A run folder's calibration for ``mapping`` at ``fpr``: computed once, then kept in the run folder
    (keyed by its GAN); None, said on stderr, where its dataset holds no held-out healthy scans."""
    path = run / f"calibration-{model.cfg.stage_key('gan')}-{mapping}-fpr{fpr:g}.json"
    if path.is_file():
        return Calibration(**load_json(path))
    try:
        calibration = calibrate_model(model, fpr, data_dir, progress=not quiet)
    except CalibrationError as err:
        print(f"note: {err}: scores are not normalised", file=sys.stderr)
        return None
    save_json(path, calibration.as_dict())
    return calibration


def _run_record(run: Model, args: argparse.Namespace, n_scored: int, refused: dict[str, str]) -> dict[str, Any]:
    cfg = run.cfg
    return {
        "model": run.source,
        "profile": cfg.profile,
        "dataset": cfg.dataset,
        "settings": {"width_mm": args.width_mm, "stride": args.stride, "window": 64, "mapping": args.mapping}
        | {k: getattr(cfg, k) for k in RUN_SETTINGS}
        | {"scan_score": "mean A(x) of the top quarter of the windows"},
        "scored": n_scored,
        "refused": refused,
        "versions": {"anogan_core": __version__, "python": platform.python_version(), "torch": torch.__version__},
    }


def export_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UsageError(f"--out {out}: exists; pass --force to overwrite it")
    calibrations = {}
    for mapping in MAPPINGS:
        try:
            model = load(args.run, mapping)
        except RunError:  # a run without an encoder exports the iterative mapping alone
            continue
        calibration = _run_calibration(model, Path(args.run), mapping, args.fpr, args.data_dir, False)
        if calibration is not None:
            calibrations[mapping] = calibration.as_dict()
    export_model(args.run, out, calibrations)
    print(f"exported the model of {args.run} to {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


def phantom_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    names = [f"{kind}_{i:02d}.png" for kind in ("normal", "fluid") for i in range(args.n)]
    _claim_folder(out, args.force, [*names, "labels.csv"])
    rows = []
    for kind in ("normal", "fluid"):
        for i, scan in enumerate(make_scans(args.n, args.seed, diseased=kind == "fluid")):
            name = f"{kind}_{i:02d}.png"
            atomic_write(out / name, lambda fh, im=scan.image: Image.fromarray(im).save(fh, format="PNG"))
            rows.append([name, kind, f"phantom-{kind}-{i}", WIDTH_MM])
    _write_csv(out / "labels.csv", ["image", "label", "patient", "width_mm"], rows)
    print(f"wrote {len(rows)} phantom B-scans ({args.n} normal, {args.n} with fluid) and labels.csv to {out}")
    return 0


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


FPR_HELP = (
    f"false-positive rate on held-out healthy scans that sets the threshold (default {DEFAULT_FPR:g}): "
    "above it a scan is labelled anomalous, and its normalised score exceeds 0.5"
)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a rate in (0, 1), got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a rate in (0, 1), got {text!r}")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anogan", description="AnoGAN (Schlegl et al., IPMI 2017), replicated.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score B-scans with the trained model of a run")
    s.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="B-scan images (png, jpg, tif, bmp), volume files (Heidelberg .vol/.e2e, DICOM .dcm) or folders of them",
    )  # fmt: skip
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", help="a finished run folder, e.g. runs/oct-cpu")
    source.add_argument("--model", help="a model file written by: anogan export")
    s.add_argument("--out", required=True, help="output folder (must be new or empty unless --force)")
    s.add_argument(
        "--width-mm", type=_positive(float), default=KERMANY_WIDTH_MM,
        help=f"physical width of image files in mm (default {KERMANY_WIDTH_MM:g}, as Kermany's and Duke's); "
        f"volume files ({', '.join(VOLUME_SUFFIXES)}) give their own spacing",
    )  # fmt: skip
    s.add_argument("--stride", type=_positive(int), default=STRIDE, help=f"window stride in pixels (default {STRIDE})")
    s.add_argument(
        "--mapping", choices=MAPPINGS, default="iterative",
        help="iterative: AnoGAN's Gamma steps (default); encoder: f-AnoGAN's izi_f encoder, one pass",
    )  # fmt: skip
    s.add_argument("--fpr", type=_rate, default=DEFAULT_FPR, help=FPR_HELP + " (with --run)")
    s.add_argument("--data-dir", help="the public OCT folder, for a run's calibration (default $ANOGAN_DATA)")
    s.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier score in --out")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(handler=score_command)
    e = sub.add_parser("export", help="write a run's trained model into one file to carry (score with --model)")
    e.add_argument("--run", required=True, help="a finished run folder, e.g. runs/oct-cpu")
    e.add_argument("--out", required=True, help="the model file to write, e.g. model.pt")
    e.add_argument("--fpr", type=_rate, default=DEFAULT_FPR, help=FPR_HELP)
    e.add_argument("--data-dir", help="the public OCT folder, for the calibration (default $ANOGAN_DATA)")
    e.add_argument("--force", action="store_true", help="overwrite an existing file")
    e.set_defaults(handler=export_command)
    f = sub.add_parser("phantom", help="write synthetic phantom B-scans (normal and with fluid) to try score on")
    f.add_argument("--out", required=True, help="output folder (must be new or empty unless --force)")
    f.add_argument("--n", type=_positive(int), default=4, help="scans of each kind (default 4)")
    f.add_argument("--seed", type=int, default=PHANTOM_SEED, help=f"phantom seed (default {PHANTOM_SEED})")
    f.add_argument("--force", action="store_true", help="overwrite earlier phantom scans in --out")
    f.set_defaults(handler=phantom_command)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, RunError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
