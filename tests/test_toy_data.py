import math

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset


def make(name, **options):
    return build_dataset(DataConfig(name=name, options=options), seed=0)


@pytest.mark.parametrize("name,modes,std", [("ring", 8, 0.01), ("grid", 25, 0.05)])
def test_mixture_modes_means_and_stds(name, modes, std):
    data = make(name)
    centres = data.describe()["centres"]
    assert centres.shape == (modes, 2)
    x = data.sample(200_000)
    idx = torch.cdist(x, centres).argmin(1)
    counts = torch.bincount(idx, minlength=modes).double()
    assert (counts / counts.sum() - 1 / modes).abs().max() < 0.01  # equal weights
    for k in range(modes):
        pts = x[idx == k]
        assert torch.allclose(pts.mean(0), centres[k], atol=5 * std / math.sqrt(len(pts)) + 1e-6)
        assert torch.allclose(pts.std(0), torch.full((2,), std), rtol=0.05)


def test_ring_geometry_and_grid_values():
    ring = make("ring").describe()["centres"]
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid = make("grid").describe()["centres"]
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_same_seed_same_batches_and_state_resume():
    a, b = make("grid"), make("grid")
    assert torch.equal(a.sample(10), b.sample(10))
    state = a.state_dict()
    first = a.sample(5)
    a.load_state_dict(state)
    assert torch.equal(a.sample(5), first)


def test_spiral_is_bounded_and_not_a_mixture():
    data = make("spiral")
    x = data.sample(5000)
    assert x.norm(dim=1).max() < 1.2 and data.describe() is None
