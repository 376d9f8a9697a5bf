import math

import pytest
import torch

from gankit.components import load_config
from gankit.config import ObjectiveConfig
from gankit.objectives import build_objective
from gankit.objectives.base import bce
from gankit.objectives.preference import pair_logits
from gankit.train import Trainer


class PlainD(torch.nn.Module):
    """s(x) = x . (1, -1)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([1.0, -1.0]))

    def forward(self, x):
        return (x * self.w).sum(1, keepdim=True), x


REAL = torch.tensor([[0.5, 1.0], [2.0, -1.0]])  # s = (-0.5, 3.0)
FAKE = torch.tensor([[-1.0, 0.0], [0.3, 2.0]])  # s = (-1.0, -1.7)


def pref():
    return build_objective(ObjectiveConfig(name="preference"))


def logsig(v):
    return math.log(1 / (1 + math.exp(-v)))


def test_discriminator_loss_by_hand():
    loss, logs = pref().d_loss(PlainD(), REAL, FAKE)  # pair logits s(x) - s(G(z)) = (0.5, 4.7)
    assert loss.item() == pytest.approx(-(logsig(0.5) + logsig(4.7)) / 2, rel=1e-6)
    assert logs["d_pair_acc"].item() == 1.0


def test_generator_loss_by_hand_and_a_step_lowers_it():
    x = FAKE.clone().requires_grad_(True)
    loss, _ = pref().g_loss(PlainD(), x, REAL)
    assert loss.item() == pytest.approx(-(logsig(-0.5) + logsig(-4.7)) / 2, rel=1e-6)
    loss.backward()
    with torch.no_grad():
        x -= 0.5 * x.grad
    after, _ = pref().g_loss(PlainD(), x, REAL)
    assert after.item() < loss.item()


def test_the_order_of_a_pair_carries_no_information():
    forward = bce(pair_logits(PlainD(), REAL, FAKE), 1.0)
    swapped = bce(pair_logits(PlainD(), FAKE, REAL), 0.0)
    assert swapped.item() == pytest.approx(forward.item(), rel=1e-7)


def test_bayes_optimal_pair_classifier_is_a_difference_of_log_ratios():
    # P = N(0, 1), Q = N(1, 2^2): Pr(x1 real) computed directly vs sigmoid(r(x1) - r(x2)).
    def logpdf(x, mu, sd):
        return -0.5 * ((x - mu) / sd) ** 2 - math.log(sd * math.sqrt(2 * math.pi))

    def r(x):
        return logpdf(x, 0, 1) - logpdf(x, 1, 2)

    for x1, x2 in [(0.3, 2.5), (-1.0, 0.1), (4.0, -3.0)]:
        pq = math.exp(logpdf(x1, 0, 1) + logpdf(x2, 1, 2))
        qp = math.exp(logpdf(x1, 1, 2) + logpdf(x2, 0, 1))
        assert pq / (pq + qp) == pytest.approx(1 / (1 + math.exp(-(r(x1) - r(x2)))))


def test_a_discriminator_step_lowers_its_loss_and_training_runs():
    obj, D = pref(), PlainD()
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    before, _ = obj.d_loss(D, REAL, FAKE)
    before.backward()
    opt.step()
    assert obj.d_loss(D, REAL, FAKE)[0].item() < before.item()
    t = Trainer(load_config(sets=["objective.name='preference'", "discriminator.width=8",
                                  "generator.width=8", "data.batch_size=8"]))
    assert all(torch.isfinite(t.train_step()["g_loss"]) for _ in range(3))


def test_refuses_an_autoencoder_discriminator():
    cfg = load_config(sets=["objective.name='preference'", "discriminator.net='began'"])
    with pytest.raises(ValueError, match="'preference' reads a logit"):
        Trainer(cfg)
