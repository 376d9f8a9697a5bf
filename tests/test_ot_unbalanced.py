"""Unbalanced entropic OT (gankit.ot with rho): POT's plan, strong duality, the balanced
limit, the envelope gradient, and the property the Sinkhorn loss relies on: between two
minibatches of a mixture it leaves count differences unmatched instead of carrying
them to another mode."""
import math

import numpy as np
import ot
import pytest
import torch

from gankit.config import ObjectiveConfig
from gankit.data.toy import Grid
from gankit.objectives import build_objective
from gankit.ot import cost_matrix, sinkhorn_divergence, sinkhorn_solve


def _clouds(n, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return x, torch.randn(m, 2, generator=g, dtype=torch.float64) + 0.5


def _grid_batches(n, seed):
    """Two batches of the grid data set (25 modes 2 apart, std 0.05) and each point's mode."""
    grid = Grid(Grid.Options(), seed)
    return [*grid.sample_with_labels(n), *grid.sample_with_labels(n)]


@pytest.mark.parametrize("n, m, eps, rho", [(7, 5, 0.1, 1.0), (30, 40, 0.05, 0.3),
                                            (30, 30, 0.5, 10.0)])
def test_plan_matches_pot(n, m, eps, rho):
    x, y = _clouds(n, m)
    C = cost_matrix(x, y)
    r = sinkhorn_solve(C, eps, n_iters=5000, tol=1e-13, rho=rho, grad="envelope")
    ref = ot.unbalanced.sinkhorn_unbalanced(np.full(n, 1 / n), np.full(m, 1 / m), C.numpy(), eps,
                                            rho, method="sinkhorn", numItermax=100000,
                                            stopThr=1e-14)
    assert np.abs(r.plan.numpy() - ref).max() < 1e-10 * ref.max()
    assert float(r.plan.sum()) < 1.0  # mass left unmatched: the problem is unbalanced


def test_value_equals_the_dual_objective():
    """Strong duality (Sejourne et al. 2019): the primal value the solver reports equals
    -rho <a, exp(-f/rho) - 1> - rho <b, exp(-g/rho) - 1> - eps <a x b, exp((f+g-C)/eps) - 1>."""
    x, y = _clouds(30, 40, seed=1)
    C = cost_matrix(x, y)
    eps, rho = 0.05, 0.3
    r = sinkhorn_solve(C, eps, n_iters=5000, tol=1e-13, rho=rho, grad="envelope")
    a, b = torch.full((30,), 1 / 30, dtype=C.dtype), torch.full((40,), 1 / 40, dtype=C.dtype)
    dual = (-rho * (a * (torch.exp(-r.f / rho) - 1)).sum()
            - rho * (b * (torch.exp(-r.g / rho) - 1)).sum()
            - eps * ((a[:, None] * b[None]) * (torch.exp((r.f[:, None] + r.g[None] - C) / eps)
                                               - 1)).sum())
    assert float(r.cost) == pytest.approx(float(dual), rel=1e-10)


def test_growing_rho_approaches_the_balanced_plan():
    """rho -> infinity is balanced OT: the plans' L1 distance shrinks with rho, and
    tenfold per tenfold rho once rho is large (first order in 1 / rho)."""
    x, y = _clouds(25, 25, seed=2)
    C = cost_matrix(x, y)
    bal = sinkhorn_solve(C, 0.1, n_iters=5000, tol=1e-12).plan
    gaps = [float((sinkhorn_solve(C, 0.1, n_iters=200000, tol=1e-15, rho=rho,
                                  grad="envelope").plan - bal).abs().sum())
            for rho in (1.0, 10.0, 100.0, 1000.0)]
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3]
    assert gaps[0] > 0.5 and 8 < gaps[2] / gaps[3] < 12


def test_symmetric_update_gives_the_plain_solution():
    x, _ = _clouds(40, 1, seed=3)
    C = cost_matrix(x, x)
    plain = sinkhorn_solve(C, 0.05, n_iters=5000, tol=1e-13, rho=0.5, grad="envelope")
    sym = sinkhorn_solve(C, 0.05, n_iters=5000, tol=1e-13, rho=0.5, grad="envelope",
                         symmetric=True)
    assert torch.allclose(sym.plan, plain.plan, atol=1e-12)


def test_gradient_in_the_points_is_the_envelope_one():
    """The divergence's gradient (through C, plans held fixed) matches central finite
    differences of its value at converged plans."""
    x, y = _clouds(12, 10, seed=4)
    x.requires_grad_(True)
    kw = dict(eps=0.1, n_iters=5000, tol=1e-13, grad="envelope", rho=0.5)
    val = sinkhorn_divergence(x, y, **kw)
    (grad,) = torch.autograd.grad(val, x)
    h = 1e-5
    for i, d in ((0, 0), (3, 1), (11, 0)):
        xp, xm = x.detach().clone(), x.detach().clone()
        xp[i, d] += h
        xm[i, d] -= h
        fd = (sinkhorn_divergence(xp, y, **kw) - sinkhorn_divergence(xm, y, **kw)) / (2 * h)
        assert float(grad[i, d]) == pytest.approx(float(fd), rel=1e-5, abs=1e-9)


def test_count_differences_stay_within_their_modes():
    """Two 384-point batches of the grid hold its 25 modes in different counts. The
    balanced plan must send part of a sample's mass to another mode, 2 apart; with rho
    = 1 the plan leaves the surplus unmatched and keeps every sample's mass on its own
    mode: the pull that would drag samples off their modes is gone."""
    fake, kf, real, kr = _grid_batches(384, seed=0)
    C = cost_matrix(fake, real)

    def off_mode_share(plan):
        w = plan / plan.sum(1, keepdim=True)
        return float((w * (kf[:, None] != kr[None, :])).sum(1).mean())

    balanced = sinkhorn_solve(C.double(), 2.5e-3, n_iters=3000, tol=1e-9)
    unbalanced = sinkhorn_solve(C, 2.5e-3, n_iters=100, rho=1.0, grad="envelope")
    assert off_mode_share(balanced.plan) > 0.05
    assert off_mode_share(unbalanced.plan) < 1e-3
    assert torch.isfinite(unbalanced.plan).all() and unbalanced.plan.dtype == torch.float32


def test_eps_ladder_and_far_points_stay_finite_in_float32():
    """A batch whose self-transport potentials grow 16-fold in the exponent at the last
    step of the eps ladder, and points 40 apart: finite plans with their mass."""
    g = torch.Generator().manual_seed(5)
    x = torch.cat([torch.randn(100, 2, generator=g) * 4, torch.full((4, 2), 30.0)])
    r = sinkhorn_solve(cost_matrix(x, x), 2.5e-3, n_iters=100, rho=1.0, grad="envelope",
                       symmetric=True)
    assert torch.isfinite(r.plan).all() and math.isfinite(float(r.cost))
    assert float(r.plan.sum()) == pytest.approx(1.0, abs=0.02)  # each point keeps its own
    y = torch.randn(104, 2, generator=g)
    r = sinkhorn_solve(cost_matrix(x, y), 2.5e-3, n_iters=100, rho=1.0, grad="envelope")
    assert torch.isfinite(r.plan).all()
    assert float(r.plan[100:].sum()) < 1e-6  # the far points get (almost) no mass


def test_bad_input_is_refused():
    C = cost_matrix(*_clouds(5, 5))
    with pytest.raises(ValueError, match="rho must be positive"):
        sinkhorn_solve(C, 0.1, rho=0.0, grad="envelope")
    with pytest.raises(ValueError, match="grad='envelope'"):
        sinkhorn_solve(C.requires_grad_(True), 0.1, rho=1.0)
    with pytest.raises(ValueError, match="rho = 1 .*grad = 'envelope'"):
        build_objective(ObjectiveConfig(name="sinkhorn", options={"rho": 1.0, "grad": "autograd"}))


def test_a_batch_of_problems_solves_each():
    x, y = _clouds(20, 15, seed=6)
    C = torch.stack([cost_matrix(x, y), cost_matrix(x, y + 1.0)])
    kw = dict(n_iters=5000, tol=1e-13, rho=0.5, grad="envelope")
    both = sinkhorn_solve(C, 0.1, **kw)
    for k in range(2):
        one = sinkhorn_solve(C[k], 0.1, **kw)
        assert torch.allclose(both.plan[k], one.plan, atol=1e-12)
        assert float(both.cost[k]) == pytest.approx(float(one.cost), rel=1e-10)
