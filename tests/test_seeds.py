"""One seed derivation for every stream, with the values the streams always had."""
import pytest
import torch

from gankit import seeds
from gankit.components import load_config
from gankit.train import Trainer


def old(seed, offset):
    return (seed * 1_000_003 + offset) % 2**63


@pytest.mark.parametrize("seed", [0, 7, 123_456, 2**40 + 3])
def test_every_stream_keeps_its_seed(seed):
    for stream, number in ((seeds.DATA, 1), (seeds.Z, 2), (seeds.SAMPLES, 3),
                           (seeds.GRID, 4), (seeds.TORCH, 10), (seeds.TORCH + 1, 11)):
        assert seeds.derived_seed(seed, stream) == old(seed, number * 7919)
    # instance noise had its own copy of the formula with offset 104,729
    assert seeds.derived_seed(seed, seeds.INSTANCE_NOISE) == old(seed, 104_729)


def test_the_trainer_and_instance_noise_draw_from_those_seeds():
    t = Trainer(load_config(sets=["seed=5", "stabilizers=[{name='instance_noise'}]",
                                  "generator.width=8", "discriminator.width=8"]))
    assert t.data.seed == old(5, 7919)
    assert t.z_rng.initial_seed() == old(5, 2 * 7919)
    assert torch.initial_seed() == old(5, 10 * 7919)
    noise = t.stabilizers[0].rng
    assert noise.initial_seed() == old(5, 104_729)
    fresh = torch.Generator().manual_seed(old(5, 104_729))
    assert torch.equal(torch.randn(4, generator=noise), torch.randn(4, generator=fresh))
