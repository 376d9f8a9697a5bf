"""Entropic optimal transport by Sinkhorn iterations, stabilised.

Implements Cuturi (2013, "Sinkhorn Distances: Lightspeed Computation of Optimal
Transport", Algorithm 1) for batches of m samples: with K = exp(-C / eps),

    a <- 1 / (K b),   b <- 1 / (K^T a),   OT_eps = sum_ij C_ij a_i K_ij b_j.

Two paths solve it. The default ("scaling") keeps these matrix-vector iterations, as
fast as plain Sinkhorn, but on a stabilised kernel K~_ij = exp((f_i + g_j - C_ij) / eps)
whose dual potentials f, g absorb the scalings whenever these grow large, so nothing
overflows or underflows where it matters (Schmitzer 2019, "Stabilized Sparse Scaling
Algorithms for Entropy Regularized Transport Problems": log-domain stabilisation by
absorption, and eps-scaling: eps is lowered geometrically from max |C| to its target);
the iterations at the target eps are over-relaxed (Thibault et al. 2017, "Overrelaxed
Sinkhorn-Knopp Algorithm for Regularized Optimal Transport"), and the self-transport
terms of the debiased divergence take the symmetric update f <- (f + T(f)) / 2 (Feydy
et al. 2019, "Interpolating between Optimal Transport and MMD using Sinkhorn
Divergences"). The "log" path runs the same iterations on the scaled dual potentials
u = log a, v = log b with log-sum-exp (Peyre & Cuturi 2019, "Computational Optimal
Transport", Remark 4.23), from v = 0, and is differentiable:

    u_i = log mu_i - LSE_j(v_j - C_ij / eps),   v_j = log nu_j - LSE_i(u_i - C_ij / eps),
    P_ij = exp(u_i + v_j - C_ij / eps).

Both reach the same fixed point; BENCHMARKS.md (Metrics, Sinkhorn) times them against POT.
A third, ``rho`` given, solves unbalanced transport, the marginals relaxed into KL
penalties (:mod:`gankit.ot.unbalanced`; Chizat et al. 2018).

The marginals mu, nu default to uniform probability vectors (all-ones marginals,
as in Cuturi's Algorithm 1, give n times the same cost). One solver serves the metric
(:func:`sinkhorn_distance`, :func:`sinkhorn_divergence`) and the Sinkhorn GAN loss
(Genevay, Peyre & Cuturi 2018, "Learning Generative Models with Sinkhorn
Divergences"): it is batched over leading dimensions and differentiable.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor

from .logdomain import _check_inputs, _check_mass, _log_solve, _log_weights
from .scaling import _OMEGA_MAX, _fast_solve, _Relaxation  # noqa: F401  (tests read these)
from .unbalanced import solve_unbalanced


class SinkhornResult(NamedTuple):
    """Output of :func:`sinkhorn_solve`; potentials are f = eps u and g = eps v."""

    cost: Tensor  # (...,) transport cost sum_ij C_ij P_ij
    plan: Tensor  # (..., n, m) transport plan P
    f: Tensor  # (..., n) dual potential of the rows
    g: Tensor  # (..., m) dual potential of the columns
    n_iters: int  # iterations run
    err: float  # final L1 error of the row marginal (columns are exact)


def sinkhorn_solve(C: Tensor, eps: float, n_iters: int = 100, tol: float = 1e-6,
                   a: Optional[Tensor] = None, b: Optional[Tensor] = None,
                   check_every: int = 10, grad: str = "autograd",
                   method: str = "auto", symmetric: bool = False,
                   rho: Optional[float] = None) -> SinkhornResult:
    """Sinkhorn (Cuturi 2013, Alg. 1) on cost matrices C of shape (..., n, m).

    Runs at most ``n_iters`` iterations (Cuturi's L), stopping early once the L1
    error of the row marginal is below ``tol`` (checked every ``check_every``
    iterations; ``tol=0`` runs all L). ``a``, ``b``: positive marginal weights
    (default uniform). ``grad="autograd"`` differentiates through the unrolled
    iterations; ``grad="envelope"`` runs them without a graph and lets the gradient
    of the cost with respect to C be the plan P (the plan is held fixed).

    ``method="scaling"``: matrix-vector iterations on a stabilised kernel with
    absorption and eps-scaling (Schmitzer 2019), over-relaxed at the target eps
    (Thibault et al. 2017); ``n_iters`` counts the iterations at every eps of the
    ladder (a few at each eps above the target), and should they ever meet inf or NaN
    the log path finishes the solve. It builds no autograd graph. ``"log"``:
    log-sum-exp iterations from v = 0 (Peyre & Cuturi 2019, Remark 4.23),
    differentiable. ``"auto"`` takes "scaling" unless a graph through the iterations
    is needed (``grad="autograd"`` on inputs that require grad). Both stop at the same
    error and agree to about ``tol`` in the plan, to round-off once converged.
    ``symmetric=True`` (C symmetric, a = b; C is symmetrised): the averaged update of
    Feydy et al. 2019 on the scaling path, one product per iteration; its
    error is that of both marginals.

    ``rho``: unbalanced transport (:mod:`gankit.ot.unbalanced`), the marginals relaxed
    into rho KL penalties (Chizat et al. 2018); ``cost`` is then that problem's objective
    at the returned plan (its optimal value once converged, an upper bound before),
    whose gradient in C is the plan, ``err`` the last change of the row marginal,
    and the plan satisfies P_ij = a_i b_j exp((f_i + g_j - C_ij) / eps). No graph
    through the iterations (``grad="envelope"`` only); ``method`` is ignored.
    """
    if grad not in ("autograd", "envelope"):
        raise ValueError(f"grad must be 'autograd' or 'envelope', got {grad!r}")
    if method not in ("auto", "scaling", "log"):
        raise ValueError(f"method must be 'auto', 'scaling' or 'log', got {method!r}")
    if check_every < 1:
        raise ValueError(f"check_every must be >= 1, got {check_every}")
    top = _check_inputs(C, eps, n_iters)
    n, m = C.shape[-2:]
    log_a, log_b = _log_weights(a, C, n, "a"), _log_weights(b, C, m, "b")
    if symmetric and not (n == m and torch.equal(log_a, log_b)):
        raise ValueError("symmetric=True needs a square C and a = b")
    if rho is not None:
        return _unbalanced(C, eps, rho, log_a, log_b, n_iters, tol, check_every, grad,
                           symmetric, top)
    _check_mass(log_a, log_b)
    graph = torch.is_grad_enabled() and grad == "autograd" and any(
        t is not None and torch.is_tensor(t) and t.requires_grad for t in (C, a, b))
    if method == "scaling" and graph:
        raise ValueError("method='scaling' builds no autograd graph; use grad='envelope' "
                         "or method='log'")
    if method == "log" or graph:
        plan, f, g, iters, err = _log_solve(C, eps, log_a, log_b, n_iters, tol, check_every,
                                            grad)
    else:
        with torch.no_grad():
            plan, f, g, iters, err = _fast_solve(C.detach(), eps, log_a, log_b, n_iters, tol,
                                                 check_every, symmetric, top)
    cost = torch.einsum("...ij,...ij->...", C, plan)  # sum_ij C_ij P_ij, no n x m temporary
    if not torch.isfinite(cost).all():
        raise ValueError(f"Sinkhorn cost is not finite at eps = {eps:g} in {C.dtype}; use a "
                         "larger eps or float64")
    return SinkhornResult(cost, plan, f, g, iters, err)


def _unbalanced(C, eps, rho, log_a, log_b, n_iters, tol, check_every, grad, symmetric,
                top) -> SinkhornResult:
    if not (rho > 0 and math.isfinite(rho)):
        raise ValueError(f"rho must be positive and finite, got {rho}")
    if grad != "envelope" and torch.is_grad_enabled() and C.requires_grad:
        raise ValueError("unbalanced Sinkhorn (rho) differentiates through the plan only: "
                         "use grad='envelope'")
    plan, f, g, value, iters, err = solve_unbalanced(C, eps, rho, log_a, log_b, n_iters, tol,
                                                     check_every, symmetric, top)
    # the value, with the gradient in C of the optimum: the plan (envelope theorem)
    lin = torch.einsum("...ij,...ij->...", C, plan)
    return SinkhornResult(lin + (value - lin).detach(), plan, f, g, iters, err)


def sinkhorn(C: Tensor, eps: float, n_iters: int = 100, tol: float = 1e-6,
             a: Optional[Tensor] = None, b: Optional[Tensor] = None, **kw) -> Tensor:
    """Transport cost sum_ij C_ij P_ij of the entropic plan (Cuturi 2013), shape (...,).

    See :func:`sinkhorn_solve` for the arguments and for the plan and potentials.
    """
    return sinkhorn_solve(C, eps, n_iters, tol, a, b, **kw).cost


def _sqdist(x: Tensor, y: Tensor) -> Tensor:
    xx = (x * x).sum(-1, keepdim=True)
    yy = (y * y).sum(-1).unsqueeze(-2)
    return (xx + yy - 2.0 * x @ y.transpose(-2, -1)).clamp_min(0.0)


def cost_matrix(x: Tensor, y: Tensor, kind: str = "sqeuclidean") -> Tensor:
    """Pairwise costs between x (..., n, d) and y (..., m, d): (..., n, m).

    ``sqeuclidean`` ||x - y||^2, ``euclidean`` ||x - y|| (gradient 0 at distance 0),
    or ``cosine`` 1 - cos(x, y).
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    for name, t in (("x", x), ("y", y)):
        if t.dim() < 2 or not torch.is_floating_point(t):
            raise ValueError(f"{name}: expected floating-point points of shape (..., n, d), "
                             f"got {t.dtype} {tuple(t.shape)}")
        if t.shape[-2] == 0:
            raise ValueError(f"{name}: no points")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"mismatched dimensions: {x.shape[-1]} vs {y.shape[-1]}")
    if x.shape[:-2] != y.shape[:-2]:
        raise ValueError(f"mismatched batch shapes: {tuple(x.shape[:-2])} vs "
                         f"{tuple(y.shape[:-2])}")
    if kind == "sqeuclidean":
        return _sqdist(x, y)
    if kind == "euclidean":
        d2 = _sqdist(x, y)
        pos = d2 > 0
        return torch.where(pos, d2, torch.ones_like(d2)).sqrt() * pos
    if kind == "cosine":
        xn = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        yn = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return 1.0 - xn @ yn.transpose(-2, -1)
    raise ValueError(f"unknown cost {kind!r}; valid: sqeuclidean, euclidean, cosine")


def sinkhorn_distance(x: Tensor, y: Tensor, eps: float, n_iters: int = 100,
                      tol: float = 1e-6, cost: str = "sqeuclidean", **kw) -> Tensor:
    """Sinkhorn OT cost between point clouds x (..., n, d) and y (..., m, d) (Cuturi 2013)."""
    return sinkhorn(cost_matrix(x, y, cost), eps, n_iters, tol, **kw)


def sinkhorn_divergence(x: Tensor, y: Tensor, eps: float, n_iters: int = 100,
                        tol: float = 1e-6, cost: str = "sqeuclidean", **kw) -> Tensor:
    """Sinkhorn divergence 2 OT(x, y) - OT(x, x) - OT(y, y) (Genevay et al. 2018)."""
    return sinkhorn_divergence_solve(x, y, eps, n_iters, tol, cost, **kw).value


class DivergenceResult(NamedTuple):
    """The Sinkhorn divergence and the largest final marginal error of its three solves."""

    value: Tensor
    err: float


def sinkhorn_divergence_solve(x: Tensor, y: Tensor, eps: float, n_iters: int = 100,
                              tol: float = 1e-6, cost: str = "sqeuclidean",
                              **kw) -> DivergenceResult:
    """:func:`sinkhorn_divergence` with the marginal error of its least converged solve,
    for callers that report convergence (the metric). OT(x, x) and OT(y, y) take the
    symmetric updates (Feydy et al. 2019), and so does OT(x, y) when y equals
    x, which makes the divergence of a set with itself exactly 0."""
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    same = x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y)
    solves = [sinkhorn_solve(cost_matrix(p, q, cost), eps, n_iters, tol, symmetric=sym, **kw)
              for p, q, sym in ((x, y, same), (x, x, True), (y, y, True))]
    xy, xx, yy = (r.cost for r in solves)
    return DivergenceResult(2.0 * xy - xx - yy, max(r.err for r in solves))
