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
# # 7. Beyond the paper: fast mapping with an encoder (f-AnoGAN)
#
# **The claim.** AnoGAN maps every query by Gamma backpropagation steps (Section 2.2):
# 100 steps at the `cpu` profile, 500 in the paper. Its authors' follow-up, f-AnoGAN
# (Schlegl et al., Medical Image Analysis 2019), trains an encoder E once, with G and D
# frozen, so that G(E(x)) reconstructs x in image space and in D's feature space (the
# izi_f architecture), and scores a query by one forward pass:
# A_izi_f(x) = A_R(x) + kappa A_D(x) with kappa = 1, both terms mean squared errors.
#
# **Here.** `anogan_core.encoder` trains E on the same normal training patches and the
# same frozen G and D as AnoGAN, and we set three scores side by side on the same test
# patches: AnoGAN's iterative mapping, the encoder alone, and a hybrid that starts the
# iterative mapping from E(x) and takes a few steps (`hybrid_steps`).

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

from anogan_core import figures, pipeline
from anogan_core.anomaly_maps import bscan_anomaly_map, bscan_encoder_map, pixel_metrics
from anogan_core.config import chapter_config
from anogan_core.metrics import summarize
from anogan_core.report import banner, fmt_ci, markdown_table

started = time.perf_counter()
cfg = chapter_config(globals())
display(Markdown(banner(cfg)))

# %% [markdown]
# ## Training the encoder
# E mirrors D and ends in tanh, so E(x) lies in the prior's box. It is trained by Adam
# on the mean izi_f loss for `encoder_epochs` epochs (G and D frozen, in eval mode).

# %%
train, test = pipeline.prepare_data(cfg)
G, D, _, _ = pipeline.trained_gan(cfg)
E = pipeline.trained_encoder(cfg)
enc_record = pipeline.encoder_record(cfg)
print(
    f"encoder: {enc_record['patches']} training patches, {cfg.encoder_epochs} epochs in {enc_record['train_s']:.0f} s; "
    "mean izi_f loss per epoch: " + ", ".join(f"{h['loss']:.4f}" for h in enc_record["history"])
)

# %% [markdown]
# ## Three ways to score the same patches
# AnoGAN's iterative mapping is the test-set mapping of chapter 3 (the same GAN). Each
# row gives the AUC with its 95% CI from a bootstrap over patients.

# %%
iterative = pipeline.mapped(cfg, "feature", "test")
izif, izif_s = pipeline.encoded(cfg)
hybrid, hybrid_index, hybrid_s = pipeline.hybrid_mapped(cfg)
hybrid_scores = np.full(len(test), np.nan)
hybrid_scores[hybrid_index] = hybrid.anomaly
methods = {
    f"AnoGAN, iterative (Gamma {cfg.steps})": iterative.anomaly,
    "f-AnoGAN izi_f encoder (one pass)": izif.anomaly,
    f"hybrid: {cfg.hybrid_steps} steps from E(x)": hybrid_scores,
}
patients = test.column("patient")
results = {}
for name, (idx, labels) in pipeline.comparisons(test).items():
    results[name] = {m: summarize(labels, s[idx], patients[idx], cfg.n_bootstrap, seed) for m, s in methods.items()}
    rows = [{"score": m, "AUC [95% CI]": fmt_ci(r)} for m, r in results[name].items()]
    display(Markdown(f"**{name}** ({len(idx)} patches)\n\n" + markdown_table(rows, ["score", "AUC [95% CI]"])))

# %% [markdown]
# ## Speed
# Seconds per 1,000 queries on this machine, each measured when its scores were computed
# (the iterative mapping in chapter 3, over the whole test set).

# %%
per_1000 = {
    f"AnoGAN, iterative (Gamma {cfg.steps})": 1000 * pipeline.mapping_seconds(cfg) / len(test),
    f"hybrid: {cfg.hybrid_steps} steps from E(x)": 1000 * hybrid_s / len(hybrid_index),
    "f-AnoGAN izi_f encoder (one pass)": 1000 * izif_s / len(test),
}
fig = figures.query_seconds(per_1000, f"{cfg.dataset}, {cfg.profile} profile, width {cfg.width}")
speedup = per_1000[f"AnoGAN, iterative (Gamma {cfg.steps})"] / per_1000["f-AnoGAN izi_f encoder (one pass)"]
print(f"the encoder scores {speedup:.0f}x faster than the iterative mapping")

# %% [markdown]
# ## Whole-B-scan maps with the encoder
# Chapter 6's stitched residual maps, with every window scored by the encoder instead of
# the iterative mapping, on the same example scans.

# %%
examples = pipeline.fluid_example_scans(cfg)
scan_rows = []
for scan, flat in examples:
    t0 = time.perf_counter()
    heat, n_windows = bscan_encoder_map(E, G, D, flat, 16, cfg.patch_region, cfg.kappa, cfg.residual_sigma)
    encoder_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    iterative_heat, _ = bscan_anomaly_map(G, D, flat, 16, cfg.patch_region, **pipeline.mapping_settings(cfg))
    iterative_s = time.perf_counter() - t0
    fig = figures.heatmap_overlay(flat.image, heat, flat.fluid, f"{scan.source} {scan.name}, encoder")
    scan_rows.append(
        {
            "scan": f"{scan.source} {scan.name}",
            "windows": n_windows,
            "encoder s": encoder_s,
            "iterative s": iterative_s,
            "encoder pixel AUROC": pixel_metrics(heat, flat.fluid)["pixel_auroc"],
            "iterative pixel AUROC": pixel_metrics(iterative_heat, flat.fluid)["pixel_auroc"],
        }
    )
display(Markdown(markdown_table(scan_rows, list(scan_rows[0]))))

# %% [markdown]
# ## What we found

# %%
main_name = next(iter(results))
main = results[main_name]
names = list(methods)
display(
    Markdown(
        f"On **{main_name}** the iterative AnoGAN reaches {fmt_ci(main[names[0]])}, the encoder alone "
        f"{fmt_ci(main[names[1]])} and the hybrid {fmt_ci(main[names[2]])} (the paper's AnoGAN: 0.89; "
        f"f-AnoGAN reports no number on this task). The encoder scores {speedup:.0f}x faster than "
        f"{cfg.steps} mapping steps ({per_1000[names[1]]:.2g} against {per_1000[names[0]]:.3g} s per 1,000 "
        f"queries), and a whole B-scan map takes {np.mean([r['encoder s'] for r in scan_rows]):.2f} s "
        f"instead of {np.mean([r['iterative s'] for r in scan_rows]):.1f} s."
    )
)
_ = pipeline.record(
    cfg,
    "07_fast_mapping",
    {
        "encoder": {"train_s": enc_record["train_s"], "history": enc_record["history"]},
        "results": results,
        "seconds_per_1000": per_1000,
        "speedup": speedup,
        "bscans": scan_rows,
    },
    started,
)
