import numpy as np
import ot
import pytest
import torch

from gankit.components import load_config
from gankit.config import ObjectiveConfig
from gankit.objectives import build_objective
from gankit.train import Trainer


class FeatD(torch.nn.Module):
    """features v(x) = x W, W learnable; one logit (unused by this objective)."""

    feature_dim = 2

    def __init__(self):
        super().__init__()
        self.W = torch.nn.Parameter(torch.tensor([[1.0, 0.5], [-0.3, 1.0]]))

    def forward(self, x):
        v = x @ self.W
        return v[:, :1], v


def sk(**options):
    return build_objective(ObjectiveConfig(name="sinkhorn", options=options))


def no_d(x):
    raise AssertionError("space = 'data' must not call D")


def test_one_point_each_gives_the_cost_itself():
    x, y = torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, -1.0]])  # ||x - y||^2 = 8
    assert sk(debiased=False).g_loss(no_d, x, y)[0].item() == pytest.approx(8.0)
    assert sk().g_loss(no_d, x, y)[0].item() == pytest.approx(16.0)  # 2 * 8 - 0 - 0


def test_matches_pot_on_small_batches():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(4, 2)) + 1.0
    eps = 0.5

    def pot(a, b):
        M = ot.dist(a, b)  # squared Euclidean
        return ot.sinkhorn2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), M,
                            eps, numItermax=10000, stopThr=1e-13)

    obj = sk(eps=eps, n_iters=5000, tol=1e-12, debiased=False)
    got = obj.g_loss(no_d, torch.tensor(x), torch.tensor(y))[0].item()
    assert got == pytest.approx(pot(x, y), rel=1e-7)
    obj = sk(eps=eps, n_iters=5000, tol=1e-12)
    got = obj.g_loss(no_d, torch.tensor(x), torch.tensor(y))[0].item()
    assert got == pytest.approx(2 * pot(x, y) - pot(x, x) - pot(y, y), rel=1e-6)


def test_debiased_divergence_vanishes_on_identical_batches_plain_ot_does_not():
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    assert abs(sk(eps=0.1).g_loss(no_d, x, x)[0].item()) < 1e-5
    assert sk(eps=0.1, debiased=False).g_loss(no_d, x, x)[0].item() > 1e-3


def test_small_eps_stays_finite_in_the_log_domain():
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(2)) * 3
    value = sk(eps=1e-4).g_loss(no_d, x, x + 5.0)[0]
    assert torch.isfinite(value) and value.item() > 0


def test_cosine_cost_on_discriminator_features_by_hand():
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    W = FeatD().W.detach()
    vx, vy = (x @ W)[0], (y @ W)[0]
    cos = float(vx @ vy / (vx.norm() * vy.norm()))
    obj = sk(space="features", cost="cosine")
    assert obj.g_loss(FeatD(), x, y)[0].item() == pytest.approx(2 * (1 - cos), rel=1e-5)
    d_loss, _ = obj.d_loss(FeatD(), y, x)
    assert d_loss.item() == pytest.approx(-2 * (1 - cos), rel=1e-5)


def test_a_generator_step_lowers_the_loss_and_a_critic_step_raises_it():
    gen = torch.Generator().manual_seed(3)
    real, fake = torch.randn(8, 2, generator=gen), torch.randn(8, 2, generator=gen) + 2
    obj = sk(eps=0.1)
    x = fake.clone().requires_grad_(True)
    before, _ = obj.g_loss(no_d, x, real)
    before.backward()
    with torch.no_grad():
        x -= 0.1 * x.grad
    assert obj.g_loss(no_d, x, real)[0].item() < before.item()
    obj, D = sk(space="features", cost="cosine", eps=0.1), FeatD()
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    d_before, _ = obj.d_loss(D, real, fake)
    d_before.backward()
    opt.step()
    assert obj.d_loss(D, real, fake)[0].item() < d_before.item()  # D ascends the distance


def test_discriminator_steps_only_in_feature_space():
    assert sk().d_steps(0, 5) == 0
    assert sk(space="features", cost="cosine").d_steps(0, 5) == 5
    t = Trainer(load_config(sets=["objective.name='sinkhorn'", "generator.width=8",
                                  "discriminator.width=8", "data.batch_size=16"]))
    d_before = [p.clone() for p in t.D.parameters()]
    logs = t.train_step()
    assert "sinkhorn" in logs and "d_loss" not in logs
    assert all(torch.equal(a, b) for a, b in zip(d_before, t.D.parameters()))


def test_bad_combinations_are_refused():
    with pytest.raises(ValueError, match="needs cost = 'cosine'"):
        sk(space="features")
    with pytest.raises(ValueError, match="exposes none"):
        sk(space="features", cost="cosine").check(None, lambda x: (x, None))


def test_envelope_and_autograd_gradients_point_the_same_way():
    gen = torch.Generator().manual_seed(4)
    real, fake = torch.randn(12, 2, generator=gen), torch.randn(12, 2, generator=gen) + 1
    grads = []
    for mode in ("envelope", "autograd"):
        x = fake.clone().requires_grad_(True)
        sk(eps=0.05, n_iters=300, grad=mode).g_loss(no_d, x, real)[0].backward()
        grads.append(x.grad.flatten())
    cos = torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0)
    assert cos.item() > 0.95


def _ring_batches(m, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    angles = torch.randint(8, (2, m), generator=g).to(dtype) * (torch.pi / 4)
    pts = torch.stack([angles.cos(), angles.sin()], -1)
    pts = pts + 0.05 * torch.randn(2, m, 2, generator=g, dtype=dtype)
    return pts[0] * 1.1, pts[1]  # G slightly off the ring; the data


@pytest.mark.parametrize("debiased", [True, False])
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-8), (torch.float32, 2e-3)])
def test_loss_gradients_equal_the_log_domain_reference(debiased, dtype, rtol):
    """The loss's envelope gradient on the fast solver path equals the one on the
    log-domain path (the solver before it had a fast path) once both have converged."""
    from gankit.ot import sinkhorn_distance, sinkhorn_divergence

    fake, real = _ring_batches(48, 5, dtype)
    obj = sk(eps=0.2, n_iters=20000, tol=1e-12 if dtype == torch.float64 else 1e-6,
             debiased=debiased)
    x = fake.clone().requires_grad_(True)
    value, _ = obj.g_loss(no_d, x, real)
    (grad,) = torch.autograd.grad(value, x)
    fn = sinkhorn_divergence if debiased else sinkhorn_distance
    xr = fake.clone().requires_grad_(True)
    ref = fn(xr, real, 0.2, 20000, obj.opts.tol, grad="envelope", method="log")
    (ref_grad,) = torch.autograd.grad(ref, xr)
    assert value.item() == pytest.approx(ref.item(), rel=rtol)
    scale = ref_grad.abs().max().item()
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * scale)


def test_autograd_gradients_are_the_unrolled_log_iterations():
    """grad = 'autograd' differentiates the log path's 100 iterations as before; only
    OT(X, X), which has no gradient, now takes the (better converged) fast path."""
    from gankit.ot import sinkhorn_divergence

    fake, real = _ring_batches(32, 6, torch.float64)
    x = fake.clone().requires_grad_(True)
    value, _ = sk(eps=0.1, grad="autograd").g_loss(no_d, x, real)
    (grad,) = torch.autograd.grad(value, x)
    xr = fake.clone().requires_grad_(True)
    ref = sinkhorn_divergence(xr, real, 0.1, 100, 1e-6, grad="autograd", method="log")
    (ref_grad,) = torch.autograd.grad(ref, xr)
    assert value.item() == pytest.approx(ref.item(), rel=1e-4)
    np.testing.assert_array_equal(grad, ref_grad)


def test_default_options_converge_further_than_the_log_path():
    """At the loss's defaults (eps 0.05, L = 100, float32) on a 256-point ring batch the
    fast path's plan has a smaller marginal error than the log path's after as many
    iterations, so its gradient is closer to the converged one."""
    from gankit.ot import cost_matrix, sinkhorn_solve

    fake, real = _ring_batches(256, 7, torch.float32)
    C = cost_matrix(fake, real)
    fast = sinkhorn_solve(C, 0.05, 100, 1e-6, grad="envelope")
    log = sinkhorn_solve(C, 0.05, 100, 1e-6, grad="envelope", method="log")
    assert torch.isfinite(fast.plan).all() and fast.err < log.err
