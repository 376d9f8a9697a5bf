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


def hand_step(G, D, logits, g_opt, d_opt, real, noise) -> None:
    """One non-saturating GAN iteration as a user writes it without gankit: a D step on
    ``real()`` and G(``noise()``), then a G step on G(``noise()``); ``logits(x)`` reads
    D's logits for a batch."""
    import torch
    from torch.nn import functional as F

    with torch.no_grad():
        fake = G(noise())
    real_logits, fake_logits = logits(real()), logits(fake)
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    D.requires_grad_(False)
    out = logits(G(noise()))
    g_loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    D.requires_grad_(True)
