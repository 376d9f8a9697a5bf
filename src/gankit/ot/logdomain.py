"""The log-domain Sinkhorn iterations (Peyre & Cuturi 2019, "Computational Optimal
Transport", Remark 4.23): differentiable, the reference path of :mod:`gankit.ot`, and the
input checks both paths share."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor


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
def _log_solve(C, eps, log_a, log_b, n_iters, tol, check_every, grad, v0=None):
    """The log-domain path; returns plan, f, g, iterations, error."""
    with torch.set_grad_enabled(torch.is_grad_enabled() and grad == "autograd"):
        u, v, iters, err = _iterate(C / eps, log_a, log_b, n_iters, tol, check_every, v0)
        plan = (u.unsqueeze(-1) + v.unsqueeze(-2) - C / eps).exp()
    return plan, eps * u, eps * v, iters, err


