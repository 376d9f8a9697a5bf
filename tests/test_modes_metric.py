import math

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.metrics.modes import kl_to_uniform, mode_metrics, truncated_rms


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
    assert r == {"modes": 0, "hq": 0.0, "kl": None, "spread": None}


def test_spread_is_one_for_the_data_and_tracks_narrower_modes(ring):
    c = ring.describe()["centres"]
    g = torch.Generator().manual_seed(1)
    idx = torch.randint(8, (20000,), generator=g)
    noise = torch.randn(20000, 2, generator=g, dtype=torch.float64)
    exact = mode_metrics(c[idx].double() + 0.01 * noise, c, 0.01)
    assert exact["spread"] == pytest.approx(1.0, abs=0.01)
    half = mode_metrics(c[idx].double() + 0.005 * noise, c, 0.01)
    assert half["hq"] > 99.9  # all within 3 std: the HQ criterion alone rewards this
    # 0.5 std modes are all inside the threshold: rms 0.005 sqrt(2) against the data's
    # truncated rms, which is below 0.01 sqrt(2)
    assert half["spread"] == pytest.approx(0.005 * math.sqrt(2) / truncated_rms(0.01, 2),
                                           rel=0.01)
    assert 0.5 < half["spread"] < 0.55
    at_centres = mode_metrics(c[idx], c, 0.01)
    assert at_centres["spread"] == pytest.approx(0.0, abs=1e-6)


def test_truncated_rms_against_monte_carlo():
    g = torch.Generator().manual_seed(2)
    for dim in (1, 2, 5):
        r = torch.randn(2_000_000, dim, generator=g, dtype=torch.float64).norm(dim=1) * 0.3
        kept = r[r <= 0.9]
        assert truncated_rms(0.3, dim) == pytest.approx(float(kept.pow(2).mean().sqrt()),
                                                       rel=2e-3)
    from scipy.stats import chi2  # an independent reference for the CDF ratio

    for dim in (1, 2, 3, 8):
        want = 0.7 * math.sqrt(dim * chi2.cdf(9, dim + 2) / chi2.cdf(9, dim))
        assert truncated_rms(0.7, dim) == pytest.approx(want, rel=1e-12)
    # 2D closed form: E[r^2 | r <= 3] = 2 (1 - 5.5 e^-4.5) / (1 - e^-4.5)
    e = math.exp(-4.5)
    assert truncated_rms(1.0, 2) == pytest.approx(math.sqrt(2 * (1 - 5.5 * e) / (1 - e)))


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
