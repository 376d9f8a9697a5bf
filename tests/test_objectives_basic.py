import math

import pytest
import torch

from gankit.config import ObjectiveConfig
from gankit.objectives import build_objective


class FixedD(torch.nn.Module):
    """D(x) = sigmoid(w * x): logits are the inputs scaled, features the inputs."""

    def __init__(self, w=1.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return self.w * x, x


def sig(v):
    return 1 / (1 + math.exp(-v))


REAL = torch.tensor([[0.5], [2.0]])
FAKE = torch.tensor([[-1.0], [0.3]])


def test_discriminator_loss_is_minus_V():
    # -V = -1/m sum [log D(x) + log(1 - D(G(z)))]
    for name in ("minimax", "nonsaturating"):
        obj = build_objective(ObjectiveConfig(name=name))
        loss, logs = obj.d_loss(FixedD(), REAL, FAKE)
        want = -(math.log(sig(0.5)) + math.log(sig(2.0))) / 2 \
               - (math.log(1 - sig(-1.0)) + math.log(1 - sig(0.3))) / 2
        assert loss.item() == pytest.approx(want, rel=1e-6)
        assert logs["d_real"].item() == pytest.approx((sig(0.5) + sig(2.0)) / 2, rel=1e-6)


def test_minimax_generator_loss_is_log_one_minus_D():
    loss, _ = build_objective(ObjectiveConfig(name="minimax")).g_loss(FixedD(), FAKE, None)
    want = (math.log(1 - sig(-1.0)) + math.log(1 - sig(0.3))) / 2
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_nonsaturating_generator_loss_is_minus_log_D():
    loss, _ = build_objective(ObjectiveConfig(name="nonsaturating")).g_loss(FixedD(), FAKE, None)
    want = -(math.log(sig(-1.0)) + math.log(sig(0.3))) / 2
    assert loss.item() == pytest.approx(want, rel=1e-6)


def test_nonsaturating_gradient_is_strong_where_minimax_saturates():
    # D confidently rejects the sample (D(G(z)) ~ 0): the minimax gradient vanishes.
    x = torch.tensor([[-8.0]], requires_grad=True)
    grads = {}
    for name in ("minimax", "nonsaturating"):
        loss, _ = build_objective(ObjectiveConfig(name=name)).g_loss(FixedD(), x, None)
        (g,) = torch.autograd.grad(loss, x)
        grads[name] = g.item()
    assert abs(grads["minimax"]) == pytest.approx(sig(-8.0), rel=1e-4)
    assert abs(grads["nonsaturating"]) == pytest.approx(1 - sig(-8.0), rel=1e-4)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_a_generator_step_lowers_its_loss_on_a_fixed_D(name):
    obj = build_objective(ObjectiveConfig(name=name))
    x = FAKE.clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.1)
    before, _ = obj.g_loss(FixedD(), x, None)
    opt.zero_grad()
    before.backward()
    opt.step()
    after, _ = obj.g_loss(FixedD(), x, None)
    assert after.item() < before.item()


def test_a_discriminator_step_raises_V():
    obj = build_objective(ObjectiveConfig(name="minimax"))
    D = FixedD(0.1)
    opt = torch.optim.SGD(D.parameters(), lr=0.1)
    before, _ = obj.d_loss(D, REAL, FAKE)
    opt.zero_grad()
    before.backward()
    opt.step()
    after, _ = obj.d_loss(D, REAL, FAKE)
    assert after.item() < before.item()  # d_loss = -V


def test_multi_logit_discriminator_is_refused_with_a_hint():
    obj = build_objective(ObjectiveConfig(name="minimax"))
    D = lambda x: (torch.zeros(len(x), 3), x)  # noqa: E731
    with pytest.raises(ValueError, match="n_out = 1"):
        obj.d_loss(D, REAL, FAKE)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"])
def test_an_autoencoder_discriminator_is_refused_at_build_time(name, tmp_path):
    from gankit.components import load_config
    from gankit.train import Trainer

    with pytest.raises(ValueError, match=f"objective '{name}' reads a logit.*autoencoder"):
        Trainer(load_config(sets=[f"objective.name='{name}'", "discriminator.net='began'"]))
