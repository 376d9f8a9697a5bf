"""Entropic optimal transport by Sinkhorn iterations in the log domain.

Implements the algorithm "OT distance for batch of m samples with Sinkhorn-Knopp" of
seed 004 (Cuturi 2013, "Sinkhorn Distances: Lightspeed Computation of Optimal
Transport", Algorithm 1): with K = exp(-C / eps),

    a <- 1 / (K b),   b <- 1 / (K^T a),   OT_eps = sum_ij C_ij a_i K_ij b_j.

Written with the scaled dual potentials u = log a, v = log b and log-sum-exp
(Peyre & Cuturi 2019, "Computational Optimal Transport", Remark 4.23), so nothing
overflows or underflows at small eps where the plain scaling iterations turn into
inf / NaN:

    u_i = log mu_i - LSE_j(v_j - C_ij / eps),   v_j = log nu_j - LSE_i(u_i - C_ij / eps),
    P_ij = exp(u_i + v_j - C_ij / eps).

The marginals mu, nu default to uniform probability vectors (the seed's all-ones
marginals give n times the same cost). One solver serves the metric
(:func:`sinkhorn_distance`, :func:`sinkhorn_divergence`) and the Sinkhorn GAN loss
(Genevay, Peyre & Cuturi 2018, "Learning Generative Models with Sinkhorn
Divergences"): it is batched over leading dimensions and differentiable.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import Tensor


class SinkhornResult(NamedTuple):
    """Output of :func:`sinkhorn_solve`; potentials are f = eps u and g = eps v."""

    cost: Tensor  # (...,) transport cost sum_ij C_ij P_ij
    plan: Tensor  # (..., n, m) transport plan P
    f: Tensor  # (..., n) dual potential of the rows
    g: Tensor  # (..., m) dual potential of the columns
    n_iters: int  # iterations run
    err: float  # final L1 error of the row marginal (columns are exact)


def _log_weights(w: Optional[Tensor], like: Tensor, n: int, name: str) -> Tensor:
    """log of the marginal weights: uniform 1/n when ``w`` is None."""
    if w is None:
        return torch.full(like.shape[:-2] + (n,), -math.log(n), dtype=like.dtype,
                          device=like.device)
    w = torch.as_tensor(w, dtype=like.dtype, device=like.device)
    if w.shape[-1] != n:
        raise ValueError(f"{name}: expected {n} weights, got shape {tuple(w.shape)}")
    if not (torch.isfinite(w).all() and (w > 0).all()):
        raise ValueError(f"{name}: weights must be positive and finite")
    return w.log().expand(like.shape[:-2] + (n,))


def _check_mass(log_a: Tensor, log_b: Tensor) -> None:
    """Balanced OT needs marginals of equal total mass."""
    ma, mb = log_a.logsumexp(-1), log_b.logsumexp(-1)
    if not torch.allclose(ma, mb, atol=1e-6, rtol=0):
        raise ValueError("marginals a and b must have the same total mass")


def _check_inputs(C: Tensor, eps: float, n_iters: int) -> None:
    if C.dim() < 2:
        raise ValueError(f"cost matrix: expected shape (..., n, m), got {tuple(C.shape)}")
    if not torch.is_floating_point(C):
        raise ValueError(f"cost matrix: wrong dtype {C.dtype}; expected floating point")
    if not torch.isfinite(C).all():
        raise ValueError("cost matrix contains NaN or inf")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be positive and finite, got {eps}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    if C.numel() == 0:
        raise ValueError(f"cost matrix is empty (shape {tuple(C.shape)})")
    top = float(C.detach().abs().max())
    if not math.isfinite(top / eps) or top / eps > torch.finfo(C.dtype).max / 4:
        raise ValueError(f"eps = {eps:g} is too small for costs up to {top:.3g} in "
                         f"{C.dtype} (C / eps overflows)")


def _row_error(u: Tensor, lse_row: Tensor, log_a: Tensor) -> float:
    """L1 distance between the current row marginal and mu (max over the batch)."""
    with torch.no_grad():
        err = ((u + lse_row).exp() - log_a.exp()).abs().sum(-1)
        return float(err.max())


def _lse(x: Tensor, dim: int, inplace: bool) -> Tensor:
    """log-sum-exp along ``dim``; overwrites ``x`` when ``inplace`` (no autograd)."""
    m = x.amax(dim, keepdim=True)
    e = x.sub_(m).exp_() if inplace else (x - m).exp()
    return e.sum(dim).log() + m.squeeze(dim)


def _minus(p: Tensor, Ce: Tensor, buf: Optional[Tensor]) -> Tensor:
    """p - Ce broadcast, written into ``buf`` when one is given."""
    return torch.sub(p, Ce, out=buf) if buf is not None else p - Ce


def _iterate(Ce: Tensor, log_a: Tensor, log_b: Tensor, n_iters: int, tol: float,
             check_every: int):
    """Log-domain Sinkhorn updates from v = 0; returns u, v, iterations, error.

    Without autograd, the n x m temporaries reuse one buffer and are updated in
    place (about 5 passes over memory per half-iteration instead of 8 allocations).
    """
    inplace = not (torch.is_grad_enabled() and (Ce.requires_grad or log_a.requires_grad
                                                 or log_b.requires_grad))
    buf = torch.empty_like(Ce) if inplace else None
    row = lambda v: _lse(_minus(v.unsqueeze(-2), Ce, buf), -1, inplace)  # noqa: E731
    col = lambda u: _lse(_minus(u.unsqueeze(-1), Ce, buf), -2, inplace)  # noqa: E731
    u, v = torch.zeros_like(log_a), torch.zeros_like(log_b)
    for it in range(1, n_iters + 1):
        lse_row = row(v)
        if it > 1 and (it - 1) % check_every == 0:
            err = _row_error(u, lse_row, log_a)
            if err < tol:
                return u, v, it - 1, err
        u = log_a - lse_row
        v = log_b - col(u)
    return u, v, n_iters, _row_error(u, row(v), log_a)


def sinkhorn_solve(C: Tensor, eps: float, n_iters: int = 100, tol: float = 1e-6,
                   a: Optional[Tensor] = None, b: Optional[Tensor] = None,
                   check_every: int = 10, grad: str = "autograd") -> SinkhornResult:
    """Log-domain Sinkhorn (Cuturi 2013, Alg. 1) on cost matrices C of shape (..., n, m).

    Runs at most ``n_iters`` iterations (the seed's L), stopping early once the L1
    error of the row marginal is below ``tol`` (checked every ``check_every``
    iterations; ``tol=0`` runs all L). ``a``, ``b``: positive marginal weights
    (default uniform). ``grad="autograd"`` differentiates through the unrolled
    iterations; ``grad="envelope"`` runs them without a graph and lets the gradient
    of the cost with respect to C be the plan P (the plan is held fixed).
    """
    if grad not in ("autograd", "envelope"):
        raise ValueError(f"grad must be 'autograd' or 'envelope', got {grad!r}")
    if check_every < 1:
        raise ValueError(f"check_every must be >= 1, got {check_every}")
    _check_inputs(C, eps, n_iters)
    n, m = C.shape[-2:]
    log_a, log_b = _log_weights(a, C, n, "a"), _log_weights(b, C, m, "b")
    _check_mass(log_a, log_b)
    with torch.set_grad_enabled(torch.is_grad_enabled() and grad == "autograd"):
        u, v, iters, err = _iterate(C / eps, log_a, log_b, n_iters, tol, check_every)
        plan = (u.unsqueeze(-1) + v.unsqueeze(-2) - C / eps).exp()
    cost = (C * plan).sum((-2, -1))
    if not torch.isfinite(cost).all():
        raise ValueError(f"Sinkhorn cost is not finite at eps = {eps:g} in {C.dtype}; use a "
                         "larger eps or float64")
    return SinkhornResult(cost, plan, eps * u, eps * v, iters, err)


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
    for callers that report convergence (the metric)."""
    solves = [sinkhorn_solve(cost_matrix(p, q, cost), eps, n_iters, tol, **kw)
              for p, q in ((x, y), (x, x), (y, y))]
    xy, xx, yy = (r.cost for r in solves)
    return DivergenceResult(2.0 * xy - xx - yy, max(r.err for r in solves))
