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
import json
import os
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
from .datasets import KERMANY_WIDTH_MM, DataError  # noqa: E402
from .figures import heatmap_overlay  # noqa: E402
from .metrics import scan_score  # noqa: E402
from .model_file import MAPPINGS, Model, ModelFileError, RunError, export_model  # noqa: E402
from .phantom import WIDTH_MM, make_scans  # noqa: E402
from .scan_files import WIDTH_RANGE_MM, check_width, scan_files  # noqa: E402
from .scoring import STRIDE, ScanScore, calibrate_model, iter_scores, load, source_name  # noqa: E402
from .storage import atomic_write, load_json, save_json  # noqa: E402
from .volumes import VOLUME_SUFFIXES, is_volume  # noqa: E402

OUTPUTS = ("scans.csv", "patches.csv", "volumes.csv", "run.json")
RUN_SETTINGS = ("patch_region", "column_um", "despeckle", "steps", "lam", "map_lr", "map_starts", "residual_sigma")
PHANTOM_SEED = 101  # the book's runs draw their phantom scans from seeds 0.. : these are new scans


class UsageError(ValueError):
    """A command line that cannot be carried out."""


def _claim_folder(out: Path, force: bool, owned: Sequence[str], resumable: bool = False) -> set[tuple[str, str]]:
    """Make ``out`` ready for writing: refuse a non-empty folder unless ``force``, which removes only the
    files this command writes (``owned``, and PNGs under ``maps/``). Nothing in it is done: an empty set."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            again = " (or --resume to continue it)" if resumable else ""
            raise UsageError(
                f"--out {out}: folder exists and is not empty; pass --force to overwrite its outputs{again}"
            )
        for name in owned:
            (out / name).unlink(missing_ok=True)
        for png in (out / "maps").glob("*.png"):
            png.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return set()


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


SCAN_HEADER = ["file", "bscan", "status", "score", "normalised", "label", "windows", "width_mm", "grey_levels",
               "coverage", "quality", "map", "seconds", "reason"]  # fmt: skip
PATCH_HEADER = ["file", "bscan", "row", "col", "anomaly", "normalised", "residual", "discrimination"]
VOLUME_HEADER = ["file", "bscans", "scored", "score", "normalised", "anomalous_bscans", "worst_bscan", "worst_score",
                 "worst_normalised"]  # fmt: skip


class Rows:
    """A CSV file that grows as scans are scored: each scan's rows are written at once and flushed to
    disk, so the file is a valid CSV at any moment; a row cut short by a kill is dropped when the file
    is opened again. ``keep`` picks which earlier rows stay (a resumed output); ``remember`` keeps
    the rows in memory too (one per scan for scans.csv; patches.csv's are not kept, so that memory
    stays flat however many scans are scored)."""

    def __init__(self, path: Path, header: Sequence[str], keep: Any = None, remember: bool = False) -> None:
        kept = [r for r in read_rows(path) if keep(r)] if keep is not None else []
        text = io.StringIO()
        writer = csv.DictWriter(text, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write(path, lambda fh: fh.write(text.getvalue().encode()))
        self.rows = kept if remember else []
        self.header, self.remember = list(header), remember
        self.fh = path.open("a", newline="")

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        self.fh.write(text.getvalue())
        self.fh.flush()
        os.fsync(self.fh.fileno())
        if self.remember:
            self.rows += [dict(zip(self.header, map(str, row))) for row in rows]

    def close(self) -> None:
        self.fh.close()


def read_rows(path: Path) -> list[dict[str, str]]:
    """The complete rows of a CSV written by :class:`Rows` (a last line without its newline was cut short)."""
    if not path.is_file():
        return []
    text = path.read_text()
    text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(io.StringIO(text)))


def score_command(args: argparse.Namespace) -> int:
    files = scan_files(args.inputs)
    if not files:
        raise UsageError(f"no image or volume files found in {', '.join(args.inputs)}")
    if args.model and not Path(args.model).is_file():
        raise UsageError(f"--model {args.model}: no such file (write one with: anogan export --run RUN --out FILE)")
    run = load(args.model or args.run, args.mapping)
    calibration = _calibration(run, args)
    out = Path(args.out)
    record = _run_record(run, args, calibration)
    done = _resume(out, record) if args.resume else _claim_folder(out, args.force, OUTPUTS, True)
    save_json(out / "run.json", record | {"status": "scoring"})
    scans = Rows(out / "scans.csv", SCAN_HEADER, lambda r: (r["file"], r["bscan"]) in done, remember=True)
    patches = Rows(out / "patches.csv", PATCH_HEADER, lambda r: (r["file"], r["bscan"]) in done)
    volumes = Rows(out / "volumes.csv", VOLUME_HEADER, lambda r: (r["file"], "") in done)
    taken = {r["map"] for r in scans.rows if r["map"]}
    for png in (out / "maps").glob("*.png"):  # maps of scans scored again
        if png.stem not in taken:
            png.unlink()
    todo = [f for f in files if (str(f), "") not in done]
    if args.resume:
        print(f"resuming {out}: {len(files) - len(todo)} of {len(files)} files were scored")
    volume: tuple[Path, list[tuple[int, float] | None]] | None = None  # the volume being scored: its B-scans' scores
    try:
        for path, bscan, outcome in tqdm(
            iter_scores(run, todo, args.width_mm, args.stride, args.strict),
            desc="scoring", unit="scan", disable=args.quiet,
        ):  # fmt: skip
            if volume is not None and volume[0] != path:  # its B-scans are all scored: its row
                volumes.add([_volume_row(*volume, calibration)])
                volume = None
            _write_scan(out, scans, patches, path, bscan, outcome, calibration, taken)
            if is_volume(path):
                volume = volume or (path, [])
                volume[1].append(None if isinstance(outcome, str) else (int(bscan or 0), outcome.score))
        if volume is not None:
            volumes.add([_volume_row(*volume, calibration)])
    except KeyboardInterrupt:
        n = sum(r["status"] == "scored" for r in scans.rows)
        print(f"\ninterrupted: {n} scored scans are in {out}; continue with the same command and --resume",
              file=sys.stderr)  # fmt: skip
        return 130
    finally:
        for table in (scans, patches, volumes):
            table.close()
    refused = {_source(r): r["reason"] for r in scans.rows if r["status"] == "refused"}
    n_scored = len(scans.rows) - len(refused)
    save_json(out / "run.json", record | {"status": "finished", "scored": n_scored, "refused": refused})
    print(f"scored {n_scored} of {len(scans.rows)} scans, refused {len(refused)}; results in {out}")
    return 0 if n_scored else 1


def _resume(out: Path, record: dict[str, Any]) -> set[tuple[str, str]]:
    """The (file, bscan) keys of the scans an interrupted output folder holds completely (an image's row;
    a volume's rows once its volumes.csv row is written), after checking that the folder was scored
    with the same model and settings."""
    try:
        before = load_json(out / "run.json")
    except FileNotFoundError:
        raise UsageError(f"--resume {out}: no run.json there, nothing to resume; start without --resume") from None
    except ValueError as err:
        raise UsageError(f"--resume {out}: its run.json is not readable ({err}); start again in a new --out") from None
    now = json.loads(json.dumps(record))
    differs = [key for key in RESUME_KEYS if before.get(key) != now.get(key)]
    if differs:
        raise UsageError(
            f"--resume {out}: it was scored with another model or other settings ({', '.join(differs)} differ); "
            "score into a new --out"
        )
    complete = {r["file"] for r in read_rows(out / "volumes.csv")}
    done = {(r["file"], r["bscan"]) for r in read_rows(out / "scans.csv")
            if not is_volume(Path(r["file"])) or r["file"] in complete}  # fmt: skip
    return done | {(f, "") for f in complete}


RESUME_KEYS = ("fingerprint", "settings", "calibration")  # what must match for --resume


def _write_scan(
    out: Path, scans: Rows, patches: Rows, path: Path, bscan: int | None, outcome: ScanScore | str,
    calibration: Calibration | None, taken: set[str],
) -> None:  # fmt: skip
    """One scan's rows (its windows, its map, then its scans.csv row, which marks it done)."""
    index = "" if bscan is None else bscan
    if isinstance(outcome, str):
        scans.add([[path, index, "refused", "", "", "", 0, "", "", "", "", "", "", outcome]])
        tqdm.write(f"refused {source_name(path, bscan)}: {outcome}", file=sys.stderr)
        return
    window_norm = [_normalised(calibration, a)[0] for a in outcome.anomaly]
    patches.add([
        [path, index, int(r), int(c), f"{a:.6g}", n, f"{res:.6g}", f"{d:.6g}"]
        for (r, c), a, n, res, d in zip(
            outcome.positions, outcome.anomaly, window_norm, outcome.residual, outcome.discrimination
        )
    ])  # fmt: skip
    name = _unique_name(path.stem if bscan is None else f"{path.stem}-bscan{bscan:03d}", taken)
    _save_map(out / "maps" / f"{name}.png", outcome, name, calibration)
    normalised, label = _normalised(calibration, outcome.score)
    if outcome.quality != "ok":
        tqdm.write(f"{source_name(path, bscan)}: {outcome.quality}", file=sys.stderr)
    scans.add([[path, index, "scored", f"{outcome.score:.6g}", normalised, label, len(outcome.anomaly),
                f"{outcome.width_mm:.4g}", outcome.grey_levels, f"{outcome.coverage:.3f}", outcome.quality, name,
                f"{outcome.seconds:.2f}", ""]])  # fmt: skip


def _volume_row(path: Path, bscans: list[tuple[int, float] | None], calibration: Calibration | None) -> list[Any]:
    """One volume from its B-scans' (index, score) (None: refused): its score (the mean of the top
    quarter of its B-scans' scores, as a B-scan's is of its windows'), how many B-scans lie above the
    threshold, and its worst B-scan."""
    scored = [b for b in bscans if b is not None]
    if not scored:
        return [path, len(bscans), 0, "", "", "", "", "", ""]
    score = scan_score(np.array([b[1] for b in scored]))
    worst, worst_score = max(scored, key=lambda b: b[1])
    anomalous = "" if calibration is None else sum(calibration.label(b[1]) == "anomalous" for b in scored)
    return [path, len(bscans), len(scored), f"{score:.6g}", _normalised(calibration, score)[0], anomalous,
            worst, f"{worst_score:.6g}", _normalised(calibration, worst_score)[0]]  # fmt: skip


def _source(row: dict[str, str]) -> str:
    return row["file"] if not row["bscan"] else f"{row['file']}#{row['bscan']}"


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


def _run_record(run: Model, args: argparse.Namespace, calibration: Calibration | None) -> dict[str, Any]:
    cfg = run.cfg
    return {
        "model": run.source,
        "fingerprint": run.fingerprint(),
        "profile": cfg.profile,
        "dataset": cfg.dataset,
        "settings": {"width_mm": args.width_mm, "stride": args.stride, "window": 64, "mapping": args.mapping}
        | {k: getattr(cfg, k) for k in RUN_SETTINGS}
        | {"scan_score": "mean A(x) of the top quarter of the windows"},
        "calibration": None if calibration is None else calibration.as_dict(),
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


def _width(text: str) -> float:
    try:
        value = float(text)
        check_width(value)
    except (ValueError, DataError) as err:
        low, high = WIDTH_RANGE_MM
        raise argparse.ArgumentTypeError(f"expected a scan width in mm from {low:g} to {high:g}, got {text!r}") from err
    return value


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
        "--width-mm", type=_width, default=KERMANY_WIDTH_MM,
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
    again = s.add_mutually_exclusive_group()
    again.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier score in --out")
    again.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted score in --out (same model and settings), skipping the scans it holds",
    )  # fmt: skip
    s.add_argument("--strict", action="store_true", help="raise an unexpected error instead of refusing the scan")
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
