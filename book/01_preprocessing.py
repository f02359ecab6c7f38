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
# # 1. Data and preprocessing (Section 3, Figure 1)
#
# **The paper.** Schlegl et al. train on 64x64 patches of healthy SD-OCT retina.
# Grey values are normalised to [-1, 1], each B-scan is resized laterally to
# ~22 um per column (about 256 columns), the top and bottom of the retina are
# found by a layer segmentation and the retina is flattened. Training patches
# come from healthy scans only; test patches from unseen healthy and fluid-bearing
# scans, a patch being positive if it holds at least one fluid pixel.
#
# **Here.** The same path for two sources: our synthetic phantom (which knows its
# true boundaries and fluid) and the public Kermany + Duke OCT scans. All logic
# is in `anogan_core.preprocess`, `anogan_core.patches` and
# `anogan_core.datasets`; this page calls it.

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
from anogan_core.config import ConfigError, chapter_config, resolve_data_dir
from anogan_core.datasets import load_duke, load_kermany
from anogan_core.patches import decode, sample_positions
from anogan_core.phantom import make_scans
from anogan_core.preprocess import prepare_scan, retina_mask
from anogan_core.report import banner, markdown_table

started = time.perf_counter()
cfg = chapter_config(globals())
display(Markdown(banner(cfg)))

# %% [markdown]
# ## Patch sets
# Training patches come from healthy scans only; every test patch keeps its
# label, scan, patient, position and fluid mask. The data stage is cached in the
# run directory, so later chapters reuse it.

# %%
train, test = pipeline.prepare_data(cfg)
record = pipeline.data_record(cfg)
rows = pipeline.count_table(train, test)
display(Markdown(markdown_table(rows, ["split", "group", "scans", "patients", "patches", "fluid patches"])))
print(
    f"loading {record['load_s']:.1f} s, preprocessing {record['preprocess_s']:.1f} s; "
    f"skipped scans (no detectable retina): {len(record['skipped'])}"
)
train_patients = {s["patient"] for s in train.scans}
assert not train_patients & {s["patient"] for s in test.scans}, "a patient is on both sides of the split"

# %% [markdown]
# A 64-row patch at ~3.9 um per row spans ~250 um axially, about a healthy
# retina's thickness, and 64 columns at 22 um span ~1.4 mm laterally. Patches are
# placed so that at least half of their pixels lie between the ILM and the bottom
# of the RPE, and none holds export padding or (for Duke) ungraded columns.

# %% [markdown]
# ## Figure 1: raw scan, boundaries, flattened retina, patches

# %%
examples = pipeline.example_scans(cfg, per_group=2)
scan, flat = next((s, f) for s, f in examples if not s.healthy and s.fluid is not None and s.fluid.any())
rng = np.random.default_rng(seed)
positions = sample_positions(flat, 12, 64, rng)
normal = decode(train.x[:4]).squeeze(1).numpy()
fluid_idx = np.flatnonzero(test.label == 1)[:4]
fig = figures.preprocessing_overview(
    flat.resampled,
    flat.raw_top,
    flat.raw_bottom,
    flat.image,
    flat.top,
    positions,
    normal,
    decode(test.x[fluid_idx]).squeeze(1).numpy(),
)

# %% [markdown]
# ## Detected boundaries on several scans
# Judge the segmentation yourself: yellow is the detected ILM, red the bottom of
# the RPE (the lowest bright band, which holds on thick edematous retinas where
# the brightest row is often not the RPE).

# %%
fig = figures.boundary_gallery(
    [f.resampled for _, f in examples[:9]],
    [f.raw_top for _, f in examples[:9]],
    [f.raw_bottom for _, f in examples[:9]],
    [f"{s.source} {s.label} {s.name}" for s, _ in examples[:9]],
)

# %% [markdown]
# ## How accurate is the flattening?
# On the phantom the truth is known. The mean absolute distance between detected
# and true boundaries, over all phantom scans shown here:

# %%
errors = pipeline.phantom_boundary_errors(seed, 6, cfg.column_um)
phantom_errors = {"ilm_mean_px": float(errors[:, 0].mean()), "rpe_mean_px": float(errors[:, 1].mean())}
print(
    f"ILM: {phantom_errors['ilm_mean_px']:.2f} px, RPE: {phantom_errors['rpe_mean_px']:.2f} px "
    f"(1 px ~ 3.9 um) over {len(errors)} phantom scans"
)

# %% [markdown]
# ## Phantom next to a real B-scan, and intensities after normalisation
# The phantom should look like OCT to a person; and the preprocessing is the same
# for every source, so that what tells sources apart is pathology, not export
# format.

# %%
phantom = make_scans(1, seed, diseased=True)[0]
try:
    real_root = resolve_data_dir("oct", data_dir or None)
except ConfigError:
    real_root = None
if real_root:
    kermany = load_kermany(real_root, classes=("NORMAL",))[:20]
    duke = load_duke(real_root)[:20]
    fig = figures.side_by_side(
        [phantom.image, kermany[0].image, duke[0].image], ["synthetic phantom (diseased)", "Kermany NORMAL", "Duke DME"]
    )
    values = {}
    for name, scans in (("Kermany NORMAL", kermany), ("Duke DME", duke)):
        flats = [prepare_scan(s, cfg.column_um, cfg.despeckle) for s in scans]
        values[name] = np.concatenate([f.image[retina_mask(f)] for f in flats])
    fig = figures.histograms(values, "normalised intensity inside the retina", "after the same preprocessing")
else:
    fig = figures.side_by_side([phantom.image], ["synthetic phantom (diseased)"])
    print("No real OCT data found (set ANOGAN_DATA): showing the phantom alone.")

# %% [markdown]
# ## What we found
# The printed numbers above are the evidence: boundary errors on the phantom,
# counts per split, and the preprocessing time. The paper does not report
# segmentation accuracy; it used a graph-based layer segmentation [15], and ours
# is a dynamic-programming minimum-cost path, the same family of method.

# %%
_ = pipeline.record(
    cfg,
    "01_preprocessing",
    {"counts": rows, "phantom_boundary_error": phantom_errors, "preprocess_s": record["preprocess_s"]},
    started,
)
