import pytest
import torch

from gankit.config import from_dict
from gankit.stabilizers.instance_noise import InstanceNoise
from stab_helpers import assert_resume_exact


def make(**opts):
    stab = InstanceNoise(from_dict(InstanceNoise.Options, opts))
    stab.rng.manual_seed(0)
    return stab


@pytest.mark.parametrize("schedule,expected", [
    ("linear", {0: 0.2, 250: 0.15, 500: 0.1, 999: 0.0002}),
    ("exponential", {0: 0.2, 500: 0.02, 999: 0.2 * 0.01 ** 0.999}),
])
def test_measured_std_follows_the_schedule_and_reaches_zero(schedule, expected):
    stab = make(sigma0=0.2, steps=1000, schedule=schedule, floor=0.01)
    x = torch.full((20000, 2), 3.0)
    for step, sigma in expected.items():
        assert stab.std(step) == pytest.approx(sigma, rel=1e-9)
        measured = float((stab.d_input(x, step) - x).std())
        assert measured == pytest.approx(sigma, rel=0.03), step
    for step in (1000, 5000):
        assert stab.std(step) == 0.0
        assert torch.equal(stab.d_input(x, step), x)


def test_noise_is_added_to_every_input_and_keeps_gradients():
    stab = make(sigma0=0.5, steps=10)
    x = torch.zeros(8, 2, requires_grad=True)
    y = stab.d_input(x, 0)
    assert (y != 0).all()
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_resume_is_exact_with_the_noise_generator_in_the_checkpoint(tmp_path):
    full = assert_resume_exact(tmp_path, [
        "stabilizers=[{name='instance_noise', sigma0=0.3, steps=100}]"])
    assert "rng" in full["stabilizers"][0]
