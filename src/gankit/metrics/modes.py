"""Mode coverage on 2D mixtures of Gaussians (VEEGAN / PacGAN protocol).

Srivastava et al. (2017) and Lin et al. (2018) draw 2,500 samples from G, call a sample
*high quality* (HQ) when it lies within 3 standard deviations of its nearest mode centre,
count a mode as *covered* when at least one HQ sample is nearest to it, and report the
KL divergence between the distribution of HQ samples over the modes and the uniform
distribution.

Those three cannot see a generator that puts each mode's mass closer to its centre than
the data does (a partial collapse inside every mode: HQ even rises). ``spread`` does:
the root mean square distance of the HQ samples to their mode centre divided by the
same quantity for the data itself, whose 3-std-truncated value is known in closed form
(1 for a generator that matches the modes' width, below 1 for narrower modes).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch

from .base import EvalContext, Metric, register


def assign_modes(samples: torch.Tensor, centres: torch.Tensor):
    """Index of the nearest centre and the distance to it, for each sample (finite,
    of the centres' dimension: a bad input raises saying so)."""
    if samples.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (n, {centres.shape[1]}), "
                         f"got {tuple(samples.shape)}")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contain NaN or inf; the generator has diverged")
    dist = torch.cdist(samples.double(), centres.double())
    nearest, idx = dist.min(dim=1)
    return idx, nearest


def kl_to_uniform(counts: torch.Tensor) -> Optional[float]:
    """KL(p || uniform) for p = counts / sum(counts), 0 log 0 = 0; None if no counts."""
    total = counts.sum()
    if total == 0:
        return None
    p = counts.double() / total
    nz = p[p > 0]
    return float((nz * (nz * len(counts)).log()).sum())


def _chi2_cdf(t: float, k: int) -> float:
    """P(chi2_k <= t), the regularised lower incomplete gamma P(k/2, t/2) (torch's, so
    the metric adds no scipy.stats import, ~0.4 s, to every run's start-up)."""
    half = torch.tensor([k / 2.0, t / 2.0], dtype=torch.float64)
    return float(torch.special.gammainc(half[0], half[1]))


def truncated_rms(std: float, dim: int, threshold: float = 3.0) -> float:
    """sqrt E[r^2 | r <= threshold std] for r = |x - c|, x ~ N(c, std^2 I_dim).

    r^2 / std^2 is chi-square with dim degrees of freedom, and E[r^2 1{r^2 <= t std^2}]
    = std^2 dim P(chi2_{dim+2} <= t), so the conditional mean is a ratio of two CDFs.
    """
    t = threshold ** 2
    return std * math.sqrt(dim * _chi2_cdf(t, dim + 2) / _chi2_cdf(t, dim))


def mode_metrics(samples: torch.Tensor, centres: torch.Tensor, std: float,
                 threshold: float = 3.0) -> Dict[str, Optional[float]]:
    """``modes`` covered, ``hq`` percentage, ``kl`` to uniform and the within-mode
    ``spread`` of the HQ samples relative to the data's (both None with no HQ sample)."""
    idx, dist = assign_modes(samples, centres)
    hq = dist <= threshold * std
    counts = torch.bincount(idx[hq], minlength=len(centres))
    spread = None
    if hq.any():
        rms = float(dist[hq].pow(2).mean().sqrt())
        spread = rms / truncated_rms(std, centres.shape[1], threshold)
    return {"modes": int((counts > 0).sum()),
            "hq": 100.0 * float(hq.double().mean()),
            "kl": kl_to_uniform(counts), "spread": spread}


@register("modes")
class ModeCoverage(Metric):
    """Modes covered, % high-quality samples and KL to uniform (2D mixtures)."""

    source = "samples"

    def check(self, dataset) -> None:
        if "centres" not in (dataset.describe() or {}):
            raise ValueError(f"metric 'modes' needs a data set with known mode centres; "
                             f"{type(dataset).__name__} has none")

    def from_samples(self, samples: torch.Tensor, ctx: EvalContext) -> Dict[str, Optional[float]]:
        self.check(ctx.dataset)
        info = ctx.dataset.describe()
        return mode_metrics(samples.cpu(), info["centres"], info["std"])


__all__ = ["assign_modes", "kl_to_uniform", "mode_metrics", "truncated_rms", "ModeCoverage"]
