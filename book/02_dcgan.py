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
# # 2. A generative model of normal appearance (Section 2.1, Eq. 1-2)
#
# **The paper.** A DCGAN is trained on healthy patches only: G maps z ~ U(-1, 1)^100
# through four fractionally-strided 5x5 convolutions (512-256-128-64 channels) to a
# 64x64 patch; D has four strided 5x5 convolutions. D maximises Eq. 1, G is trained
# to fool D (Eq. 2), with Adam for 20 epochs. Experiment (1) of the paper asks
# qualitatively: *can the model generate realistic images?*
#
# **Here.** `anogan_core.models` holds both networks (one screen each),
# `anogan_core.training` the seeded, resumable training loop. The paper's recipe
# (Adam, lr 2e-4 for G and D, beta1 0.5) is the default of the `paper` profile. At
# the small width of the `cpu` profile, D wins that game within one epoch and G
# collapses to a few grainy modes. The `cpu` profile keeps the paper's learning
# rates but divides the weight of each of D's layers by its largest singular value
# (`spectral_norm`, Miyato et al., ICLR 2018), which bounds how fast D can pull
# ahead, and takes batches of 32 (twice the updates per epoch for 18% more time).
# Letting D learn 4x slower instead (`lr_d` 5e-5, a two time-scale update) also
# balances the game but leaves the layers of the samples faint and broken.
# `benchmarks/gan_recipe.py` measures these recipes side by side; rerun this chapter
# with `-p spectral_norm False` for the plain recipe.
#
# A 5x5 kernel at stride 2 covers the output grid unevenly (even pixels sum nine
# taps, odd ones four or six), which prints a checkerboard on the samples (Odena et
# al., Distill 2016). The `cpu` profile therefore ties each of G's 5x5 kernels to a
# 4x4 kernel convolved with a 2x2 box (`resize_conv`, `models.ResizeConvTranspose`):
# the layer keeps the paper's shape, stride and receptive field but is exactly
# nearest-neighbour upsampling followed by a 4x4 convolution, so every output pixel
# sums the same taps. `benchmarks/checkerboard.py` trains both side by side; rerun
# this chapter with `-p resize_conv False` for the paper's free kernels.

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
import dataclasses
import time

import numpy as np
import torch
from IPython.display import Markdown, display

from anogan_core import figures, pipeline
from anogan_core.config import chapter_config, pick_device
from anogan_core.models import sample_z
from anogan_core.patches import decode
from anogan_core.report import banner, markdown_table

started = time.perf_counter()
cfg = chapter_config(globals())
display(Markdown(banner(cfg)))
print(
    f"G/D width {cfg.width} (channels {8 * cfg.width}-{4 * cfg.width}-{2 * cfg.width}-{cfg.width}), "
    f"{cfg.epochs} epochs, batch {cfg.batch_size}, Adam lr {cfg.lr_g}/{cfg.lr_d}, beta1 {cfg.beta1}, "
    f"G upsampling: {'resize-convolution (tied 5x5 kernels)' if cfg.resize_conv else 'free 5x5 kernels (the paper)'}, "
    f"D: {'spectrally normalised' if cfg.spectral_norm else 'plain (the paper)'}"
)

# %%
train, _ = pipeline.prepare_data(cfg)
G, D, history, samples = pipeline.trained_gan(cfg)
record = pipeline.gan_record(cfg)
print(f"{len(train)} training patches; training took {record['train_s']:.0f} s on {record['device']}")

# %% [markdown]
# ## Losses and discriminator outputs

# %%
fig = figures.loss_curves(history)

# %% [markdown]
# ## Real training patches next to generated ones

# %%
gen = torch.Generator().manual_seed(seed)
real = decode(train.x[np.random.default_rng(seed).choice(len(train), 32, replace=False)]).squeeze(1).numpy()
with torch.no_grad():
    fake = G(sample_z(32, cfg.z_dim, gen, pick_device())).squeeze(1).float().cpu().numpy()
fig = figures.patch_grid(real, "real (healthy training patches)")
fig = figures.patch_grid(fake, "generated G(z), z ~ U(-1, 1)")

# %% [markdown]
# ## Samples from fixed z across epochs

# %%
fig = figures.samples_over_epochs(samples)

# %% [markdown]
# ## D's output on real and generated patches

# %%
from anogan_core.baselines import discriminator_score
from anogan_core.sample_quality import checkerboard_amplitude, speckle_statistics

n = min(1024, len(train))
real_x = decode(train.x[np.random.default_rng(seed + 1).choice(len(train), n, replace=False)])
with torch.no_grad():
    fake_x = G(sample_z(n, cfg.z_dim, gen, pick_device())).float().cpu()
d_real = 1 - discriminator_score(D, real_x)
d_fake = 1 - discriminator_score(D, fake_x)
fig = figures.histograms(
    {"real patches": d_real, "generated patches": d_fake},
    "D(.) = sigmoid(logit)",
    "discriminator output after training",
    bins=40,
)
# period-2 amplitude (anogan_core.sample_quality): the checkerboard of strided transposed convolutions;
# speckle: what is left after subtracting each pixel's 7x7 mean, its contrast and grain size
real_images, fake_images = real_x.squeeze(1).numpy(), fake_x.squeeze(1).numpy()
checker_real, checker_fake = checkerboard_amplitude(real_images), checkerboard_amplitude(fake_images)
speckle_real, speckle_fake = speckle_statistics(real_images), speckle_statistics(fake_images)
summary = [
    {"quantity": "training patches", "value": len(train)},
    {"quantity": "epochs x steps per epoch", "value": f"{cfg.epochs} x {len(train) // cfg.batch_size}"},
    {"quantity": f"training time ({record['device']})", "value": f"{record['train_s']:.0f} s"},
    {"quantity": "final D loss / G loss", "value": f"{history[-1]['loss_d']:.3f} / {history[-1]['loss_g']:.3f}"},
    {"quantity": "mean D(x) on real patches", "value": f"{d_real.mean():.3f}"},
    {"quantity": "mean D(G(z)) on generated patches", "value": f"{d_fake.mean():.3f}"},
    {"quantity": "checkerboard amplitude across columns, real / generated",
     "value": f"{checker_real[0]:.4f} / {checker_fake[0]:.4f}"},
    {"quantity": "checkerboard amplitude across rows, real / generated",
     "value": f"{checker_real[1]:.4f} / {checker_fake[1]:.4f}"},
    {"quantity": "speckle contrast (std of x minus its 7x7 mean), real / generated",
     "value": f"{speckle_real.contrast:.4f} / {speckle_fake.contrast:.4f}"},
    {"quantity": "speckle grain: neighbour correlation across columns, real / generated",
     "value": f"{speckle_real.correlation_across_columns:.3f} / {speckle_fake.correlation_across_columns:.3f}"},
    {"quantity": "speckle grain: neighbour correlation down rows, real / generated",
     "value": f"{speckle_real.correlation_down_rows:.3f} / {speckle_fake.correlation_down_rows:.3f}"},
]  # fmt: skip
display(Markdown(markdown_table(summary, ["quantity", "value"])))

# %% [markdown]
# ## Paper vs ours
# The paper shows realistic generated patches (its Figure 3, second row) but gives
# no number for realism. Ours, from the cells above:

# %%
gap = float(d_real.mean() - d_fake.mean())
display(
    Markdown(
        f"After {cfg.epochs} epochs at width {cfg.width} ({8 * cfg.width}-{4 * cfg.width}-{2 * cfg.width}-"
        f"{cfg.width} channels; the paper: 512-256-128-64 for 20 epochs), D gives real patches "
        f"{d_real.mean():.2f} and generated ones {d_fake.mean():.2f} on average. "
        + (
            "D still tells them apart easily: the generator has not caught up, and the mapping of the next "
            "chapter will reconstruct normal patches only coarsely."
            if gap > 0.5
            else "D no longer separates them well, the usual sign of a generator that has caught up; "
            "the sample grids show how close it came to layered, speckled retina."
        )
        + f" With {'tied (resize-convolution)' if cfg.resize_conv else 'free (the paper)'} 5x5 kernels in G, the"
        " period-2 (checkerboard) amplitude of the generated patches is "
        f"{checker_fake[0] / checker_real[0]:.1f} times that of real ones across columns and "
        f"{checker_fake[1] / checker_real[1]:.1f} times down the rows (1 would mean as much as real speckle "
        "has; below 1, the samples are smoother than real patches at the finest scale). Their speckle (each "
        f"pixel minus its 7x7 mean) has {speckle_fake.contrast / speckle_real.contrast:.2f} times the contrast "
        "of real speckle, and neighbouring pixels of it correlate "
        f"{speckle_fake.correlation_across_columns:.2f} across columns and {speckle_fake.correlation_down_rows:.2f} "
        f"down rows (real: {speckle_real.correlation_across_columns:.2f} and "
        f"{speckle_real.correlation_down_rows:.2f}; a larger correlation means a coarser grain that way, "
        "-0.02 independent pixels). Read the grids for what these numbers do not catch: repeated samples "
        "(mode collapse), and how crisp and continuous the layers are."
    )
)

# %%
results = {
    "train_s": record["train_s"],
    "device": record["device"],
    "patches": len(train),
    "final": history[-1],
    "d_real_mean": float(d_real.mean()),
    "d_fake_mean": float(d_fake.mean()),
    "checkerboard_real": checker_real,
    "checkerboard_generated": checker_fake,
    "speckle_real": dataclasses.asdict(speckle_real),
    "speckle_generated": dataclasses.asdict(speckle_fake),
}
_ = pipeline.record(cfg, "02_dcgan", results, started)
