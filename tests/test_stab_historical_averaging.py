import torch
from torch import nn

from gankit.config import from_dict
from gankit.stabilizers.historical_averaging import HistoricalAveraging
from stab_helpers import assert_resume_exact


def make(weight=1.0, players="both"):
    return HistoricalAveraging(from_dict(HistoricalAveraging.Options,
                                         {"weight": weight, "players": players}))


def test_running_mean_is_the_mean_of_all_past_parameters_and_gradient_is_2_theta_minus_mean():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    ha = make(weight=1.0)
    ha.start("generator", net)
    history = [net.weight.detach().clone()]
    for step in range(4):
        with torch.no_grad():
            net.weight.add_(torch.randn_like(net.weight))
        history.append(net.weight.detach().clone())
        ha.after_step("generator", net, step)
    mean = torch.stack(history).mean(0)
    assert torch.allclose(ha.mean["generator"]["weight"], mean, atol=1e-6)
    with torch.no_grad():
        net.weight.add_(1.0)  # move away from the mean before differentiating
    net.zero_grad()
    ha.penalty("generator", net).backward()
    assert torch.allclose(net.weight.grad, 2 * (net.weight.detach() - mean), atol=1e-5)
    assert net.weight.grad.abs().max() > 1.0  # a real, non-trivial gradient


def test_penalty_scales_with_weight_and_only_penalises_chosen_players():
    net = nn.Linear(2, 2)
    ha = make(weight=0.5, players="discriminator")
    ha.start("discriminator", net)
    with torch.no_grad():
        net.bias.add_(2.0)
    expected = 0.5 * 2 * 2.0 ** 2  # lambda * sum over 2 biases of (2.0)^2
    assert abs(float(ha.penalty("discriminator", net).detach()) - expected) < 1e-5
    assert ha.penalty("generator", net) is None


def test_resume_is_exact_with_the_running_mean_in_the_checkpoint(tmp_path):
    full = assert_resume_exact(tmp_path, [
        "stabilizers=[{name='historical_averaging', weight=0.01}]"])
    (state,) = full["stabilizers"]
    assert state["count"] == {"generator": 13, "discriminator": 13}
