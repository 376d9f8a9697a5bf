"""Mode coverage on 2D mixtures of Gaussians (VEEGAN / PacGAN protocol).

Srivastava et al. (2017) and Lin et al. (2018) draw 2,500 samples from G, call a sample
*high quality* (HQ) when it lies within 3 standard deviations of its nearest mode centre,
count a mode as *covered* when at least one HQ sample is nearest to it, and report the
KL divergence between the distribution of HQ samples over the modes and the uniform
distribution.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch

from ..registry import METRICS


def assign_modes(samples: torch.Tensor, centres: torch.Tensor):
    """Index of the nearest centre and the distance to it, for each sample."""
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


def mode_metrics(samples: torch.Tensor, centres: torch.Tensor, std: float,
                 threshold: float = 3.0) -> Dict[str, Optional[float]]:
    """``modes`` covered, ``hq`` percentage and ``kl`` to uniform (None with no HQ sample)."""
    if samples.dim() != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(f"samples must have shape (n, {centres.shape[1]}), "
                         f"got {tuple(samples.shape)}")
    if not torch.isfinite(samples).all():
        raise ValueError("samples contain NaN or inf; the generator has diverged")
    idx, dist = assign_modes(samples, centres)
    hq = dist <= threshold * std
    counts = torch.bincount(idx[hq], minlength=len(centres))
    return {"modes": int((counts > 0).sum()),
            "hq": 100.0 * float(hq.double().mean()),
            "kl": kl_to_uniform(counts)}


@METRICS.register("modes")
class ModeCoverage:
    """Modes covered, % high-quality samples and KL to uniform (2D mixtures)."""

    @staticmethod
    def evaluate_samples(samples: torch.Tensor, dataset) -> Dict[str, Optional[float]]:
        info = dataset.describe() or {}
        if "centres" not in info:
            raise ValueError(f"metric 'modes' needs a data set with known mode centres; "
                             f"{type(dataset).__name__} has none")
        return mode_metrics(samples.cpu(), info["centres"], info["std"])


__all__ = ["assign_modes", "kl_to_uniform", "mode_metrics", "ModeCoverage"]
