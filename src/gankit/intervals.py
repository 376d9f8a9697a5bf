"""Confidence intervals over seeds and paired comparisons, for tables of runs.

A sweep reports each metric as the mean over seeds with a Student t interval,
mean +- t_{1 - alpha/2, n-1} s / sqrt(n) (s the sample standard deviation), and
compares a variant with a baseline by pairing runs of the same seed: the interval and
the two-sided paired t-test of the per-seed differences (Student 1908; e.g. Wasserman
2004, "All of Statistics", Sec. 10.4). Pairing removes the variation that a seed
shares between two variants (the data draw, the initial weights), so a real
difference shows with fewer seeds than two independent samples would need.
"""
from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Optional, Sequence

from scipy import special


class Interval(NamedTuple):
    """Mean of ``n`` values and its two-sided confidence interval (NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int


class Paired(NamedTuple):
    """Mean per-seed difference (variant - baseline), its interval, and the p-value of
    the two-sided paired t-test of 'no difference' (NaN when n < 2)."""

    diff: Interval
    p_value: float


def _check(values: Sequence[float]) -> List[float]:
    out = [float(v) for v in values]
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        raise ValueError(f"cannot summarise non-finite values {bad}")
    return out


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Student t interval for the mean of i.i.d. ``values`` at confidence ``level``."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    xs = _check(values)
    n = len(xs)
    if n == 0:
        raise ValueError("no values to summarise")
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(special.stdtrit(n - 1, 0.5 + level / 2)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired(variant: Dict[int, float], baseline: Dict[int, float],
           level: float = 0.95) -> Optional[Paired]:
    """Compare two {seed: value} maps on the seeds they share; None if they share none."""
    seeds = sorted(set(variant) & set(baseline))
    if not seeds:
        return None
    diffs = _check([variant[s] - baseline[s] for s in seeds])
    interval = t_interval(diffs, level)
    n = len(diffs)
    if n < 2:
        return Paired(interval, math.nan)
    sd = math.sqrt(math.fsum((d - interval.mean) ** 2 for d in diffs) / (n - 1))
    if sd == 0.0:  # identical differences: certain, unless they are all zero
        return Paired(interval, 1.0 if interval.mean == 0.0 else 0.0)
    t = interval.mean / (sd / math.sqrt(n))
    return Paired(interval, float(2.0 * special.stdtr(n - 1, -abs(t))))


def format_interval(iv: Interval, digits: int = 3) -> str:
    """``mean [low, high]``, or the mean alone when there is no interval."""
    if math.isnan(iv.low):
        return f"{iv.mean:.{digits}g}"
    return f"{iv.mean:.{digits}g} [{iv.low:.{digits}g}, {iv.high:.{digits}g}]"
