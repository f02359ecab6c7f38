import json

from anogan_core.report import (
    chance_sentence,
    fmt_ci,
    markdown_table,
    provenance,
    recorded_aucs,
    recorded_headline,
    recorded_results,
    recorded_summary,
    remedy_sentence,
    start_sentence,
    table1,
)


def test_table1_sets_ours_beside_the_paper():
    ours = {"AnoGAN": {"auc": 0.5, "auc_lo": 0.4, "auc_hi": 0.6, "precision": 0.1, "recall": 0.2,
                       "sensitivity": 0.2, "specificity": 0.9}}  # fmt: skip
    lines = table1(ours).splitlines()
    assert lines[0] == "| method | from | precision | recall | sensitivity | specificity | AUC |"
    paper = lines.index(next(line for line in lines if line.startswith("| AnoGAN | paper |")))
    assert "0.8834" in lines[paper] and lines[paper].endswith("| 0.89 |")
    assert lines[paper + 1] == "|  | ours | 0.100 | 0.200 | 0.200 | 0.900 | 0.500 [0.400, 0.600] |"
    gan_r = lines.index(next(line for line in lines if line.startswith("| GAN_R | paper |")))
    assert gan_r + 1 == len(lines) or "| ours |" not in lines[gan_r + 1]  # no row of ours where we have none
    assert fmt_ci({"auc": 0.5, "auc_lo": float("nan"), "auc_hi": float("nan")}) == "0.500"
    assert markdown_table([{"a": 1.0}], ["a"]).splitlines() == ["| a |", "|---|", "| 1.000 |"]


def test_recorded_results_read_metrics_files(tmp_path):
    assert "No recorded results" in recorded_results(tmp_path)
    row = {"auc": 0.7, "auc_lo": 0.6, "auc_hi": 0.8, "precision": 0.5, "recall": 0.5, "sensitivity": 0.5,
           "specificity": 0.5}  # fmt: skip
    metrics = {"config": {"width": 16, "epochs": 6, "batch_size": 32, "lr_g": 2e-4, "lr_d": 5e-5, "steps": 100,
                          "lam": 0.1},
               "02_dcgan": {"wall_s": 120.0, "git_commit": "abcdef0123"},
               "05_evaluation": {"wall_s": 60.0, "git_commit": "abcdef0123",
                                 "results": {"fluid vs normal": {"methods": {"AnoGAN": row}},
                                             "B-scan: x": {"methods": {"AnoGAN": row}}}}}  # fmt: skip
    (tmp_path / "oct-cpu").mkdir()
    (tmp_path / "oct-cpu" / "metrics.json").write_text(json.dumps(metrics))
    lines = recorded_results(tmp_path).splitlines()
    assert any("fluid vs normal | AnoGAN | 0.89 | 0.700 [0.600, 0.800]" in line for line in lines)
    assert any("B-scan: x | AnoGAN |  | 0.700" in line for line in lines)  # no paper number at B-scan level
    summary = recorded_summary(tmp_path).splitlines()
    assert summary[2] == "| paper | fluid vs normal (Table 1) | 0.89 | 0.88 | 0.73 | 0.72 |"
    assert summary[3] == "| oct-cpu | fluid vs normal | 0.700 [0.600, 0.800] |  |  |  |"
    metrics["05_evaluation"]["results"]["fluid vs normal"]["floors"] = {"darkness (-mean)": {"auc": 0.65}}
    metrics["05_evaluation"]["results"]["B-scan: x"]["methods"]["darkness (-mean)"] = row | {"auc": 0.55}
    metrics["05_evaluation"]["results"]["domain: non-fluid vs normal"] = {"methods": {"AnoGAN": row}}
    (tmp_path / "oct-cpu" / "metrics.json").write_text(json.dumps(metrics))
    headline = {r["comparison"]: r for r in recorded_headline(tmp_path)}
    assert (headline["fluid vs normal"]["floor"], headline["fluid vs normal"]["paper"]) == (0.65, 0.89)
    assert (headline["B-scan: x"]["floor"], headline["B-scan: x"]["paper"]) == (0.55, None)
    assert headline["domain: non-fluid vs normal"]["paper"] is None  # the paper's 0.89 is fluid vs normal
    assert headline["fluid vs normal"]["auc_lo"] == 0.6 and headline["fluid vs normal"]["run"] == "oct-cpu"
    assert "oct-cpu" not in recorded_summary(tmp_path, provenance_lines=False).split("|")[-1]
    del metrics["05_evaluation"]["results"]["domain: non-fluid vs normal"]
    del metrics["05_evaluation"]["results"]["B-scan: x"]["methods"]["darkness (-mean)"]
    (tmp_path / "oct-cpu" / "metrics.json").write_text(json.dumps(metrics))
    aucs = recorded_aucs(tmp_path)
    assert [(r["comparison"], r["paper"], r["auc_lo"]) for r in aucs] == [("fluid vs normal", 0.89, 0.6),
                                                                          ("B-scan: x", None, 0.6)]  # fmt: skip
    recipe = "width 16, 6 epochs of batch 32, Adam lr_g 0.0002 / lr_d 5e-05, Gamma 100, lambda 0.1"
    assert f"- `oct-cpu`: commit abcdef0; {recipe}; chapters took 3 min in all." in lines
    metrics["config"]["map_starts"] = 64
    assert "Gamma 100 from the best of 64 starts, lambda 0.1;" in provenance("oct-cpu", metrics)
    metrics["config"]["resize_conv"] = True
    assert "lr_d 5e-05, G upsampling by resize-convolution, Gamma 100 from" in provenance("oct-cpu", metrics)
    metrics["config"].update(patch_region="retina", despeckle=5, residual_sigma=2.0)
    assert ("resize-convolution, patches from the retina only, scans despeckled (median 5), residual low-passed "
            "(sigma 2), Gamma 100") in provenance("oct-cpu", metrics)  # fmt: skip
    metrics["02_dcgan"]["results"] = {"train_s": 100.4}  # trained within the chapter's 120 s
    assert provenance("oct-cpu", metrics).endswith("chapters took 3 min in all, GAN training 100 s.")
    metrics["02_dcgan"]["wall_s"] = 5.0  # the chapter took less than the training: the GAN came from the cache
    assert provenance("oct-cpu", metrics).endswith(
        "chapters took 1 min in all, GAN training 100 s (cached from an earlier run)."
    )
    # recorded from a run elsewhere (scripts/table1.py): where the GAN trained and how much was scored
    metrics["02_dcgan"]["results"] |= {"trained_on": "cuda (H200)", "scored_patches": 256, "patch_level_patches": 6240}
    assert provenance("oct-cpu", metrics).endswith(
        "GAN trained on cuda (H200) in 100 s; 256 of the 6,240 patch-level test patches scored (scripts/table1.py)."
    )


def test_chance_sentence_names_scores_below_and_at_chance():
    methods = {"A": {"auc_lo": 0.30, "auc_hi": 0.45}, "B": {"auc_lo": 0.40, "auc_hi": 0.60},
               "C": {"auc_lo": 0.70, "auc_hi": 0.90}}  # fmt: skip
    text = chance_sentence(methods)
    assert "Below chance (the whole 95% interval under 0.5): A:" in text
    assert "holds 0.5): B." in text and "C" not in text
    assert chance_sentence({"C": methods["C"]}) == ""


def test_start_sentence_compares_one_random_start_with_the_pools():
    rows = [{"starts": 1, "Gamma": 0, "auc": 0.6}, {"starts": 1, "Gamma": 100, "auc": 0.915},
            {"starts": 64, "Gamma": 0, "auc": 0.8}, {"starts": 64, "Gamma": 100, "auc": 0.946}]  # fmt: skip
    assert start_sentence(rows, 100) == (
        "After 100 steps A(x) reaches AUC 0.915 from one random z_1 (the paper) against 0.946 from the best of 64 "
        "shared random starts."
    )
    assert start_sentence(rows[:2], 100) == ""


def test_remedy_sentence_reads_the_side_by_side():
    def row(a, lo, hi):
        return {"auc": a, "auc_lo": lo, "auc_hi": hi}

    table = {
        "Duke fluid vs Duke non-fluid": {
            "AnoGAN, paper's options": row(0.52, 0.44, 0.6),
            "AnoGAN, this profile": row(0.81, 0.75, 0.86),
            "darkness (-mean), this profile": row(0.68, 0.6, 0.75),
        },
        "Duke fluid vs Kermany normal": {
            "AnoGAN, this profile": row(0.7, 0.6, 0.8),
            "darkness (-mean), this profile": row(0.65, 0.5, 0.75),
        },
    }
    text = remedy_sentence(table)
    assert "*Duke fluid vs Duke non-fluid*: AnoGAN 0.520 [0.440, 0.600] with the paper's options, " in text
    assert "0.810 [0.750, 0.860] with this profile's, above the darkness floor (0.680)" in text
    assert "*Duke fluid vs Kermany normal*: AnoGAN 0.700 [0.600, 0.800] with this profile's, not clearly above" in text
    assert remedy_sentence({}) == ""
