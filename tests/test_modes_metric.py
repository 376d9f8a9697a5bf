import math

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.metrics.modes import kl_to_uniform, mode_metrics


@pytest.fixture
def ring():
    return build_dataset(DataConfig(name="ring"), seed=0)


def test_all_samples_in_one_mode(ring):
    c = ring.describe()["centres"]
    samples = c[3] + 0.01 * torch.randn(2500, 2, generator=torch.Generator().manual_seed(0))
    r = mode_metrics(samples, c, 0.01)
    assert r["modes"] == 1
    assert r["kl"] == pytest.approx(math.log(8), abs=1e-12)


def test_exact_draws_cover_everything(ring):
    r = mode_metrics(ring.sample(2500), ring.describe()["centres"], 0.01)
    assert r["modes"] == 8
    # P(|N(0, I_2)| <= 3) = 1 - exp(-9/2) = 98.89% for a 2D Gaussian
    assert r["hq"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.6)
    assert r["kl"] < 0.01


def test_far_samples_are_not_high_quality(ring):
    r = mode_metrics(torch.full((100, 2), 5.0), ring.describe()["centres"], 0.01)
    assert r == {"modes": 0, "hq": 0.0, "kl": None}


def test_kl_against_scipy():
    from scipy.stats import entropy

    counts = torch.tensor([5, 0, 3, 2])
    assert kl_to_uniform(counts) == pytest.approx(entropy([5, 0, 3, 2], [1, 1, 1, 1]))


def test_bad_samples_are_refused(ring):
    c = ring.describe()["centres"]
    with pytest.raises(ValueError, match="NaN"):
        mode_metrics(torch.tensor([[float("nan"), 0.0]]), c, 0.01)
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        mode_metrics(torch.zeros(4, 3), c, 0.01)
