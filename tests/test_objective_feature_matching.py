import math

import pytest
import torch

from gankit.components import load_config
from gankit.config import NetConfig, ObjectiveConfig
from gankit.nets import build_net
from gankit.objectives import build_objective
from gankit.train import Trainer


class PlainD(torch.nn.Module):
    """logit = x . w, features = x (declares feature_dim like the real nets)."""

    feature_dim = 2

    def forward(self, x):
        return (x * torch.tensor([1.0, -1.0])).sum(1, keepdim=True), x


class NoFeatures(torch.nn.Module):
    def forward(self, x):
        return x[:, :1], None


REAL = torch.tensor([[0.5, 1.0], [2.0, -1.0]])  # mean (1.25, 0)
FAKE = torch.tensor([[-1.0, 0.0], [0.3, 2.0]])  # mean (-0.35, 1)


def fm():
    return build_objective(ObjectiveConfig(name="feature_matching"))


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_generator_loss_is_squared_distance_of_feature_means():
    loss, _ = fm().g_loss(PlainD(), FAKE, REAL)
    assert loss.item() == pytest.approx(1.6 ** 2 + 1.0 ** 2)


def test_discriminator_plays_the_usual_game():
    # logits: real (-0.5, 3.0), fake (-1.0, -1.7)
    loss, _ = fm().d_loss(PlainD(), REAL, FAKE)
    want = -(math.log(sig(-0.5)) + math.log(sig(3.0))) / 2 \
        - (math.log(1 - sig(-1.0)) + math.log(1 - sig(-1.7))) / 2
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_a_generator_step_lowers_its_loss():
    x = FAKE.clone().requires_grad_(True)
    before, _ = fm().g_loss(PlainD(), x, REAL)
    before.backward()
    with torch.no_grad():
        x -= 0.1 * x.grad
    after, _ = fm().g_loss(PlainD(), x, REAL)
    assert after.item() < before.item()


def test_the_layer_is_the_discriminators_feature_layer():
    opts = {"width": 4, "depth": 3, "feature_layer": 0}
    D = build_net("discriminator", NetConfig(options=opts), (2,))
    first = D.body[:2]  # Linear + ReLU of hidden layer 0
    want = ((first(REAL).mean(0) - first(FAKE).mean(0)) ** 2).sum()
    loss, _ = fm().g_loss(D, FAKE, REAL)
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


def test_refuses_a_net_exposing_no_features():
    with pytest.raises(ValueError, match="exposes none"):
        fm().check(None, NoFeatures())


def test_trains_with_a_real_batch_in_the_generator_step():
    t = Trainer(load_config(sets=["objective.name='feature_matching'",
                                  "discriminator.width=8", "generator.width=8",
                                  "data.batch_size=8"]))
    assert t.objective.g_needs_real
    logs = [t.train_step() for _ in range(3)]
    assert all(torch.isfinite(l["g_loss"]) and l["g_loss"] >= 0 for l in logs)


def test_feature_matching_and_semisup_share_one_loss_whose_real_side_is_a_constant():
    # the two generator losses were written twice (one detached the real features, the
    # other not); now both call feature_matching_loss and agree in value and gradient
    D = build_net("discriminator", NetConfig(options={"width": 8, "n_out": 3}), (2,))
    semisup = build_objective(ObjectiveConfig(name="semisup"))
    torch.manual_seed(0)
    real, fake = torch.randn(16, 2), torch.randn(16, 2)
    grads, values = [], []
    for objective in (fm(), semisup):
        x, r = fake.clone().requires_grad_(True), real.clone().requires_grad_(True)
        loss, _ = objective.g_loss(D, x, r)
        loss.backward()
        assert r.grad is None  # E_x f(x) is G's target: no gradient through it
        values.append(loss.detach())
        grads.append(x.grad)
    assert torch.equal(values[0], values[1]) and torch.equal(grads[0], grads[1])
    # G's gradient is what the undetached form gave (the real side has no G in it)
    x = fake.clone().requires_grad_(True)
    undetached = ((D(real)[1].mean(0) - D(x)[1].mean(0)) ** 2).sum()
    undetached.backward()
    assert torch.allclose(x.grad, grads[0], rtol=1e-6, atol=1e-9)
    assert torch.allclose(undetached, values[0])
