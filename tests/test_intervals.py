"""Confidence intervals and paired comparisons against scipy.stats."""
import math

import numpy as np
import pytest
from scipy import stats

from gankit.intervals import format_interval, paired, t_interval


@pytest.mark.parametrize("n", [2, 3, 10, 40])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_interval_equals_scipy(n, level):
    x = np.random.default_rng(n).normal(3.0, 2.0, size=n)
    iv = t_interval(x, level)
    low, high = stats.t.interval(level, n - 1, loc=x.mean(), scale=stats.sem(x))
    assert (iv.mean, iv.n) == (pytest.approx(x.mean(), abs=1e-14), n)
    assert iv.low == pytest.approx(low, rel=1e-12) and iv.high == pytest.approx(high, rel=1e-12)


def test_paired_comparison_equals_scipy_ttest_rel():
    rng = np.random.default_rng(0)
    base = rng.normal(size=8)
    var = base + 0.3 + 0.2 * rng.normal(size=8)
    cmp = paired(dict(enumerate(var)), dict(enumerate(base)))
    ref = stats.ttest_rel(var, base)
    assert cmp.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    low, high = stats.t.interval(0.95, 7, loc=(var - base).mean(), scale=stats.sem(var - base))
    assert (cmp.diff.low, cmp.diff.high) == (pytest.approx(low), pytest.approx(high))


def test_pairing_uses_shared_seeds_only_and_sees_what_independent_samples_miss():
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0, 5, size=6)  # large variation shared by both variants
    base = {s: 10 + seed_effect[s] for s in range(6)}
    var = {s: 10.5 + seed_effect[s] + 0.05 * rng.normal() for s in range(6)}
    var[99] = 1000.0  # a seed the baseline lacks: ignored
    cmp = paired(var, base)
    assert cmp.diff.n == 6 and cmp.p_value < 1e-4
    assert stats.ttest_ind([var[s] for s in range(6)], list(base.values())).pvalue > 0.5
    assert paired({1: 2.0}, {2: 3.0}) is None


def test_degenerate_cases():
    one = t_interval([4.0])
    assert one.mean == 4.0 and math.isnan(one.low) and format_interval(one) == "4"
    same = paired({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0})
    assert same.p_value == 1.0 and same.diff.mean == 0.0
    assert paired({0: 2.0, 1: 3.0}, {0: 1.0, 1: 2.0}).p_value == 0.0
    with pytest.raises(ValueError, match="non-finite"):
        t_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="no values"):
        t_interval([])
