"""anogan_core: a tested replication of AnoGAN (Schlegl et al., IPMI 2017).

One module per concept: ``config`` (profiles, run directories), ``phantom`` (a
synthetic OCT phantom with ground truth), ``datasets`` (Kermany, Duke, your own
folder), ``preprocess`` (normalisation, resampling, flattening; Section 3),
``patches``, ``models`` (the DCGAN), ``training`` (Eq. 1-2), ``mapping``
(Eq. 3-6), ``baselines`` (aCAE, P_D), ``metrics`` (ROC, Youden, bootstrap),
``diagnosis`` (why detection fails or works on real OCT), ``sample_quality``,
``anomaly_maps`` (residual maps), ``encoder`` (f-AnoGAN's izi_f, beyond the paper),
``figures``, ``report``, ``storage`` (atomic writes), ``pipeline`` (the cached
stages the book's chapters call), ``scaling`` (trends over scale), ``model_file`` (a
trained model in one file to carry: :func:`export_model`, :func:`load_model`),
``scoring`` (score new scans with a model file or a run: :func:`score_scans`),
``volumes`` (Heidelberg and DICOM OCT volumes), ``calibration`` (thresholds from held-out
healthy scans), ``budget`` (what fits a time budget on one device) and ``cli``
(``python -m anogan_core``).
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``anogan_core.score_scans``, ``load_model`` and ``export_model`` without importing torch at
    ``import anogan_core``."""
    if name in ("score_scans", "ScanScores"):
        from . import scoring

        return getattr(scoring, name)
    if name in ("load_model", "export_model", "Model"):
        from . import model_file

        return getattr(model_file, name)
    raise AttributeError(f"module 'anogan_core' has no attribute {name!r}")
