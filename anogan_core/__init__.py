"""anogan_core: a tested replication of AnoGAN (Schlegl et al., IPMI 2017).

One module per concept: ``config`` (profiles, run directories), ``phantom`` (a
synthetic OCT phantom with ground truth), ``datasets`` (Kermany, Duke, your own
folder), ``preprocess`` (normalisation, resampling, flattening; Section 3),
``patches``, ``models`` (the DCGAN), ``training`` (Eq. 1-2), ``mapping``
(Eq. 3-6), ``baselines`` (aCAE, P_D), ``metrics`` (ROC, Youden, bootstrap),
``anomaly_maps`` (residual maps), ``figures``, ``report`` and ``pipeline`` (the
cached stages the book's chapters call).
"""

__version__ = "0.1.0"
