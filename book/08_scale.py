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
# # 8. Beyond the paper: does scale explain the real-OCT failure?
#
# **The question.** On real OCT, AnoGAN at the `cpu` profile stays below a trivial darkness
# score (chapter 5). The paper trained a DCGAN with 512-256-128-64 channels for 20 epochs on
# 1,000,000 patches from about 13,000 healthy B-scans; the `cpu` profile trains a quarter of
# the channels (width 16) for 6 epochs on about 21,000 patches from 178 healthy B-scans. Is the
# failure AnoGAN itself, too small a model, too little healthy anatomy, too short a training,
# or one unlucky run?
#
# **How.** `python benchmarks/scaling.py` trains the `cpu` recipe with one change at a time, each
# with three draws of the GAN (`gan_seed`: initial weights, shuffling and z, on the same data):
# the number N of healthy training scans at a fixed number of patches and updates (so only the
# variety of normal anatomy changes), the width, and twice the updates. Every point is scored on
# the *validation* split (held-out healthy training patients and 3 of Duke's 10 subjects), with
# the same iterative mapping; no test label is read. The phantom, where AnoGAN works, is the
# control for the seed and N series. Each series is fitted with a line in log2 of its scale
# (`anogan_core.scaling`), with a 95% interval on its slope.
#
# This page reads the points recorded in `results/scaling/`; a point not yet run is absent.

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
from IPython.display import Markdown, display

from anogan_core import figures
from anogan_core.config import chapter_config, project_root
from anogan_core.report import PAPER_TABLE1, banner, markdown_table
from anogan_core.scaling import (
    COLUMNS,
    NOTHING_RECORDED,
    POINTS,
    SERIES,
    curve_panels,
    darkness_floor,
    findings,
    load_points,
    summary_rows,
)

cfg = chapter_config(globals())
display(Markdown(banner(cfg) + " This page reads recorded numbers only."))
rows = load_points(project_root() / "results" / "scaling")
AXES = {"N": "healthy training scans (log scale)", "width": "width (log scale)", "updates": "updates (log scale)"}

# %% [markdown]
# ## The points
# AUC of A(x) on the validation split: mean ± sd [min, max] over GAN seeds; the phantom's
# fluid vs normal on its test patches; seconds of GAN training and of mapping (means).

# %%
if rows:
    display(Markdown(markdown_table(summary_rows(rows), ["point", "seeds", *COLUMNS])))
else:
    planned = [{"point": p, "change to the cpu recipe": str(o or "none")} for p, o in POINTS.items()]
    display(Markdown(f"_{NOTHING_RECORDED}: the planned points, each with 3 GAN seeds._\n\n"
                     + markdown_table(planned, ["point", "change to the cpu recipe"])))  # fmt: skip

# %% [markdown]
# ## The curves
# Each panel: every seed (dots), the mean per scale with ± 1 sd (line) and the fitted trend
# (dashed), against the darkness floor of the same validation patches (dotted).

# %%
floor = darkness_floor(rows)
for axis, points in SERIES.items():
    panels = curve_panels(rows, axis)
    if panels:  # a series of one scale so far is drawn without a trend
        floors = {"real OCT, validation split": {"darkness floor": floor}} if floor is not None else {}
        fig = figures.scaling_curves(panels, AXES[axis], floors)
    else:
        print(f"{axis}: no point recorded yet ({', '.join(points)})")

# %% [markdown]
# ## What we found

# %%
display(Markdown(findings(rows, PAPER_TABLE1["AnoGAN"]["auc"])))
