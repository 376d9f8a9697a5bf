import warnings

import numpy as np
import ot
import pytest
import torch

from gankit.ot import (cost_matrix, sinkhorn, sinkhorn_distance,
                                     sinkhorn_divergence, sinkhorn_solve)


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
    assert abs(sinkhorn_divergence(x, x.clone(), 0.5).item()) < 1e-10
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
