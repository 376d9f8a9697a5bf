import math

import pytest
import torch

from gankit.components import load_config
from gankit.config import ConfigError, ObjectiveConfig
from gankit.objectives import build_objective
from gankit.train import Trainer


class LinearCritic(torch.nn.Module):
    """f(x) = x . w: a critic whose value and gradient are known by hand."""

    def __init__(self, w):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return (x * self.w).sum(1, keepdim=True), x


class QuadraticCritic(torch.nn.Module):
    """f(x) = 0.5 ||x||^2, so grad f(x) = x."""

    def forward(self, x):
        return 0.5 * (x ** 2).sum(1, keepdim=True), x


REAL = torch.tensor([[0.5, 1.0], [2.0, -1.0]])
FAKE = torch.tensor([[-1.0, 0.0], [0.3, 2.0]])
W = [1.0, 2.0]


def objective(name, **options):
    return build_objective(ObjectiveConfig(name=name, options=options))


def test_wgan_critic_loss_and_em_estimate_by_hand():
    # f(real) = [2.5, 0.0], f(fake) = [-1.0, 4.3]: E f(x) - E f(G(z)) = 1.25 - 1.65
    loss, logs = objective("wgan").d_loss(LinearCritic(W), REAL, FAKE)
    assert loss.item() == pytest.approx(0.4)
    assert logs["em_estimate"].item() == pytest.approx(-0.4)


def test_wgan_generator_loss_by_hand_and_a_step_lowers_it():
    obj = objective("wgan")
    x = FAKE.clone().requires_grad_(True)
    loss, _ = obj.g_loss(LinearCritic(W), x, None)
    assert loss.item() == pytest.approx(-1.65)
    loss.backward()
    with torch.no_grad():
        x -= 0.1 * x.grad
    after, _ = obj.g_loss(LinearCritic(W), x, None)
    assert after.item() < loss.item()


def test_weights_are_clipped_to_c_after_a_critic_step():
    cfg = load_config(sets=["objective.name='wgan'", "objective.clip=0.02",
                            "discriminator.width=16", "generator.width=16",
                            "data.batch_size=16", "d_optim.name='rmsprop'", "d_optim.lr=0.5"])
    t = Trainer(cfg)
    assert max(p.abs().max().item() for p in t.D.parameters()) > 0.02  # init is wider
    logs = t.d_step()
    params = torch.cat([p.flatten() for p in t.D.parameters()])
    assert params.abs().max().item() <= 0.02
    assert (params.abs() == 0.02).sum() > 10  # clipping was active, not vacuous
    assert "em_estimate" in logs


def test_reference_schedule_bursts_100_critic_steps():
    obj = objective("wgan", schedule="reference")
    steps = [obj.d_steps(g, 5) for g in (0, 24, 25, 499, 500, 501, 1000)]
    assert steps == [100, 100, 5, 5, 100, 5, 100]
    assert [objective("wgan").d_steps(g, 5) for g in (0, 500)] == [5, 5]


def test_trainer_follows_the_schedule_and_logs_em_every_step():
    cfg = load_config(sets=["objective.name='wgan'", "objective.schedule='reference'",
                            "objective.burst_d_steps=7", "objective.burst_g_steps=2",
                            "objective.burst_every=4", "train.d_steps=3",
                            "discriminator.width=8", "generator.width=8",
                            "data.batch_size=8"])
    t = Trainer(cfg)
    calls = []
    real_d_step = t.d_step
    t.d_step = lambda: calls.append(t.step) or real_d_step()
    ems = [t.train_step()["em_estimate"] for _ in range(6)]
    per_step = [calls.count(s) for s in range(6)]
    assert per_step == [7, 7, 3, 3, 7, 3]
    assert all(torch.isfinite(e) for e in ems)


def test_wgan_options_are_unknown_keys_for_other_objectives():
    with pytest.raises(ConfigError, match=r"unknown key 'objective.clip'"):
        load_config(sets=["objective.name='nonsaturating'", "objective.clip=0.01"])


def test_gradient_penalty_by_hand_for_a_linear_critic():
    # grad f = w everywhere, so the penalty is (||w|| - 1)^2 whatever the interpolates.
    loss, logs = objective("wgan_gp").d_loss(LinearCritic(W), REAL, FAKE)
    gp = (math.sqrt(5) - 1) ** 2
    assert logs["gp"].item() == pytest.approx(gp)
    assert loss.item() == pytest.approx(0.4 + 10 * gp)


def test_gradient_penalty_on_uniform_interpolates_of_a_quadratic_critic():
    torch.manual_seed(3)
    eps = torch.rand(2, 1)
    x_hat = eps * REAL + (1 - eps) * FAKE  # grad f(x^) = x^
    want = ((x_hat.norm(dim=1) - 1) ** 2).mean().item()
    torch.manual_seed(3)
    _, logs = objective("wgan_gp", lambda_gp=2.0).d_loss(QuadraticCritic(), REAL, FAKE)
    assert logs["gp"].item() == pytest.approx(want, rel=1e-6)


def test_gradient_penalty_is_differentiated_with_respect_to_the_critic():
    D = LinearCritic(W)
    loss, _ = objective("wgan_gp").d_loss(D, REAL, FAKE)
    loss.backward()
    w = torch.tensor(W)
    want = -(REAL.mean(0) - FAKE.mean(0)) + 10 * 2 * (w.norm() - 1) * w / w.norm()
    assert torch.allclose(D.w.grad, want, atol=1e-5)


def test_wgan_gp_refuses_a_batchnorm_critic():
    cfg = load_config(sets=["objective.name='wgan_gp'", "discriminator.batchnorm=true"])
    with pytest.raises(ValueError, match="batch norm"):
        Trainer(cfg)


@pytest.mark.parametrize("name", ["wgan", "wgan_gp"])
def test_critics_refuse_an_autoencoder_discriminator(name):
    cfg = load_config(sets=[f"objective.name='{name}'", "discriminator.net='began'"])
    with pytest.raises(ValueError, match="autoencoder that returns a reconstruction"):
        Trainer(cfg)
