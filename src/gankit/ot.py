"""Entropic optimal transport by Sinkhorn iterations, stabilised.

Implements the algorithm "OT distance for batch of m samples with Sinkhorn-Knopp" of
seed 004 (Cuturi 2013, "Sinkhorn Distances: Lightspeed Computation of Optimal
Transport", Algorithm 1): with K = exp(-C / eps),

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

The marginals mu, nu default to uniform probability vectors (the seed's all-ones
marginals give n times the same cost). One solver serves the metric
(:func:`sinkhorn_distance`, :func:`sinkhorn_divergence`) and the Sinkhorn GAN loss
(Genevay, Peyre & Cuturi 2018, "Learning Generative Models with Sinkhorn
Divergences"): it is batched over leading dimensions and differentiable.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
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


def _check_inputs(C: Tensor, eps: float, n_iters: int) -> float:
    """Refuses bad input; returns max |C| (one pass over C)."""
    if C.dim() < 2:
        raise ValueError(f"cost matrix: expected shape (..., n, m), got {tuple(C.shape)}")
    if not torch.is_floating_point(C):
        raise ValueError(f"cost matrix: wrong dtype {C.dtype}; expected floating point")
    if C.numel() == 0:
        raise ValueError(f"cost matrix is empty (shape {tuple(C.shape)})")
    lo, hi = torch.aminmax(C.detach())  # NaN and inf propagate
    top = max(-float(lo), float(hi))
    if not math.isfinite(top):
        raise ValueError("cost matrix contains NaN or inf")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be positive and finite, got {eps}")
    if n_iters < 1:
        raise ValueError(f"n_iters must be >= 1, got {n_iters}")
    if not math.isfinite(top / eps) or top / eps > torch.finfo(C.dtype).max / 4:
        raise ValueError(f"eps = {eps:g} is too small for costs up to {top:.3g} in "
                         f"{C.dtype} (C / eps overflows)")
    return top


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
             check_every: int, v0: Optional[Tensor] = None):
    """Log-domain Sinkhorn updates from v = v0 (default 0); returns u, v, iterations, error.

    Without autograd, the n x m temporaries reuse one buffer and are updated in
    place (about 5 passes over memory per half-iteration instead of 8 allocations).
    """
    inplace = not (torch.is_grad_enabled() and (Ce.requires_grad or log_a.requires_grad
                                                 or log_b.requires_grad))
    buf = torch.empty_like(Ce) if inplace else None
    row = lambda v: _lse(_minus(v.unsqueeze(-2), Ce, buf), -1, inplace)  # noqa: E731
    col = lambda u: _lse(_minus(u.unsqueeze(-1), Ce, buf), -2, inplace)  # noqa: E731
    u = torch.zeros_like(log_a)
    v = torch.zeros_like(log_b) if v0 is None else v0
    for it in range(1, n_iters + 1):
        lse_row = row(v)
        if it > 1 and (it - 1) % check_every == 0:
            err = _row_error(u, lse_row, log_a)
            if err < tol:
                return u, v, it - 1, err
        u = log_a - lse_row
        v = log_b - col(u)
    return u, v, n_iters, _row_error(u, row(v), log_a)


# The fast path: scaling iterations on a stabilised kernel (Schmitzer 2019). Its loops
# run on numpy views of CPU tensors (a small-vector operation costs about a third of
# torch's there) and on the tensors themselves elsewhere; the same code serves both.
_RATIO = 0.25  # eps-scaling: eps_{k+1} = _RATIO * eps_k (Schmitzer 2019)
_STAGE_ITERS = 3  # iterations at each eps above the target
_OMEGA_MAX = 1.9  # largest over-relaxation at the target eps (1 = plain Sinkhorn)


def _numpy_ok(t: Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def _exp_(x: Tensor) -> Tensor:
    """exp in place; numpy's vectorised exp on the CPU (about 2x torch's in float64)."""
    if _numpy_ok(x) and x.is_contiguous():
        np.exp(x.numpy(), out=x.numpy())
        return x
    return x.exp_()


def _views(*ts: Tensor):
    """numpy views of CPU float tensors (shared memory), the tensors themselves else."""
    return [t.numpy() if _numpy_ok(t) else t for t in ts]


def _tensor(x) -> Tensor:
    return torch.from_numpy(x) if isinstance(x, np.ndarray) else x


def _mv(K, v):
    """K v for K (..., n, m), v (..., m)."""
    return K @ v if K.ndim == 2 else (K @ v[..., None])[..., 0]


def _l1(x) -> float:
    return float(abs(x).sum(-1).max())


def _out_of_range(x, big: float) -> bool:
    """Whether a scaling has left [1 / big, big]: time to absorb it into the potential."""
    return not (float(x.max()) < big and float(x.min()) > 1.0 / big)


def _big(dtype: torch.dtype) -> float:
    """Absorption threshold: about 4e61 in float64, 5e7 in float32, so that u_i K_ij v_j
    stays representable wherever it matters (Schmitzer 2019's absorption bound)."""
    return math.exp(0.2 * math.log(torch.finfo(dtype).max))


def _relax(x, target, w: float):
    """x^(1 - w) target^w: the over-relaxed scaling update (plain for w = 1)."""
    if w == 1.0:
        return target
    t = target / x
    t **= w
    t *= x
    return t


class _Relaxation:
    """Over-relaxed Sinkhorn (Thibault et al. 2017; Lehmann et al. 2021): plain
    iterations until two checks give plain Sinkhorn's linear rate theta, then
    w = 2 / (1 + sqrt(1 - theta)) (capped at _OMEGA_MAX); back to w = 1 for good if the
    error ever grows between checks. ``enabled=False``: always plain."""

    def __init__(self, enabled: bool, steps: int):
        self.w, self.enabled, self.steps, self.errs = 1.0, enabled, steps, []

    def update(self, err: float) -> None:
        if self.enabled and len(self.errs) == 1 and 0 < err < self.errs[0]:
            theta = (err / self.errs[0]) ** (1.0 / self.steps)
            self.w = min(_OMEGA_MAX, 2.0 / (1.0 + math.sqrt(1.0 - theta)))
        elif self.w > 1 and err >= self.errs[-1]:
            self.w, self.enabled = 1.0, False
        self.errs.append(err)


def _eps_schedule(top: float, eps: float, n_iters: int) -> list:
    """eps-scaling (Schmitzer 2019; as in Feydy et al. 2019's solver): eps_0 = max |C|
    (``top``), times _RATIO down to ``eps``; a single stage when the budget cannot
    afford the ladder."""
    e, out = top, []
    while e > eps / _RATIO:
        out.append(e)
        e *= _RATIO
    return out + [eps] if 2 * len(out) < n_iters else [eps]


def _stage_budget(n_iters: int, it: int, stages_left: int, final: bool) -> int:
    """Iterations for a stage: all that is left at the target eps, else _STAGE_ITERS
    while at least half of what is left stays for the target."""
    left = n_iters - it
    return left if final else max(1, min(_STAGE_ITERS, left // (2 * stages_left)))


def _row_kernel(C: Tensor, g: Tensor, e: float, a: Tensor, buf: Tensor):
    """A log-domain row update fused with building the stabilised kernel (Schmitzer 2019,
    absorption): K~_ij = exp((f_i + g_j - C_ij) / e) with
    f_i = -max_j (g_j - C_ij), so every row of K~ has maximum 1 and none underflows
    whole; u = a / K~ 1 completes the row update. Returns K~ (in ``buf``), f, u."""
    K = torch.add((g / e).unsqueeze(-2), C, alpha=-1.0 / e, out=buf)
    mx = K.amax(-1, keepdim=True)
    _exp_(K.sub_(mx))
    return K, -e * mx.squeeze(-1), a / K.sum(-1)


def _stage(K, u, a, b, budget: int, tol: float, check_every: int, big: float,
           relax: _Relaxation):
    """Sinkhorn's scaling iterations v = b / K^T u, u = a / K v on a fixed kernel (Cuturi
    2013, Alg. 1), over-relaxed by ``relax``, until the row error is below ``tol``, a
    scaling leaves [1/big, big] or the budget ends. Check iterations update v plainly,
    so the columns are exact where the row error is measured. Returns u, v,
    iterations, row error."""
    Kt, v = K.mT, None
    for it in range(1, budget + 1):
        check = it % check_every == 0 or it == budget
        v = _relax(v, b / _mv(Kt, u), 1.0 if check or v is None else relax.w)
        Kv = _mv(K, v)
        if check:
            err = _l1(u * Kv - a)
            if (err < tol or it == budget or not math.isfinite(err)
                    or _out_of_range(v, big) or _out_of_range(u / a, big)):
                return u, v, it, err
            relax.update(err)
        u = _relax(u, a / Kv, relax.w)
    raise ValueError("empty stage")


class _Unstable(Exception):
    """The scaling iterations met inf / NaN; the log-domain path takes over from g."""

    def __init__(self, g: Tensor, iters: int):
        super().__init__("unstable")
        self.g, self.iters = g, iters


def _scaling_iterate(C: Tensor, eps: float, log_a: Tensor, log_b: Tensor, n_iters: int,
                     tol: float, check_every: int, top: float):
    """Stabilised scaling Sinkhorn with absorption and eps-scaling (Schmitzer 2019),
    over-relaxed at the target eps. Returns plan, f, g, iterations, row error."""
    a, b = log_a.exp(), log_b.exp()
    buf, g, it, big = torch.empty_like(C), torch.zeros_like(log_b), 0, _big(C.dtype)
    schedule = _eps_schedule(top, eps, n_iters)
    for k, e in enumerate(schedule):
        final = k == len(schedule) - 1
        relax = _Relaxation(final and _OMEGA_MAX > 1, check_every)
        while True:
            K, f, u = _row_kernel(C, g, e, a, buf)
            budget = _stage_budget(n_iters, it, len(schedule) - k, final)
            u, v, used, err = _stage(*_views(K, u, a, b), budget, tol if final else 0.0,
                                     check_every if final else budget, big, relax)
            if not math.isfinite(err):
                raise _Unstable(g, it)
            it += used
            u, v = _tensor(u), _tensor(v)
            g = g + e * v.log()
            if err < tol or it >= n_iters or not final:
                break
    plan = K.mul_(u.unsqueeze(-1)).mul_(v.unsqueeze(-2))
    return plan, f + eps * u.log(), g, it, err


def _sym_kernel(C: Tensor, f: Tensor, e: float, buf: Tensor):
    """K~ = exp((f_i + f_j - C_ij) / e - s), s its largest exponent: symmetric, maximum 1.
    Returns K~ (in ``buf``) and the potential it absorbs, f - e s / 2."""
    K = torch.add((f / e).unsqueeze(-1), C, alpha=-1.0 / e, out=buf).add_((f / e).unsqueeze(-2))
    s = K.amax((-2, -1), keepdim=True)
    _exp_(K.sub_(s))
    return K, f - 0.5 * e * s.squeeze(-1)


def _sym_stage(K, u, a, budget: int, tol: float, check_every: int, big: float):
    """The symmetric update f <- (f + T(f)) / 2 of Feydy et al. 2019 in
    scaling form, u <- sqrt(u a / K u): one product per iteration on OT(x, x). Returns
    u (plan u_i K_ij u_j), iterations and the row error (= the column error)."""
    for it in range(1, budget + 1):
        Ku = _mv(K, u)
        if it % check_every == 0 or it == budget:
            err = _l1(u * Ku - a)
            if err < tol or it == budget or not math.isfinite(err) or _out_of_range(u, big):
                return u, it, err
        u = u * a
        u /= Ku
        u **= 0.5
    raise ValueError("empty stage")


def _symmetric_iterate(C: Tensor, eps: float, log_a: Tensor, n_iters: int, tol: float,
                       check_every: int, top: float):
    """Symmetric Sinkhorn (Feydy et al. 2019) with absorption and eps-scaling
    (Schmitzer 2019) for C = C^T, a = b. Returns plan, f, g (= f), iterations, error."""
    a = log_a.exp()
    C = 0.5 * (C + C.transpose(-2, -1))
    buf, f, it, big = torch.empty_like(C), torch.zeros_like(log_a), 0, _big(C.dtype)
    schedule = _eps_schedule(top, eps, n_iters)
    for k, e in enumerate(schedule):
        final = k == len(schedule) - 1
        while True:
            K, f_abs = _sym_kernel(C, f, e, buf)
            budget = _stage_budget(n_iters, it, len(schedule) - k, final)
            u, used, err = _sym_stage(*_views(K, torch.ones_like(a), a), budget,
                                      tol if final else 0.0,
                                      check_every if final else budget, big)
            if not math.isfinite(err):
                raise _Unstable(f, it)
            it += used
            u = _tensor(u)
            f = f_abs + e * u.log()
            if err < tol or it >= n_iters or not final:
                break
    plan = K.mul_(u.unsqueeze(-1)).mul_(u.unsqueeze(-2))
    return plan, f, f, it, err


def _log_solve(C, eps, log_a, log_b, n_iters, tol, check_every, grad, v0=None):
    """The log-domain path; returns plan, f, g, iterations, error."""
    with torch.set_grad_enabled(torch.is_grad_enabled() and grad == "autograd"):
        u, v, iters, err = _iterate(C / eps, log_a, log_b, n_iters, tol, check_every, v0)
        plan = (u.unsqueeze(-1) + v.unsqueeze(-2) - C / eps).exp()
    return plan, eps * u, eps * v, iters, err


def _fast_solve(C, eps, log_a, log_b, n_iters, tol, check_every, symmetric, top):
    """The scaling path, handing over to the log domain if it ever meets inf / NaN."""
    try:
        with np.errstate(all="ignore"):
            if symmetric:
                return _symmetric_iterate(C, eps, log_a, n_iters, tol, check_every, top)
            return _scaling_iterate(C, eps, log_a, log_b, n_iters, tol, check_every, top)
    except _Unstable as bad:
        plan, f, g, iters, err = _log_solve(C, eps, log_a, log_b, max(n_iters - bad.iters, 1),
                                            tol, check_every, "envelope", bad.g / eps)
        return plan, f, g, iters + bad.iters, err


def sinkhorn_solve(C: Tensor, eps: float, n_iters: int = 100, tol: float = 1e-6,
                   a: Optional[Tensor] = None, b: Optional[Tensor] = None,
                   check_every: int = 10, grad: str = "autograd",
                   method: str = "auto", symmetric: bool = False) -> SinkhornResult:
    """Sinkhorn (Cuturi 2013, Alg. 1) on cost matrices C of shape (..., n, m).

    Runs at most ``n_iters`` iterations (the seed's L), stopping early once the L1
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
    _check_mass(log_a, log_b)
    graph = torch.is_grad_enabled() and grad == "autograd" and any(
        t is not None and torch.is_tensor(t) and t.requires_grad for t in (C, a, b))
    if symmetric and not (n == m and torch.equal(log_a, log_b)):
        raise ValueError("symmetric=True needs a square C and a = b")
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
