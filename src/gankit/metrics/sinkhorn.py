"""The Sinkhorn divergence as an evaluation metric (Cuturi 2013; Genevay et al. 2018).

    S_eps(P, Q) = 2 OT_eps(P, Q) - OT_eps(P, P) - OT_eps(Q, Q)

between the first ``sinkhorn_n`` real and fake feature vectors, with eps a fraction
(``sinkhorn_eps``) of their mean squared-Euclidean cost, solved by :mod:`gankit.ot`
(the solver the Sinkhorn loss also uses). The final marginal error is reported, and a
warning says when the iterations stopped before the tolerance.
"""
from __future__ import annotations

import warnings
from typing import Dict

import torch

from ..ot import cost_matrix, sinkhorn_divergence_solve
from .base import EvalData, Metric, register

SINKHORN_ITERS, SINKHORN_TOL = 1000, 1e-6


@register("sinkhorn")
class SinkhornMetric(Metric):
    """Sinkhorn divergence (Cuturi 2013; Genevay et al. 2018), eps relative to mean cost."""

    matrix = True
    raw_features = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        x = torch.from_numpy(d.real[:d.sinkhorn_n])
        y = torch.from_numpy(d.fake[:d.sinkhorn_n])
        eps = d.sinkhorn_eps * float(cost_matrix(x, y).mean())
        if not eps > 0:
            raise ValueError("sinkhorn: all real and fake features coincide (mean cost 0)")
        value, err = sinkhorn_divergence_solve(x, y, eps, SINKHORN_ITERS, SINKHORN_TOL)
        if err > SINKHORN_TOL:
            warnings.warn(f"sinkhorn: not converged in {SINKHORN_ITERS} iterations (marginal "
                          f"error {err:.2g} > {SINKHORN_TOL:g}); a larger --sinkhorn-eps "
                          "converges faster", stacklevel=2)
        return {"sinkhorn": float(value), "sinkhorn_eps": eps, "sinkhorn_marginal_error": err}
