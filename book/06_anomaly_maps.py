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
# # 6. Where the anomaly is: residual maps (Figure 3) and pixel-level evaluation
#
# **The paper.** The residual image x_R = |x - G(z_Gamma)| marks anomalous
# regions (Figure 3): for normal patches G(z) resembles the query, for fluid
# patches it does not, and every diseased example is flagged by both R(x) and
# D(x) at their cut-offs. The paper also shows a hyperreflective focus found
# without ever being annotated, but gives no pixel-level number.
#
# **Here.** Figure 3 for our data, then two things beyond the paper: the pixel
# AUROC and best Dice of the residual map against the fluid masks, and whole-B-scan
# anomaly maps stitched from overlapping patches mapped in one batch.

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
from anogan_core.anomaly_maps import bscan_anomaly_map, pixel_metrics
from anogan_core.config import chapter_config
from anogan_core.mapping import low_pass
from anogan_core.metrics import youden_stats
from anogan_core.patches import decode
from anogan_core.report import banner, markdown_table

started = time.perf_counter()
cfg = chapter_config(globals())
display(Markdown(banner(cfg)))

# %% [markdown]
# ## Figure 3

# %% tags=["hide-input"]
train, test = pipeline.prepare_data(cfg)
G, D, _, _ = pipeline.trained_gan(cfg)
anogan = pipeline.mapped(cfg, "feature", "test")
reference = pipeline.mapped(cfg, "feature", "train")
main_name, (idx, labels) = next(iter(pipeline.comparisons(test).items()))
cut_r = youden_stats(labels, anogan.residual[idx]).threshold
cut_d = youden_stats(labels, anogan.discrimination[idx]).threshold
rng = np.random.default_rng(seed)
normal_test = rng.choice(idx[labels == 0], 3, replace=False)
diseased = rng.choice(idx[labels == 1], 4, replace=False)
foci = np.flatnonzero((test.foci == 1) & (test.label == 0))[:1]
train_rows = pipeline.query_index(cfg, "train", train, test)[:3]
blocks = [
    ("normal (training scans)", 3),
    ("normal (test scans)", 3),
    ("diseased (test scans)", 4),
    ("hyperreflective foci", len(foci)),
]
test_pick = np.concatenate([normal_test, diseased, foci])
x = np.concatenate([decode(train.x[train_rows]).squeeze(1).numpy(), decode(test.x[test_pick]).squeeze(1).numpy()])
gz = np.concatenate([reference.generated[:3], anogan.generated[test_pick]])
res = np.abs(x - gz)
r = np.concatenate([reference.residual[:3], anogan.residual[test_pick]])
d = np.concatenate([reference.discrimination[:3], anogan.discrimination[test_pick]])
masks = np.concatenate([np.zeros((3, 64, 64), bool), test.mask[test_pick]])
fig = figures.anomaly_rows(x, gz, res, r >= cut_r, d >= cut_d, masks, [b[0] for b in blocks], [b[1] for b in blocks])
flagged = ((r >= cut_r) & (d >= cut_d))[6:10]
print(f"diseased examples flagged by both R and D: {flagged.sum()} of {len(flagged)}")

# %% [markdown]
# ## Pixel-level evaluation of the residual map
# Over every patch-level test patch from annotated scans (on the real data: the Duke
# test subjects' patches, with and without fluid), each pixel's residual is a score for
# 'fluid'. The trivial floor scores each pixel by its darkness (minus its grey value,
# after the same low-pass as the residual when `residual_sigma` > 0).

# %%
annotated = np.array([s["source"] in ("phantom", "duke", "folder") for s in test.scans])[test.scan]
sel = np.flatnonzero(annotated & np.isin(np.arange(len(test)), pipeline.patch_level(test)))
pixel = pixel_metrics(anogan.residual_image[sel], test.mask[sel])
darkness = -low_pass(decode(test.x[sel]), cfg.residual_sigma).squeeze(1).numpy()
pixel_floor = pixel_metrics(darkness, test.mask[sel])
rows = [
    {"pixel score": name, "pixel AUROC": m["pixel_auroc"], "best Dice": m["best_dice"]}
    for name, m in (("residual |x - G(z)|", pixel), ("darkness floor", pixel_floor))
]
display(Markdown(f"Over {len(sel)} patches:\n\n" + markdown_table(rows, ["pixel score", "pixel AUROC", "best Dice"])))

# %% [markdown]
# ## Whole-B-scan anomaly maps
# A 64x64 window slides over the retina with a stride of 16; all windows of a scan
# are mapped in one batch and their residuals averaged where they overlap.

# %%
examples = pipeline.fluid_example_scans(cfg)
scan_rows, seconds = [], []
for scan, flat in examples:
    t0 = time.perf_counter()
    heat, n_windows = bscan_anomaly_map(G, D, flat, 16, cfg.patch_region, **pipeline.mapping_settings(cfg))
    seconds.append(time.perf_counter() - t0)
    fig = figures.heatmap_overlay(flat.image, heat, flat.fluid, f"{scan.source} {scan.name}")
    scan_rows.append(
        {
            "scan": f"{scan.source} {scan.name}",
            "windows": n_windows,
            "seconds": seconds[-1],
            **pixel_metrics(heat, flat.fluid),
        }
    )
display(Markdown(markdown_table(scan_rows, ["scan", "windows", "seconds", "pixel_auroc", "best_dice"])))

# %% [markdown]
# ## Paper vs ours

# %%
display(
    Markdown(
        f"The paper shows Figure 3 without a pixel-level number. Our residual maps reach a pixel AUROC of "
        f"{pixel['pixel_auroc']:.3f} and a best Dice of {pixel['best_dice']:.3f} on annotated test patches "
        f"(the darkness of a pixel alone: {pixel_floor['pixel_auroc']:.3f} and {pixel_floor['best_dice']:.3f}), "
        "and the stitched "
        f"B-scan maps a mean pixel AUROC of {np.mean([r_['pixel_auroc'] for r_ in scan_rows]):.3f} "
        f"({np.mean(seconds):.1f} s per B-scan at Gamma = {cfg.steps}). In Figure 3, {flagged.sum()} of "
        f"{len(flagged)} diseased examples are flagged by both scores (the paper: all of them)."
    )
)
_ = pipeline.record(
    cfg,
    "06_anomaly_maps",
    {
        "pixel": pixel,
        "pixel_darkness_floor": pixel_floor,
        "bscans": scan_rows,
        "seconds_per_bscan": float(np.mean(seconds)),
    },
    started,
)
