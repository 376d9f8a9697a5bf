"""Evaluation metrics: each a pipeline samples -> features -> statistics -> number.

FID (Heusel et al. 2017), Inception Score (Salimans et al. 2016), MMD and KID
(Gretton et al. 2012; Binkowski et al. 2018), the Sinkhorn divergence (Cuturi 2013;
Genevay et al. 2018), mode coverage on 2D mixtures (Srivastava et al. 2017) and the
per-class scores of class-conditional generators (:mod:`.conditional`) and the class
coverage of unconditional ones (:mod:`.classes`). Every metric
follows the one protocol of :mod:`gankit.metrics.base` and registers itself in
``gankit.registry.METRICS`` from its own module; importing this package registers them.
"""
from . import classes, conditional, fid, isc, kid, modes, prdc, sinkhorn, stacked  # noqa: F401
from .base import EvalData, Metric
from .features import FeatureStats, check_features
from .fid import fid_from_stats, frechet_distance, trace_sqrt_product
from .isc import MeanStd, inception_score
from .kid import kid_values, mmd2, poly_mmd2

__all__ = [
    "EvalData", "Metric", "FeatureStats", "check_features",
    "fid_from_stats", "frechet_distance", "trace_sqrt_product",
    "MeanStd", "inception_score", "kid_values", "mmd2", "poly_mmd2",
]
