"""Evaluation metrics: each a pipeline samples -> features -> statistics -> number.

FID (Heusel et al. 2017), Inception Score (Salimans et al. 2016), MMD and KID
(Gretton et al. 2012; Binkowski et al. 2018), and the log-domain Sinkhorn OT solver
(Cuturi 2013) that also serves the Sinkhorn loss. Importing this package registers the
``gankit eval`` metrics in ``gankit.registry.METRICS``.
"""
from .features import FeatureStats, check_features, extract_features, identity_features, stream_stats
from .fid import fid, fid_from_stats, frechet_distance, trace_sqrt_product
from .isc import MeanStd, inception_score
from .kid import kid, kid_values, mmd2, poly_mmd2
from ..ot import (SinkhornResult, cost_matrix, sinkhorn, sinkhorn_distance,
                       sinkhorn_divergence, sinkhorn_solve)
from . import evaluate  # noqa: F401  (registers fid, kid, is, mmd, sinkhorn)
from . import training  # noqa: F401  (fid, kid, is during training on image data)

__all__ = [
    "FeatureStats", "check_features", "extract_features", "identity_features", "stream_stats",
    "fid", "fid_from_stats", "frechet_distance", "trace_sqrt_product",
    "MeanStd", "inception_score", "kid", "kid_values", "mmd2", "poly_mmd2",
    "SinkhornResult", "cost_matrix", "sinkhorn", "sinkhorn_distance", "sinkhorn_divergence",
    "sinkhorn_solve",
]
