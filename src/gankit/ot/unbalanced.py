"""Unbalanced entropic optimal transport: the marginal constraints of :mod:`gankit.ot`
relaxed into KL penalties (Chizat, Peyre, Schmitzer & Vialard 2018, "Scaling Algorithms
for Unbalanced Optimal Transport Problems"; Sejourne et al. 2019, "Sinkhorn Divergences
for Unbalanced Optimal Transport"):

    min_P  <C, P> + eps KL(P | a x b) + rho KL(P 1 | a) + rho KL(P^T 1 | b),

KL(p | q) = sum p log(p / q) - p + q. Its plan is P_ij = a_i b_j exp((f_i + g_j - C_ij)
/ eps), and the Sinkhorn updates of the balanced problem become (Sejourne et al. 2019)
the same soft-min scaled by lam = rho / (rho + eps):

    f_i = -lam eps log sum_j b_j exp((g_j - C_ij) / eps),   and the same for g.

rho -> infinity gives balanced OT back. A finite rho lets the plan leave mass unmatched
where matching it would carry it far: between two minibatches of a mixture whose
components hold different counts, balanced OT must carry the difference across to
another component, unbalanced OT need not (Fatras, Sejourne, Flamary & Courty 2021,
"Unbalanced minibatch Optimal Transport").

The iterations run as matrix-vector products on a stabilised kernel K~_ij =
exp((f_i + g_j - C_ij) / eps) whose potentials absorb the scalings whenever these leave
a safe range (Schmitzer 2019; Chizat et al. 2018), with eps-scaling from
max |C| down to the target as on the balanced path. No autograd graph is built: the
gradient with respect to C is the plan (envelope theorem), which is what the Sinkhorn
GAN loss uses.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .scaling import _big, _mv, _stage_budget

_RATIO = 0.05  # eps-scaling: twenty-fold steps (float64 holds the exponents they make)


def _kernel(C: np.ndarray, f: np.ndarray, g: np.ndarray, e: float) -> np.ndarray:
    """K~_ij = exp((f_i + g_j - C_ij) / e): the plan divided by a_i b_j at these
    potentials, so at most (total mass) / (a_i b_j). Exponents below -300 are raised to
    it: at a small eps most of the kernel would underflow, and exp's underflow path is
    slow, while entries near the bottom of float64 would make the products K v
    subnormal, slower still (BENCHMARKS.md, "Sinkhorn: plain speed with log-domain
    safety, and the loss step"); exp(-300) ~ 5e-131 keeps both normal and carries no
    mass that matters."""
    K = f[..., :, None] + g[..., None, :]
    K -= C
    K *= 1.0 / e
    np.maximum(K, -300.0, out=K)
    return np.exp(K, out=K)


def _absorb(C: np.ndarray, f: np.ndarray, g: np.ndarray, e: float):
    """The kernel at (f, g), its transpose (a view), and (f, g) as its frame."""
    K = _kernel(C, f, g, e)
    return K, np.swapaxes(K, -1, -2), f, g


def _softmin(Kw: np.ndarray, f: np.ndarray, e: float, lam: float) -> np.ndarray:
    """lam (f_i - e log sum_j K~_ij w_j): the scaled soft-min in the absorbed frame,
    from the product Kw = K~ w, where w_j = b_j exp((g_j - g~_j) / e) carries the
    column scaling."""
    return lam * (f - e * np.log(np.maximum(Kw, np.finfo(Kw.dtype).tiny)))


def _ladder(top: float, eps: float, n_iters: int) -> list:
    """eps-scaling (Schmitzer 2019): from max |C| down to eps in equal steps of at most
    1 / _RATIO (each stage rebuilds the n x m kernel, the solver's main cost); the
    target alone when the budget cannot afford the ladder."""
    n = max(0, math.ceil(math.log(max(top, eps) / eps) / math.log(1 / _RATIO)))
    out = [top * (eps / top) ** (k / n) for k in range(n)] + [eps]
    return out if 2 * (len(out) - 1) < n_iters else [eps]


def _primal(f: np.ndarray, g: np.ndarray, a: np.ndarray, b: np.ndarray, plan: np.ndarray,
            eps: float, rho: float) -> np.ndarray:
    """The objective at the plan P = a b exp((f + g - C) / eps), from vectors alone:
    <C, P> + eps KL(P | a x b) = <f, P 1> + <g, P^T 1> - eps (m(P) - m(a) m(b)), since
    log(P / ab) = (f + g - C) / eps. Any P >= 0 is feasible, so before convergence this
    is an upper bound of the optimum (the dual would be a lower one)."""
    def kl(p, q):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (np.where(p > 0, p * np.log(p / q), 0.0) - p + q).sum(-1)
    r, c = plan.sum(-1), plan.sum(-2)
    return ((f * r).sum(-1) + (g * c).sum(-1) - eps * (r.sum(-1) - a.sum(-1) * b.sum(-1))
            + rho * kl(r, a) + rho * kl(c, b))


def solve_unbalanced(C: Tensor, eps: float, rho: float, log_a: Tensor, log_b: Tensor,
                     n_iters: int, tol: float, check_every: int, symmetric: bool,
                     top: float):
    """Unbalanced Sinkhorn on C (..., n, m). ``symmetric`` (C = C^T, a = b): the averaged
    update f <- (f + T(f)) / 2 (Feydy et al. 2019), one product per iteration. Stops
    when an iteration at the target eps changes the row marginal by less than ``tol``
    (L1), or after ``n_iters``. Runs in float64 numpy on the CPU: float64 because at a
    step of the eps ladder the kernel's largest exponent grows twenty-fold (to ~240:
    exp of that overflows float32), numpy because its small-vector operations cost a
    fraction of torch's. Returns plan, f, g, the objective's value at the plan,
    iterations, last change of the row marginal, as tensors like C."""
    like, dtype = C, torch.float64
    Cd = C.detach().to("cpu", dtype)
    if symmetric:
        Cd = 0.5 * (Cd + Cd.transpose(-2, -1))
    Cn = Cd.numpy()
    a = log_a.detach().to("cpu", dtype).exp().numpy()
    b = log_b.detach().to("cpu", dtype).exp().numpy()
    f, g = np.zeros_like(a), np.zeros_like(b)
    big = math.log(_big(torch.float64))  # absorb before a scaling leaves exp(+-142)
    schedule = _ladder(top, eps, n_iters)
    it, err = 0, float("inf")
    with np.errstate(all="ignore"):
        for k, e in enumerate(schedule):
            lam = rho / (rho + e)
            final = k == len(schedule) - 1
            budget = _stage_budget(n_iters, it, len(schedule) - k, final)
            K, Kt, fa, ga = _absorb(Cn, f, g, e)
            for used in range(1, budget + 1):
                check = final and (used % check_every == 0 or used == budget)
                # K~ (b e^{(g - g~)/e}): f's update and the row marginal share it (in the
                # symmetric case a = b, g = f and g~ = f~, so it is f's own product)
                Kw = _mv(K, b * np.exp((g - ga) / e))
                if check:
                    row_before = a * Kw * np.exp((f - fa) / e)
                if symmetric:
                    f = 0.5 * (f + _softmin(Kw, fa, e, lam))
                    g = f
                else:
                    f = _softmin(Kw, fa, e, lam)
                    if np.abs(f - fa).max() > big * e:  # absorb before exp((f - fa) / e)
                        K, Kt, fa, ga = _absorb(Cn, f, g, e)
                    g = _softmin(_mv(Kt, a * np.exp((f - fa) / e)), ga, e, lam)
                if np.abs(f - fa).max() > big * e or np.abs(g - ga).max() > big * e:
                    K, Kt, fa, ga = _absorb(Cn, f, g, e)  # absorb the scalings
                it += 1
                if check:
                    row = a * _mv(K, b * np.exp((g - ga) / e)) * np.exp((f - fa) / e)
                    err = float(np.abs(row - row_before).sum(-1).max())
                    if err < tol or not math.isfinite(err):
                        break
    if not math.isfinite(err):
        raise ValueError(f"unbalanced Sinkhorn diverged at eps = {eps:g}, rho = {rho:g}; "
                         "use a larger eps")
    plan = K  # the last stage's kernel, at the target eps, times the scalings
    plan *= (a * np.exp((f - fa) / eps))[..., :, None]
    plan *= (b * np.exp((g - ga) / eps))[..., None, :]
    value = _primal(f, g, a, b, plan, eps, rho)
    out = {"device": like.device, "dtype": like.dtype}
    return tuple(torch.from_numpy(np.asarray(t)).to(**out) for t in (plan, f, g, value)) \
        + (it, err)
