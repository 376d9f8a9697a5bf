"""Shared timing for the benchmarks that race gankit's step against a hand-written loop."""
from __future__ import annotations

import statistics
import time
from typing import Callable, Tuple


def per_step(step: Callable[[], object], n: int, warmup: int) -> float:
    """Seconds per call of ``step`` over ``n`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def race(ours: Callable[[], object], theirs: Callable[[], object], steps: int,
         repeats: int, warmup: int) -> Tuple[float, float]:
    """Median seconds per step of each, timed alternately so load hits both alike."""
    a, b = [], []
    for _ in range(repeats):
        a.append(per_step(ours, steps, warmup))
        b.append(per_step(theirs, steps, warmup))
    return statistics.median(a), statistics.median(b)
