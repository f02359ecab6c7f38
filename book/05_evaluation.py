# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. Detecting anomalous patches: Table 1 and Figure 4 (Section 3)
#
# **The paper.** On 8192 test patches, AnoGAN's score A(x) reaches AUC 0.89,
# GAN_R (Yeh's discrimination loss) 0.88, an adversarial convolutional
# autoencoder (aCAE) 0.73 and the bare discriminator output P_D 0.72. Table 1 gives
# precision, recall, sensitivity and specificity at the Youden-index cut-off.
#
# **Here.** The same four methods on the same healthy training patches and the
# same test set, with 95% confidence intervals from a bootstrap over patients
# (patches of one scan are correlated), trivial floors that show what the GAN
# adds, and, on real data, the protocol's three patch-level comparisons plus a
# B-scan-level test.

# %% tags=["parameters"]
profile = "smoke"
dataset = "synthetic"
data_dir = ""
seed = 0
width = None  # None keeps the profile's value
epochs = None
steps = None
lam = None
lr_d = None  # discriminator learning rate (the paper: 2e-4, as lr_g)
map_starts = None  # start each mapping from the best of this many random z (the paper: 1)
resize_conv = None  # True: G upsamples by nearest-neighbour resize and a 4x4 convolution (the paper: False)
spectral_norm = None  # True: D's layers are spectrally normalised (the paper: False)
gan_seed = None  # another draw of the GAN's initial weights, shuffling and z (default 0)
patch_region = None  # 'retina': patches between ILM and RPE only (the paper's window also takes vitreous, choroid)
despeckle = None  # median filter window in pixels over every scan, 0 for none (the paper: 0)
residual_sigma = None  # Gaussian low-pass (pixels) of both images of the residual, Eq. 3 (the paper: 0)
encoder_epochs = None  # beyond the paper: epochs of the izi_f encoder of chapter 7 (f-AnoGAN)
kappa = None  # weight of the feature residual in the izi_f loss and score (f-AnoGAN: 1)
hybrid_steps = None  # mapping steps started from the encoder's z in chapter 7

# %% tags=["hide-input"]
import time

import numpy as np
from IPython.display import Markdown, display

from anogan_core import diagnosis, figures, pipeline
from anogan_core.baselines import acae_scores, discriminator_score, floor_scores
from anogan_core.config import chapter_config, project_root
from anogan_core.patches import decode
from anogan_core.report import (
    BMAD_F_ANOGAN_AUROC,
    banner,
    chance_sentence,
    fmt_ci,
    markdown_table,
    remedy_sentence,
    table1,
)
from anogan_core.scaling import headline_spread, spread_table

started = time.perf_counter()
cfg = chapter_config(globals())
display(Markdown(banner(cfg)))

# %% [markdown]
# ## Scores of every method on the test patches

# %%
train, test = pipeline.prepare_data(cfg)
G, D, _, _ = pipeline.trained_gan(cfg)
anogan = pipeline.mapped(cfg, "feature", "test")
gan_r = pipeline.mapped(cfg, "yeh", "test")
reference = pipeline.mapped(cfg, "feature", "train")  # normal training patches, Figure 4c/d
x_test = decode(test.x)
acae = acae_scores(pipeline.trained_acae(cfg), x_test, cfg.lam)
scores = {
    "aCAE": acae["anomaly"],
    "P_D": discriminator_score(D, x_test),
    "GAN_R": gan_r.anomaly,
    "AnoGAN": anogan.anomaly,
}
components = {"R(x)": anogan.residual, "D(x)": anogan.discrimination, "D^(x)": gan_r.reference}
floors = floor_scores(test.x)
patients = test.column("patient")
print(
    f"mapping time: AnoGAN {pipeline.mapping_seconds(cfg, 'feature'):.0f} s, "
    f"GAN_R {pipeline.mapping_seconds(cfg, 'yeh'):.0f} s for {len(test)} patches x {cfg.steps} steps"
)

# %% [markdown]
# ## Table 1, per comparison

# %%
results = pipeline.table1_results(test, scores, components, floors, cfg.n_bootstrap, seed)
# the cpu profile on oct as recorded: its spread over GAN seeds (benchmarks/scaling.py --test-spread)
headline_run = (cfg.profile, cfg.dataset, cfg.overrides, cfg.seed) == ("cpu", "oct", {}, 0)
spread = headline_spread(project_root() / "results" / "scaling")
for name, (idx, labels) in pipeline.comparisons(test).items():
    display(
        Markdown(
            f"### {name}\n{len(idx)} patches ({labels.sum()} positive) from "
            f"{len(set(patients[idx]))} patients.\n\n" + table1(results[name]["methods"])
        )
    )
    seeds = spread.get(name, {}) if headline_run else {}
    if seeds:  # the recorded headline over GAN seeds: how much of it is one run's luck
        display(Markdown(spread_table({**results[name]["methods"], **results[name]["floors"]}, seeds)))
    parts = {**results[name]["components"], **results[name]["floors"]}
    rows = [{"score": m, "AUC [95% CI]": fmt_ci(r)} for m, r in parts.items()]
    display(Markdown("Score components and trivial floors:\n\n" + markdown_table(rows, ["score", "AUC [95% CI]"])))

# %% [markdown]
# ## Figure 4
# (a) the four methods, (b) the components of the score, on the main comparison;
# (c, d) the distributions of R(x) and D(x) over normal training patches, normal
# test patches and anomalous test patches.

# %%
main_name = next(iter(results))
idx, labels = pipeline.comparisons(test)[main_name]
aucs = {m: f"AUC {r['auc']:.2f}" for m, r in results[main_name]["methods"].items()}
fig = figures.roc_figure({m: (labels, s[idx]) for m, s in scores.items()}, f"(a) {main_name}", aucs)
aucs = {m: f"AUC {r['auc']:.2f}" for m, r in results[main_name]["components"].items()}
fig = figures.roc_figure({m: (labels, s[idx]) for m, s in components.items()}, "(b) score components", aucs)
for title, test_score, train_score in (
    ("(c) residual score R(x)", anogan.residual, reference.residual),
    ("(d) discrimination score D(x)", anogan.discrimination, reference.discrimination),
):
    fig = figures.histograms(
        {
            "normal, training set": train_score,
            "normal, test set": test_score[idx][labels == 0],
            "anomalous, test set": test_score[idx][labels == 1],
        },
        title.split(" ", 1)[1],
        title,
        bins=40,
    )

# %% [markdown]
# ## B-scan level (beyond the paper)
# On the real data, held-out Kermany NORMAL scans against CNV, DME and DRUSEN
# scans. A scan's score is the mean of the top quarter of its patch scores
# (`pipeline.scan_scores`). The floor is retina thickness.

# %%
bscan = pipeline.bscan_level(test, {**scores, **floors}, cfg.n_bootstrap, seed)
if bscan:
    rows_by_score, n_scans, n_diseased = bscan
    at_threshold = pipeline.bscan_at_threshold(test, {**scores, **floors}) or {}
    results["B-scan: Kermany NORMAL vs CNV/DME/DRUSEN"] = {"methods": rows_by_score}
    results["B-scan at the validation threshold"] = at_threshold
    pair = lambda r: f"{r['sensitivity']:.2f} / {r['specificity']:.2f}" if r else ""
    rows = [
        {"score": m, "AUC [95% CI]": fmt_ci(r), "sens / spec, Youden": pair(r),
         "sens / spec, 5% FPR on validation": pair(at_threshold.get(m))}
        for m, r in rows_by_score.items()
    ]  # fmt: skip
    rows.append({"score": "f-AnoGAN, BMAD (2023), same Kermany set", "AUC [95% CI]": f"{BMAD_F_ANOGAN_AUROC:.3f}"})
    table = markdown_table(rows, ["score", "AUC [95% CI]", "sens / spec, Youden", "sens / spec, 5% FPR on validation"])
    calibrated = next(iter(at_threshold.values()), None)
    note = (f" The second threshold is the scan score that 5% of the {calibrated['n_calibration']} healthy validation "
            "scans exceed (no test label chooses it; `anogan score` labels scans the same way); Youden's cut-off "
            "is chosen on the test labels themselves and flatters.") if calibrated else ""  # fmt: skip
    display(Markdown(f"{n_scans} scans ({n_diseased} diseased).{note}\n\n{table}"))
    seeds = spread.get("B-scan: Kermany NORMAL vs CNV/DME/DRUSEN", {}) if headline_run else {}
    if seeds:
        display(Markdown(spread_table(rows_by_score, seeds)))
else:
    print("No Kermany disease classes in this dataset: the B-scan-level test needs DATASET=oct.")

# %% [markdown]
# ## Why AnoGAN fails or works on real OCT (beyond the paper)
# With the paper's options at this scale AnoGAN separates the phantom's fluid well but
# is near chance on real OCT, even for patches that are mostly fluid. Four causes could
# be ours to fix; each remedy is a named option (chapter parameters `residual_sigma`,
# `patch_region`, `despeckle`) that the `paper` profile leaves off:
#
# * **Speckle.** Eq. 3 sums pixel-wise differences, and OCT speckle cannot be
#   reproduced pixel for pixel, so R(x) mostly measures speckle energy, which is higher
#   in bright tissue; fluid is dark. Remedies: a residual between Gaussian low-passed
#   images (`residual_sigma`, in the mapping loss and in the score alike), or despeckled
#   scans (`despeckle`, a median filter) for training and queries.
# * **What the model of normal appearance sees.** The paper's patch window also takes
#   vitreous and choroid, so G learns to paint large smooth dark areas, and the mapping
#   fits a cyst with one. Remedy: patches between the ILM and the RPE only
#   (`patch_region='retina'`).
# * **Confounders.** Brightness and depth in the retina differ between fluid and
#   normal patches; the panels below measure the AUC within each of them.
# * **The scanner.** Duke's scans have less and coarser speckle than Kermany's (the
#   appearance table below), so a model trained on Kermany can flag Duke patches for
#   their scanner alone; the `duke` dataset trains on Duke itself (leave-subjects-out)
#   to take the scanner out.
#
# The options were chosen on a validation split (held-out healthy training patients and
# 3 of the 10 Duke subjects, never a test patient) by `python benchmarks/real_detection.py`,
# which prints eight variants side by side: on Duke fluid vs Duke non-fluid the AUC of
# A(x) is 0.535 with the paper's window and residual, 0.567 with the low-passed residual,
# 0.493 with retina-only patches, 0.648 with both (the `cpu` profile), and 0.44-0.48 with
# despeckled scans, which raised only the comparisons against Kermany by making Duke
# look more foreign (Duke non-fluid vs Kermany normal 0.63-0.66). More capacity did not
# help measurably: twice the width (32, with both options) reached 0.582 for three times the
# GAN training (1,132 s against about 380 s), beyond the hour of the book, and over three GAN
# seeds 0.602 (0.583 to 0.632) against 0.569 (0.522 to 0.622) at width 16. No variant reached
# the validation darkness floor (0.724 on retina-only patches). Every number below is on
# the test split: on the left the paper's options at this profile's scale, on the right
# this profile.
#
# Whether more healthy scans, a wider model or longer training would change the verdict, and
# how far one run's luck moves it, is measured over GAN seeds in {doc}`08_scale`.

# %%
paper_like = pipeline.with_paper_options(cfg)
configs = {"paper's options": paper_like, "this profile": cfg} if paper_like != cfg else {"this profile": cfg}
variants = {label: diagnosis.variant_scores(c) for label, c in configs.items()}
table = diagnosis.side_by_side(variants, cfg.n_bootstrap, seed)
columns = list(next(iter(table.values())))
rows = [{"comparison": name, **{c: fmt_ci(r[c]) for c in columns}} for name, r in table.items()]
display(Markdown("AUC [95% CI], test split:\n\n" + markdown_table(rows, ["comparison", *columns])))

# %% [markdown]
# Where the AUC comes from, on the comparison without a scanner shift: by the fluid's
# share of the patch, and within quartiles of brightness and of depth (a score that only
# tracks a confounder is at chance within its quartiles). Then R(x) against brightness.

# %%
why = {"side_by_side": table, "factors": {}, "spearman_R_brightness_normal": {}}
for label, v in variants.items():
    within, idx, labels = v.within_scanner()
    why["factors"][label] = diagnosis.auc_by_factor(v.test, idx, labels, v.scores())
    fig = figures.auc_by_bins(why["factors"][label])
    fig.suptitle(f"{within}, {label}", fontsize=10)
    normal = v.index[v.test.label[v.index] == 0]
    rho = diagnosis.brightness_correlation(v.test, normal, v.scores()["R(x)"])
    why["spearman_R_brightness_normal"][label] = rho
    fig = figures.score_against_brightness(
        diagnosis.patch_brightness(v.test)[v.index], {"R(x)": v.result.residual}, v.test.label[v.index],
        f"{label}; Spearman with brightness on normal patches {rho:.2f}",
    )  # fmt: skip

# %% [markdown]
# What each source looks like to a model trained on one scanner: mean grey value and
# speckle (contrast and grain of what is left after a 7x7 local mean) of this profile's
# patch-level test patches, per source and label.

# %%
v = variants["this profile"]
appearance = diagnosis.appearance_by_group(v.test, v.index)
display(Markdown(markdown_table(appearance, list(appearance[0]))))
why["appearance"] = appearance

# %% [markdown]
# The fluid patches that this profile's AnoGAN ranks as most normal: the query, G(z)
# after the mapping, the residual and the fluid mask.

# %%
_, idx, labels = v.within_scanner()
miss = idx[diagnosis.worst_misses(labels, v.scores()["A(x)"][idx], 6)]
at = np.searchsorted(v.index, miss)
flags = np.zeros(len(miss), bool)
fig = figures.anomaly_rows(
    decode(v.test.x[miss]).squeeze(1).numpy(), v.result.generated[at], v.result.residual_image[at], flags, flags,
    v.test.mask[miss], ["the six worst misses"], [len(miss)], caption="fluid patches ranked most normal by A(x)",
)  # fmt: skip
results["why"] = why

# %% [markdown]
# ## Paper vs ours

# %%
m = results[main_name]["methods"]
order = sorted(m, key=lambda k: -m[k]["auc"])
same_rank = order == ["AnoGAN", "GAN_R", "aCAE", "P_D"] or order == ["AnoGAN", "GAN_R", "P_D", "aCAE"]
darkness = results[main_name]["floors"]["darkness (-mean)"]["auc"]
display(
    Markdown(
        f"On *{main_name}* the paper reports AUC 0.89 (AnoGAN), 0.88 (GAN_R), 0.73 (aCAE), 0.72 (P_D). We measure "
        + ", ".join(f"{k} {fmt_ci(m[k])}" for k in ("AnoGAN", "GAN_R", "aCAE", "P_D"))
        + f". The ranking {'matches' if same_rank else 'differs from'} the paper's (ours: {' > '.join(order)})."
        + chance_sentence(m)
        + " "
        + f"The darkness floor alone reaches {darkness:.3f}: "
        + (
            "AnoGAN adds to it."
            if m["AnoGAN"]["auc_lo"] > darkness
            else "AnoGAN does not clearly beat it at this profile."
        )
        + f" Differences from the paper come from data ({cfg.dataset}; the paper used 270 in-house Spectralis "
        f"volumes), scale (profile {cfg.profile}) and protocol. Side by side with the paper's options for real "
        "OCT at this scale: " + remedy_sentence(table)
    )
)
_ = pipeline.record(cfg, "05_evaluation", results, started)
