import math
import warnings

import numpy as np
import ot
import pytest
import torch

from gankit.ot import (
    cost_matrix,
    sinkhorn,
    sinkhorn_distance,
    sinkhorn_divergence,
    sinkhorn_divergence_solve,
    sinkhorn_solve,
)


def _clouds(n=60, m=50, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, torch.randn(m, d, generator=g, dtype=torch.float64) + 1


def test_matches_pot_sinkhorn2():
    x, y = _clouds()
    C = cost_matrix(x, y)
    a, b = np.full(60, 1 / 60), np.full(50, 1 / 50)
    for eps in (1.0, 0.1):
        ref = ot.sinkhorn2(a, b, C.numpy(), eps, method="sinkhorn_log", numItermax=20000,
                           stopThr=1e-12)
        ours = sinkhorn(C, eps, n_iters=20000, tol=1e-12)
        assert ours.item() == pytest.approx(float(ref), rel=1e-8)


def test_plan_has_the_marginals_and_matches_pot_plan():
    x, y = _clouds()
    C = cost_matrix(x, y)
    w = torch.rand(60, dtype=torch.float64) + 0.5
    w /= w.sum()
    r = sinkhorn_solve(C, 0.5, n_iters=5000, tol=1e-11, a=w)
    np.testing.assert_allclose(r.plan.sum(1), w, atol=1e-10)
    np.testing.assert_allclose(r.plan.sum(0), np.full(50, 1 / 50), atol=1e-12)
    ref = ot.bregman.sinkhorn_log(w.numpy(), np.full(50, 1 / 50), C.numpy(), 0.5, stopThr=1e-13,
                                  numItermax=20000)
    np.testing.assert_allclose(r.plan.numpy(), ref, atol=1e-10)
    assert r.err < 1e-11 and r.n_iters < 5000


def test_seed_algorithm_all_ones_marginals_scale_by_n():
    x, y = _clouds(40, 40)
    C = cost_matrix(x, y)
    ones = torch.ones(40, dtype=torch.float64)
    # the seed's K, a = 1 / Kb, b = 1 / K^T a with all-ones marginals, in plain arithmetic
    K, bv = torch.exp(-C / 2.0), ones.clone()
    for _ in range(500):
        av = 1 / (K @ bv)
        bv = 1 / (K.T @ av)
    seed_value = (C * av[:, None] * K * bv[None]).sum()
    assert sinkhorn(C, 2.0, 500, tol=0, a=ones, b=ones).item() == pytest.approx(seed_value.item(), rel=1e-10)
    assert sinkhorn(C, 2.0, 500, tol=0).item() == pytest.approx(seed_value.item() / 40, rel=1e-10)


def test_finite_at_small_eps_where_plain_sinkhorn_fails():
    x, y = _clouds()
    C = cost_matrix(x, y) * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = ot.sinkhorn2(np.full(60, 1 / 60), np.full(50, 1 / 50), C.numpy(), 1e-3,
                             method="sinkhorn", numItermax=50)
    r = sinkhorn_solve(C, 1e-3, n_iters=50)
    assert torch.isfinite(r.cost) and r.cost > 1 and torch.isfinite(r.plan).all()
    # exp(-C / eps) underflows to 0: the plain scaling answer is NaN or garbage
    assert not np.isfinite(plain) or abs(plain - r.cost.item()) > 0.5 * r.cost.item()


def test_batched_equals_loop():
    xs = torch.randn(3, 20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ys = torch.randn(3, 25, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    batched = sinkhorn_distance(xs, ys, 0.3, n_iters=300, tol=0)
    assert batched.shape == (3,)
    for i in range(3):
        single = sinkhorn_distance(xs[i], ys[i], 0.3, n_iters=300, tol=0)
        assert batched[i].item() == pytest.approx(single.item(), rel=1e-12)


def test_gradients_autograd_and_envelope():
    x, y = _clouds(30, 30)
    x.requires_grad_(True)
    loss = sinkhorn_distance(x, y, 0.5, n_iters=50)
    (gx,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(gx).all() and gx.abs().sum() > 0
    # moving x a little along -grad lowers the cost (a descent direction)
    assert sinkhorn_distance(x.detach() - 1e-2 * gx, y, 0.5, n_iters=50) < loss.detach()
    r = sinkhorn_solve(cost_matrix(x, y), 0.5, 50, grad="envelope")
    (ge,) = torch.autograd.grad(r.cost, x)
    assert torch.isfinite(ge).all() and torch.nn.functional.cosine_similarity(
        ge.flatten(), gx.flatten(), dim=0) > 0.9


def test_float32_and_gradcheck_small():
    x, y = _clouds(6, 5)
    x = x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: sinkhorn_distance(p, y, 0.7, n_iters=30, tol=0), (x,))
    assert sinkhorn_distance(x.float(), y.float(), 0.7).dtype == torch.float32


def test_divergence_zero_on_identical_and_positive_otherwise():
    x, y = _clouds(40, 40)
    assert sinkhorn_divergence(x, x.clone(), 0.5).item() == 0.0  # three equal symmetric solves
    near = sinkhorn_divergence(x, x + 1e-9, 0.5, n_iters=1000, tol=1e-12)
    assert abs(near.item()) < 1e-10
    assert sinkhorn_divergence(x, y, 0.5).item() > 0.5


def test_cost_matrix_kinds():
    x, y = _clouds(5, 4, d=3)
    np.testing.assert_allclose(cost_matrix(x, y, "euclidean"), torch.cdist(x, y), atol=1e-12)
    np.testing.assert_allclose(cost_matrix(x, y), torch.cdist(x, y) ** 2, atol=1e-12)
    cos = 1 - torch.nn.functional.cosine_similarity(x[:, None], y[None], dim=-1)
    np.testing.assert_allclose(cost_matrix(x, y, "cosine"), cos, atol=1e-12)
    x.requires_grad_(True)
    g, = torch.autograd.grad(cost_matrix(x, x, "euclidean").sum(), x)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("kw, msg", [
    (dict(eps=0.0), "eps"),
    (dict(C=torch.full((3, 3), float("nan"))), "NaN"),
    (dict(C=torch.ones(3)), "shape"),
    (dict(a=torch.tensor([0.5, 0.5, 0.0])), "positive"),
    (dict(a=torch.tensor([0.5, 0.5, 0.5])), "same total mass"),
    (dict(C=torch.ones(3, 3, dtype=torch.long)), "dtype"),
])
def test_bad_input_is_refused(kw, msg):
    args = dict(C=torch.ones(3, 3, dtype=torch.float64), eps=0.1)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        sinkhorn(**args)


def test_bad_points_and_options_are_errors_not_nan():
    from gankit.ot import cost_matrix, sinkhorn_distance, sinkhorn_solve

    x = np.random.default_rng(0).normal(size=(20, 2))
    y = x[:15] + 1.0
    ref = sinkhorn_distance(torch.from_numpy(x), torch.from_numpy(y), 0.5)
    assert float(sinkhorn_distance(x, y, 0.5)) == pytest.approx(float(ref), rel=1e-12)  # numpy in
    C = cost_matrix(torch.from_numpy(x), torch.from_numpy(y))
    with pytest.raises(ValueError, match="too small for costs"):
        sinkhorn_solve(C.float(), 1e-45)
    with pytest.raises(ValueError, match="check_every must be >= 1"):
        sinkhorn_solve(C, 0.5, check_every=0)
    with pytest.raises(ValueError, match="x: no points"):
        sinkhorn_distance(torch.zeros(0, 2), torch.zeros(3, 2), 0.5)
    with pytest.raises(ValueError, match="floating-point"):
        sinkhorn_distance(torch.ones(3, 2, dtype=torch.int64), torch.ones(3, 2), 0.5)
    with pytest.raises(ValueError, match="mismatched batch shapes"):
        sinkhorn_distance(torch.ones(2, 3, 2), torch.ones(4, 3, 2), 0.5)


def _problem(seed, n, m, d, shift):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(m, d, generator=g, dtype=torch.float64) * 0.7 + shift
    return cost_matrix(x, y)


@pytest.mark.parametrize("seed, n, m, d, shift, rel_eps", [
    (0, 60, 50, 2, 1.0, 0.1), (1, 80, 80, 2, 0.0, 0.02), (2, 40, 70, 8, 0.5, 0.05),
    (3, 100, 90, 16, 2.0, 0.02), (4, 256, 256, 2, 0.3, 0.02)])
def test_scaling_path_matches_log_path_and_pot(seed, n, m, d, shift, rel_eps):
    """The fast path (stabilised scaling, eps-scaling, over-relaxation) converges to the
    log-domain path's and POT's plain Sinkhorn's plan and value, weights included."""
    C = _problem(seed, n, m, d, shift)
    eps = rel_eps * C.mean().item()
    g = torch.Generator().manual_seed(seed + 10)
    a = torch.rand(n, generator=g, dtype=torch.float64) + 0.5
    a /= a.sum()
    fast = sinkhorn_solve(C, eps, 20000, 1e-13, a=a, method="scaling")
    log = sinkhorn_solve(C, eps, 50000, 1e-13, a=a, method="log")
    assert fast.err < 1e-13 and fast.n_iters < 20000
    assert fast.cost.item() == pytest.approx(log.cost.item(), rel=1e-10)
    np.testing.assert_allclose(fast.plan, log.plan, atol=1e-14, rtol=1e-8)
    np.testing.assert_allclose(fast.plan.sum(-1), a, atol=1e-13)
    np.testing.assert_allclose(fast.plan.sum(-2), np.full(m, 1 / m), atol=1e-15)
    # the potentials give the same plan, exp((f_i + g_j - C_ij) / eps), up to a constant
    shift_fg = (fast.f - log.f).mean()
    np.testing.assert_allclose(fast.f - shift_fg, log.f, atol=1e-9 * C.max().item())
    np.testing.assert_allclose(fast.g + shift_fg, log.g, atol=1e-9 * C.max().item())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = np.full(m, 1 / m)
        plan = ot.sinkhorn(a.numpy(), b, C.numpy(), eps, method="sinkhorn", numItermax=200000,
                           stopThr=1e-14)
    np.testing.assert_allclose(fast.plan, plan, atol=1e-13, rtol=1e-7)
    ref = float((C.numpy() * plan).sum())
    assert fast.cost.item() == pytest.approx(ref, rel=1e-8)


def test_scaling_path_at_the_solvers_default_tolerance():
    """At tol 1e-6 both paths stop within their tolerance of the same value."""
    C = _problem(5, 300, 300, 8, 0.0)
    eps = 0.02 * C.mean().item()
    fast = sinkhorn_solve(C, eps, 5000, 1e-6)
    log = sinkhorn_solve(C, eps, 5000, 1e-6, method="log")
    assert fast.err < 1e-6 and log.err < 1e-6
    assert fast.cost.item() == pytest.approx(log.cost.item(), rel=1e-5)


def test_symmetric_updates_match_the_full_solve():
    """OT(x, x) by the symmetric update: a plan exp((f_i + f_j - C_ij) / eps) with exact
    marginals, hence the entropic optimum itself; the log path agrees where it converges
    (on self-transport at small eps it crawls: 6e-8 marginal error after 1e5 iterations)."""
    x, _ = _clouds(70, 10, d=3, seed=3)
    C = cost_matrix(x, x)
    for eps, rel in ((1.0, 1e-12), (0.05, 1e-6)):
        sym = sinkhorn_solve(C, eps, 5000, 1e-13, symmetric=True)
        assert sym.err < 1e-13 and sym.n_iters < 200
        np.testing.assert_allclose(sym.plan.sum(0), np.full(70, 1 / 70), atol=1e-14)
        gibbs = ((sym.f[:, None] + sym.g[None] - C) / eps).exp()
        # entries whose kernel exponent is below the floor (exp(-510) in float64) are
        # raised to it: they may differ from the Gibbs form by up to 1e-93, no more
        np.testing.assert_allclose(sym.plan, gibbs, rtol=1e-9, atol=1e-93)
        np.testing.assert_allclose(sym.plan, sym.plan.T, atol=1e-16)
        full = sinkhorn_solve(C, eps, 30000, 1e-13, method="log")
        assert sym.cost.item() == pytest.approx(full.cost.item(), rel=rel)
    with pytest.raises(ValueError, match="symmetric"):
        sinkhorn_solve(cost_matrix(x, x[:5]), 0.5, symmetric=True)


def test_small_eps_finite_with_a_small_marginal_error():
    """eps = 1e-3 x mean cost: plain Sinkhorn's kernel underflows (POT returns garbage
    with warnings); the stabilised path stays finite and its marginals are nearly exact,
    far closer than the log path's cold start after as many iterations."""
    C = _problem(6, 200, 200, 2, 1.0)
    eps = 1e-3 * C.mean().item()
    assert (torch.exp(-C / eps) == 0).float().mean() > 0.5  # most of K underflows
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ot.sinkhorn2(np.full(200, 1 / 200), np.full(200, 1 / 200), C.numpy(), eps,
                     method="sinkhorn", numItermax=1000)
    assert caught  # numerical errors / overflow
    fast = sinkhorn_solve(C, eps, 1000, 1e-9)
    log = sinkhorn_solve(C, eps, 1000, 1e-9, method="log")
    assert torch.isfinite(fast.plan).all() and torch.isfinite(fast.cost)
    assert fast.err < 1e-3 and fast.err < log.err / 10
    np.testing.assert_allclose(fast.plan.sum(0), np.full(200, 1 / 200), atol=1e-15)
    best = sinkhorn_solve(C, eps, 20000, 1e-5)
    assert best.err < 1e-5
    assert fast.cost.item() == pytest.approx(best.cost.item(), rel=1e-3)
    for dtype in (torch.float32,):  # float32 too: absorption keeps u, v in range
        r = sinkhorn_solve(C.to(dtype), eps, 1000, 1e-5)
        assert torch.isfinite(r.plan).all() and r.err < 1e-2


def test_unstable_scaling_hands_over_to_the_log_path():
    """Too few iterations for the eps ladder at tiny eps: the single-stage kernel loses
    whole columns, and the log-domain path takes over (finite, same as its own run)."""
    x, y = _clouds()
    C = cost_matrix(x, y) * 100
    r = sinkhorn_solve(C, 1e-3, n_iters=4)
    ref = sinkhorn_solve(C, 1e-3, n_iters=4, method="log")
    assert torch.isfinite(r.cost) and r.n_iters == 4
    assert r.cost.item() == pytest.approx(ref.cost.item(), rel=1e-12)


def test_batched_scaling_path():
    xs = torch.randn(3, 30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ys = torch.randn(3, 20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    C = cost_matrix(xs, ys)
    r = sinkhorn_solve(C, 0.1, 5000, 1e-13)
    assert r.plan.shape == (3, 30, 20) and r.err < 1e-13
    for i in range(3):
        single = sinkhorn_solve(C[i], 0.1, 20000, 1e-13, method="log")
        np.testing.assert_allclose(r.plan[i], single.plan, atol=1e-14)
    sym = sinkhorn_solve(cost_matrix(xs, xs), 0.1, 5000, 1e-13, symmetric=True)
    for i in range(3):
        single = sinkhorn_solve(cost_matrix(xs[i], xs[i]), 0.1, 5000, 1e-13, symmetric=True)
        np.testing.assert_allclose(sym.plan[i], single.plan, atol=1e-15)


def test_envelope_gradient_of_the_fast_path_is_the_log_paths():
    """grad='envelope' holds the plan: the fast path's gradient equals the reference
    log path's once both converge; grad='autograd' still runs the log path itself."""
    x, y = _clouds(50, 40)
    grads = {}
    for method in ("auto", "log"):
        xr = x.clone().requires_grad_(True)
        value = sinkhorn_divergence(xr, y, 0.5, 20000, 1e-13, grad="envelope", method=method)
        grads[method] = (value.item(), torch.autograd.grad(value, xr)[0])
    assert grads["auto"][0] == pytest.approx(grads["log"][0], rel=1e-10)
    np.testing.assert_allclose(grads["auto"][1], grads["log"][1], rtol=1e-8, atol=1e-12)
    xr = x.clone().requires_grad_(True)
    r = sinkhorn_solve(cost_matrix(xr, y), 0.5, 50)  # autograd: the log path, unrolled
    ref = sinkhorn_solve(cost_matrix(xr, y), 0.5, 50, method="log")
    assert r.n_iters == ref.n_iters and r.cost.item() == ref.cost.item()
    np.testing.assert_array_equal(torch.autograd.grad(r.cost, xr)[0],
                                  torch.autograd.grad(ref.cost, xr)[0])
    with pytest.raises(ValueError, match="builds no autograd graph"):
        sinkhorn_solve(cost_matrix(xr, y), 0.5, method="scaling")


def test_divergence_solve_reports_the_worst_error():
    x, y = _clouds(300, 300, d=8, seed=7)
    eps = 0.05 * cost_matrix(x, y).mean().item()
    value, err = sinkhorn_divergence_solve(x, y, eps, 1000, 1e-6)  # the metric's call
    assert err < 1e-6
    ref = [sinkhorn_solve(cost_matrix(p, q), eps, 1500, 1e-12, method="log").cost.item()
           for p, q in ((x, y), (x, x), (y, y))]
    assert value.item() == pytest.approx(2 * ref[0] - ref[1] - ref[2], rel=1e-5)


def test_iteration_budget_covers_the_eps_ladder():
    """n_iters counts the iterations at every eps; the target eps keeps at least half."""
    C = _problem(8, 50, 40, 2, 1.0)
    for n_iters in (1, 2, 7, 30, 100):
        r = sinkhorn_solve(C, 1e-3 * C.mean().item(), n_iters, tol=0)
        assert r.n_iters == n_iters and torch.isfinite(r.cost)


def test_over_relaxation_from_the_measured_rate_and_its_safeguard():
    from gankit.ot import _OMEGA_MAX, _Relaxation

    r = _Relaxation(True, 10)
    r.update(1e-2)
    r.update(1e-3)  # plain rate theta = 0.1 ** 0.1 per iteration
    theta = 0.1 ** 0.1
    assert r.w == pytest.approx(2 / (1 + (1 - theta) ** 0.5))
    r.update(1e-5)
    assert r.w > 1
    r.update(2e-5)  # the error grew: plain iterations from now on
    assert r.w == 1.0
    r.update(1e-6)
    assert r.w == 1.0
    slow = _Relaxation(True, 10)
    slow.update(1e-2)
    slow.update(0.99e-2)
    assert slow.w == _OMEGA_MAX
    off = _Relaxation(False, 10)
    off.update(1e-2)
    off.update(1e-3)
    assert off.w == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernel_exponents_below_the_floor_are_raised_to_it(dtype):
    """The stabilised kernel keeps no subnormal entry (exp's slow path, and products
    with the scalings that would be subnormal too): exponents below the floor give
    exp(floor), a normal number even divided by the largest scaling; the rest are exp
    itself."""
    from gankit.ot.scaling import _big, _kernel_exp_, _kernel_floor

    floor, tiny = _kernel_floor(dtype), torch.finfo(dtype).tiny
    x = torch.linspace(-1e4, 0, 100_001, dtype=torch.float64)
    k = _kernel_exp_(x.to(dtype, copy=True))  # in place
    low = x < floor
    assert low.any() and (~low).any()
    rtol = 1e-6 if dtype == torch.float32 else 1e-15  # numpy's exp against torch's
    assert (k[low] == k[low][0]).all()  # one value below the floor: exp(floor)
    at_floor = torch.tensor(floor, dtype=dtype).double().exp().to(dtype)  # floor rounded
    torch.testing.assert_close(k[low][0], at_floor, rtol=rtol, atol=0)
    exact = x[~low].to(dtype).double().exp().to(dtype)  # exp of the rounded exponents
    torch.testing.assert_close(k[~low], exact, rtol=rtol, atol=0)
    assert float(k.min()) / _big(dtype) >= tiny  # k / big stays normal
    assert math.exp(floor) * _big(dtype) ** 2 < (1e-92 if dtype == torch.float64 else 1e-11)
    assert _kernel_floor(torch.float16) == -math.inf  # half precision: no floor
