"""The scaling-domain Sinkhorn path of :mod:`gankit.ot`: matrix-vector iterations on a
stabilised kernel with absorption and eps-scaling (Schmitzer 2019), over-relaxed at the
target eps (Thibault et al. 2017), and the symmetric update for self-transport (Feydy et
al. 2019); it hands over to the log domain should it meet inf or NaN, or end unconverged
on a kernel with a line lost to its floor. Kernel exponents are floored
(:func:`_kernel_floor`) so that neither exp nor the products meet subnormal numbers."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .logdomain import _log_solve

_RATIO = 0.25  # eps-scaling: eps_{k+1} = _RATIO * eps_k (Schmitzer 2019)
_STAGE_ITERS = 3  # iterations at each eps above the target
_OMEGA_MAX = 1.9  # largest over-relaxation at the target eps (1 = plain Sinkhorn)


def _numpy_ok(t: Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64)


def _kernel_floor(dtype: torch.dtype) -> float:
    """The lowest kernel exponent kept: -510 in float64, -63 in float32. exp of it times
    the smallest scaling (1 / _big) is still a normal number, so no product K v has a
    subnormal term, and times the largest squared (u_i v_j <= _big^2) it is below 1e-93
    in float64 and 2e-12 in float32: an entry raised to it moves the plan by less than
    that. Below it, exp's underflow path and subnormal products slow every solve that
    meets them (BENCHMARKS.md, "Sinkhorn: plain speed with log-domain safety, and the
    loss step"). Half precisions have no room for such a floor: -inf (none)."""
    if dtype not in (torch.float32, torch.float64):
        return -math.inf
    return 0.9 * (math.log(torch.finfo(dtype).tiny) + math.log(_big(dtype)))


def _kernel_exp_(x: Tensor) -> Tensor:
    """exp in place of kernel exponents (all <= 0), those below :func:`_kernel_floor`
    raised to it; numpy's vectorised exp on the CPU (about 2x torch's in float64)."""
    floor = _kernel_floor(x.dtype)
    if _numpy_ok(x) and x.is_contiguous():
        np.maximum(x.numpy(), floor, out=x.numpy())
        np.exp(x.numpy(), out=x.numpy())
        return x
    return x.clamp_min_(floor).exp_()


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
    _kernel_exp_(K.sub_(mx))
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


def _lost_line(K: Tensor, dim: int) -> bool:
    """Whether a column (``dim`` -2) or row (-1) of the kernel lies wholly on its floor:
    a line the kernel cannot resolve, which without the floor would have underflowed
    to 0 and made the scalings infinite. Mid-ladder the absorption that follows repairs
    it; a budget that ends on it ends on a plan with no information in that line."""
    floor = math.exp(_kernel_floor(K.dtype))  # twice it below: exp's last bit may differ
    return bool((K.amax(dim) <= 2 * floor).any())


class _Unstable(Exception):
    """The scaling iterations met inf / NaN, or ended on a kernel line lost to the floor;
    the log-domain path takes over from g."""

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
            if not math.isfinite(err) or (it + used >= n_iters and err >= tol
                                          and _lost_line(K, -2)):
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
    _kernel_exp_(K.sub_(s))
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
            if not math.isfinite(err) or (it + used >= n_iters and err >= tol
                                          and _lost_line(K, -1)):
                raise _Unstable(f, it)
            it += used
            u = _tensor(u)
            f = f_abs + e * u.log()
            if err < tol or it >= n_iters or not final:
                break
    plan = K.mul_(u.unsqueeze(-1)).mul_(u.unsqueeze(-2))
    return plan, f, f, it, err


def _fast_solve(C, eps, log_a, log_b, n_iters, tol, check_every, symmetric, top):
    """The scaling path, handing over to the log domain if it ever meets inf / NaN, or
    ends its budget unconverged on a kernel with a line lost to the floor."""
    try:
        with np.errstate(all="ignore"):
            if symmetric:
                return _symmetric_iterate(C, eps, log_a, n_iters, tol, check_every, top)
            return _scaling_iterate(C, eps, log_a, log_b, n_iters, tol, check_every, top)
    except _Unstable as bad:
        plan, f, g, iters, err = _log_solve(C, eps, log_a, log_b, max(n_iters - bad.iters, 1),
                                            tol, check_every, "envelope", bad.g / eps)
        return plan, f, g, iters + bad.iters, err


