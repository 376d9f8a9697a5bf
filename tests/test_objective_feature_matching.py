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


def fm_std(weight):
    return build_objective(ObjectiveConfig(name="feature_matching",
                                           options={"std_weight": weight}))


def test_std_weight_adds_the_gap_of_the_per_feature_standard_deviations():
    # REAL's features spread by (1.5, 2) / sqrt(2), FAKE's by (1.3, 2) / sqrt(2)
    loss, _ = fm_std(2.0).g_loss(PlainD(), FAKE, REAL)
    assert loss.item() == pytest.approx(1.6 ** 2 + 1.0 ** 2 + 2.0 * 0.2 ** 2 / 2, rel=1e-6)


def test_std_weight_punishes_a_collapsed_batch_at_the_data_mean():
    collapsed = REAL.mean(0).repeat(2, 1)
    plain, _ = fm().g_loss(PlainD(), collapsed, REAL)
    assert plain.item() == pytest.approx(0.0, abs=1e-12)  # the paper's loss sees nothing
    x = (collapsed + torch.tensor([[0.01, 0.0], [0.0, 0.0]])).requires_grad_(True)
    loss, _ = fm_std(1.0).g_loss(PlainD(), x, REAL)
    assert loss.item() > 3.0   # the data's spread, (1.5^2 + 2^2) / 2 = 3.125, is missing
    loss.backward()
    with torch.no_grad():
        stepped = x - 0.1 * x.grad
    assert stepped.std(0)[0].item() > 2 * x.std(0)[0].item()  # G's step spreads it


def test_std_weight_needs_two_examples_a_batch():
    with pytest.raises(ValueError, match="at least 2 examples"):
        fm_std(1.0).g_loss(PlainD(), FAKE[:1], REAL)


def test_std_weight_cannot_be_negative():
    with pytest.raises(Exception, match="std_weight"):
        load_config(sets=["objective.name='feature_matching'", "objective.std_weight=-1"])
