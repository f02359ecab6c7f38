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
# # 4. What D's features see: t-SNE of normal and anomalous patches (Figure 2b)
#
# **The paper.** A t-SNE embedding of normal (blue) and anomalous (red) images on
# the features of D's last convolution layer (Figure 2b) "illustrates the
# usability of the discriminator's features for anomaly detection".
#
# **Here.** The same embedding with openTSNE, and a number that says what the
# picture says: the cross-validated balanced accuracy of a 5-nearest-neighbour
# vote in D's feature space, next to the same number on raw pixels.

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
from openTSNE import TSNE

from anogan_core import figures, pipeline
from anogan_core.baselines import discriminator_features
from anogan_core.config import chapter_config
from anogan_core.metrics import knn_accuracy
from anogan_core.patches import decode
from anogan_core.report import banner, markdown_table

started = time.perf_counter()
cfg = chapter_config(globals())
display(Markdown(banner(cfg)))
PERPLEXITY = 30

# %%
train, test = pipeline.prepare_data(cfg)
G, D, _, _ = pipeline.trained_gan(cfg)
idx = pipeline.query_index(cfg, "sweep", train, test)
x = decode(test.x[idx])
labels = test.label[idx].astype(int)
features = discriminator_features(D, x)
print(f"{len(idx)} patch-level test patches ({labels.sum()} anomalous); f(x) has {features.shape[1]} dimensions")

# %%
embedding = np.asarray(
    TSNE(perplexity=min(PERPLEXITY, (len(idx) - 1) / 3), initialization="pca", random_state=seed, n_jobs=2).fit(
        features
    )
)
fig = figures.tsne_scatter(
    embedding,
    labels,
    x.squeeze(1).numpy(),
    f"t-SNE of D's last-conv features (perplexity {PERPLEXITY}, PCA init, seed {seed})",
)

# %%
acc_features = knn_accuracy(features, labels, seed=seed)
acc_pixels = knn_accuracy(x.flatten(1).numpy(), labels, seed=seed)
rows = [
    {"space": f"D's last-conv features f(x) ({features.shape[1]} dims)", "5-NN balanced accuracy": acc_features},
    {"space": "raw pixels (4096 dims)", "5-NN balanced accuracy": acc_pixels},
]
display(Markdown(markdown_table(rows, ["space", "5-NN balanced accuracy"])))
display(
    Markdown(
        f"5-NN balanced accuracy (5-fold CV): **{acc_features:.3f}** in D's feature space, "
        f"**{acc_pixels:.3f}** on raw pixels (0.5 is chance). The paper gives only the picture; "
        + (
            "D's features separate the classes better than pixels do, as the paper suggests."
            if acc_features > acc_pixels
            else "here D's features do *not* separate the classes better than raw pixels, "
            "unlike what the paper's picture suggests."
        )
    )
)
_ = pipeline.record(
    cfg,
    "04_tsne",
    {"knn_balanced_accuracy_features": acc_features, "knn_balanced_accuracy_pixels": acc_pixels, "n": len(idx)},
    started,
)
