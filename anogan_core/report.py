"""What the chapters print: the paper's numbers, the run banner, tables.

Paper numbers are from Schlegl et al. 2017, Table 1 (Youden-index statistics and
AUC on image patches) and Section 3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Config

# Table 1: precision, recall, sensitivity, specificity, AUC.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "aCAE": {"precision": 0.7005, "recall": 0.7009, "sensitivity": 0.7011, "specificity": 0.6659, "auc": 0.73},
    "P_D": {"precision": 0.8471, "recall": 0.5119, "sensitivity": 0.5124, "specificity": 0.8970, "auc": 0.72},
    "GAN_R": {"precision": 0.8482, "recall": 0.7631, "sensitivity": 0.7634, "specificity": 0.8477, "auc": 0.88},
    "AnoGAN": {"precision": 0.8834, "recall": 0.7277, "sensitivity": 0.7279, "specificity": 0.8928, "auc": 0.89},
}
# BMAD (Bao et al. 2023) reports f-AnoGAN at 72.8 AUROC on the Kermany OCT2017 set.
BMAD_F_ANOGAN_AUROC = 0.728


def banner(cfg: Config) -> str:
    """The line each chapter opens with: which data and profile produced the page."""
    return f"**This page was produced with** {cfg.describe()}."


def fmt_ci(row: Mapping[str, float]) -> str:
    """'0.89 [0.85, 0.92]' from a row with auc, auc_lo, auc_hi."""
    if row.get("auc_lo") != row.get("auc_lo"):  # NaN: no bootstrap
        return f"{row['auc']:.3f}"
    return f"{row['auc']:.3f} [{row['auc_lo']:.3f}, {row['auc_hi']:.3f}]"


def markdown_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], headers: Sequence[str] | None = None
) -> str:
    """A Markdown table; floats get 3 decimals."""
    headers = list(headers or columns)
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        cells = [f"{r[c]:.3f}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


STATS = ("precision", "recall", "sensitivity", "specificity")


def table1(ours: Mapping[str, Mapping[str, float]]) -> str:
    """Table 1, method by method: the paper's row and ours under it (AUC with its 95% CI)."""
    rows = []
    for method, paper in PAPER_TABLE1.items():
        rows.append({"method": method, "from": "paper", **{k: f"{paper[k]:.4f}" for k in STATS},
                     "AUC": f"{paper['auc']:.2f}"})  # fmt: skip
        mine = ours.get(method)
        if mine:
            rows.append({"method": "", "from": "ours", **{k: f"{mine[k]:.3f}" for k in STATS}, "AUC": fmt_ci(mine)})
    return markdown_table(rows, ["method", "from", *STATS, "AUC"])


def start_sentence(rows: Sequence[Mapping[str, Any]], steps: int) -> str:
    """Chapter 3's comparison of where the search starts, in words: the AUC after ``steps``
    from one random z_1 (the paper) against each pool of starts in ``rows`` ("" without both)."""
    after = {r["starts"]: r["auc"] for r in rows if r["Gamma"] == steps}
    pools = [f"{after[k]:.3f} from the best of {k}" for k in sorted(after) if k > 1]
    if 1 not in after or not pools:
        return ""
    return (
        f"After {steps} steps A(x) reaches AUC {after[1]:.3f} from one random z_1 (the paper) against "
        + " and ".join(pools)
        + " shared random starts."
    )


def chance_sentence(methods: Mapping[str, Mapping[str, float]]) -> str:
    """Name the scores whose 95% AUC interval lies wholly under 0.5, or holds 0.5 ("" if none)."""
    below = [k for k, r in methods.items() if r["auc_hi"] < 0.5]
    at_chance = [k for k, r in methods.items() if r["auc_lo"] <= 0.5 <= r["auc_hi"]]
    text = ""
    if below:
        text += (
            f" Below chance (the whole 95% interval under 0.5): {', '.join(below)}: these scores rank the "
            "fluid patches as *more* normal than the normal ones."
        )
    if at_chance:
        text += f" Not distinguishable from chance (the interval holds 0.5): {', '.join(at_chance)}."
    return text


def remedy_sentence(table: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    """Chapter 5's side by side (:func:`diagnosis.side_by_side`) in words: per comparison, AnoGAN
    with the paper's options and with this profile's, against this profile's darkness floor."""
    parts = []
    for name, columns in table.items():
        mine, floor = columns.get("AnoGAN, this profile"), columns.get("darkness (-mean), this profile")
        if mine is None or floor is None:
            continue
        paper = columns.get("AnoGAN, paper's options")
        before = f"{fmt_ci(paper)} with the paper's options, " if paper else ""
        verdict = "above" if mine["auc_lo"] > floor["auc"] else "not clearly above"
        parts.append(f"*{name}*: AnoGAN {before}{fmt_ci(mine)} with this profile's, {verdict} the darkness "
                     f"floor ({floor['auc']:.3f})")  # fmt: skip
    return "; ".join(parts) + "." if parts else ""


def recorded_aucs(results_dir: Path) -> list[dict[str, Any]]:
    """Every method's row of chapter 5 in the committed ``results/<dataset>-<profile>/metrics.json``:
    run, comparison, method, the paper's AUC (patch level only, else None) and our Table 1 row."""
    rows = []
    for path in sorted(Path(results_dir).glob("*/metrics.json")):
        evaluation = json.loads(path.read_text()).get("05_evaluation", {}).get("results", {})
        for comparison, block in evaluation.items():
            for method, r in block.get("methods", {}).items():
                paper = None if comparison.startswith("B-scan") else PAPER_TABLE1.get(method)
                rows.append({"run": path.parent.name, "comparison": comparison, "method": method,
                             "paper": paper["auc"] if paper else None, **r})  # fmt: skip
    return rows


FLOOR = "darkness (-mean)"  # the trivial score each comparison is judged against


def recorded_headline(results_dir: Path, method: str = "AnoGAN") -> list[dict[str, Any]]:
    """One row per recorded run and comparison: ``method``'s AUC with its CI, the darkness floor of the
    same patches or scans, and the paper's AUC (where fluid patches are the anomalies, as in its
    Table 1), for the index's forest plot."""
    rows = []
    for path in sorted(Path(results_dir).glob("*/metrics.json")):
        evaluation = json.loads(path.read_text()).get("05_evaluation", {}).get("results", {})
        for comparison, block in evaluation.items():
            mine = block.get("methods", {}).get(method)
            if not mine:
                continue
            floor = block.get("floors", {}).get(FLOOR) or block.get("methods", {}).get(FLOOR)
            fluid = comparison.startswith(("fluid", "Duke fluid"))  # the paper's Table 1 is fluid vs normal
            paper = PAPER_TABLE1[method]["auc"] if fluid else None
            rows.append({"run": path.parent.name, "comparison": comparison, "auc": mine["auc"],
                         "auc_lo": mine["auc_lo"], "auc_hi": mine["auc_hi"],
                         "floor": floor["auc"] if floor else None, "paper": paper})  # fmt: skip
    return rows


def recorded_results(results_dir: Path) -> str:
    """'Results at a glance' from committed ``results/<dataset>-<profile>/metrics.json``:
    paper vs this replication, AUC with CI and the Youden statistics, per comparison."""
    files = sorted(Path(results_dir).glob("*/metrics.json"))
    if not files:
        return "_No recorded results yet: run `make book PROFILE=cpu DATASET=oct` and `scripts/results.py`._"
    rows = [
        {**r, "paper AUC": f"{r['paper']:.2f}" if r["paper"] else "", "our AUC [95% CI]": fmt_ci(r),
         **{k: f"{r[k]:.3f}" if k in r else "" for k in STATS}}
        for r in recorded_aucs(results_dir)
    ]  # fmt: skip
    table = markdown_table(rows, ["run", "comparison", "method", "paper AUC", "our AUC [95% CI]", *STATS])
    return table + "\n\n" + "\n".join(provenance(p.parent.name, json.loads(p.read_text())) for p in files)


SUMMARY_METHODS = ("AnoGAN", "GAN_R", "aCAE", "P_D")


def recorded_summary(results_dir: Path, provenance_lines: bool = True) -> str:
    """The short form of :func:`recorded_results` (the README's, the index's): one row per run and
    comparison, the AUC [95% CI] of each method beside the paper's (patch level), then (unless
    ``provenance_lines`` is False) the provenance lines."""
    files = sorted(Path(results_dir).glob("*/metrics.json"))
    if not files:
        return "_No recorded results yet: run `make book PROFILE=cpu DATASET=oct` and `scripts/results.py`._"
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for r in recorded_aucs(results_dir):
        if r["method"] in SUMMARY_METHODS:
            rows.setdefault((r["run"], r["comparison"]), {"run": r["run"], "comparison": r["comparison"]})[
                r["method"]
            ] = fmt_ci(r)
    header = ["run", "comparison", *SUMMARY_METHODS]
    paper = {"run": "paper", "comparison": "fluid vs normal (Table 1)",
             **{m: f"{PAPER_TABLE1[m]['auc']:.2f}" for m in SUMMARY_METHODS}}  # fmt: skip
    table = markdown_table([paper, *rows.values()], header)
    if not provenance_lines:
        return table
    return table + "\n\n" + "\n".join(provenance(p.parent.name, json.loads(p.read_text())) for p in files)


def provenance(run: str, metrics: Mapping[str, Any]) -> str:
    """One line saying what produced a recorded run: commit, GAN recipe, mapping, wall time, and
    how long the GAN trained (also when this run reused it from the cache)."""
    chapters = {k: v for k, v in metrics.items() if isinstance(v, Mapping) and "wall_s" in v}
    commits = sorted({v.get("git_commit", "unknown")[:7] for v in chapters.values()})
    c = metrics.get("config", {})
    starts = c.get("map_starts", 1)  # runs recorded before map_starts existed started from one random z
    recipe = (
        f"width {c['width']}, {c['epochs']} epochs of batch {c['batch_size']}, "
        f"Adam lr_g {c['lr_g']:g} / lr_d {c['lr_d']:g}"
        + (", G upsampling by resize-convolution" if c.get("resize_conv") else "")  # absent before it existed
        + (", D spectrally normalised" if c.get("spectral_norm") else "")
        + (", patches from the retina only" if c.get("patch_region") == "retina" else "")  # absent before it existed
        + (f", scans despeckled (median {c['despeckle']})" if c.get("despeckle") else "")
        + (f", residual low-passed (sigma {c['residual_sigma']:g})" if c.get("residual_sigma") else "")
        + f", Gamma {c['steps']}"
        + (f" from the best of {starts} starts" if starts > 1 else "")
        + f", lambda {c['lam']:g}"
        if c
        else "configuration not recorded"
    )
    minutes = sum(v["wall_s"] for v in chapters.values()) / 60
    took = f"chapters took {minutes:.0f} min in all"
    dcgan = metrics.get("02_dcgan", {})
    train_s = dcgan.get("results", {}).get("train_s")
    elsewhere = dcgan.get("results", {}).get("trained_on")
    if elsewhere:  # recorded by scripts/table1.py from a run on another machine
        r = dcgan["results"]
        took = (f"GAN trained on {elsewhere} in {train_s:.0f} s; {r['scored_patches']:,} of the "
                f"{r['patch_level_patches']:,} patch-level test patches scored (scripts/table1.py)")  # fmt: skip
    elif train_s is not None:  # a chapter that ran faster than the training reused a cached GAN
        cached = train_s > dcgan["wall_s"]
        took += f", GAN training {train_s:.0f} s" + (" (cached from an earlier run)" if cached else "")
    return f"- `{run}`: commit {', '.join(commits) or 'unknown'}; {recipe}; {took}."
