"""Drawing samples from a generator: the prior, optionally truncated, in batches.

The truncation trick (Brock et al. 2019, BigGAN, Sec. 3.1) draws z from a truncated
normal: entries whose magnitude exceeds the threshold psi are *resampled* until they fall
within it, which keeps a normal's shape inside [-psi, psi] (scaling z, or clamping it,
would not; Marchesi 2017 and BigGAN both resample).

Samples are mapped into the data's range (:func:`gankit.nets.layers.data_range`): images
are clamped to [-1, 1], as StyleGAN clamps before converting to 8 bits (Karras et al.
2019, ``training/misc.py``), so a generator without a bounded output layer (BEGAN's
decoder, Berthelot et al. 2017, Sec. 3.4) still gives images that evaluate and save.
Vectors are left as they are.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..evalmode import eval_mode
from .conditional import classes_of
from .layers import data_range, sample_noise


def truncated_normal(m: int, dim: int, psi: float, rng: torch.Generator) -> torch.Tensor:
    """(m, dim) draws of N(0, 1) conditioned on |z_i| <= psi, by resampling."""
    if not psi > 0:
        raise ValueError(f"truncation psi must be positive, got {psi}")
    z = torch.randn(m, dim, generator=rng)
    out = z.abs() > psi
    while out.any():
        z[out] = torch.randn(int(out.sum()), generator=rng)
        out = z.abs() > psi
    return z


def prior(G: nn.Module, m: int, rng: torch.Generator, device,
          truncation: Optional[float] = None) -> torch.Tensor:
    """m noise vectors for G: its prior, or the truncated normal of threshold psi."""
    if truncation is None:
        return sample_noise(G.z_dist, m, G.z_dim, rng, device)
    if G.z_dist != "normal":
        raise ValueError(f"--truncation resamples a normal z, but this generator's z is "
                         f"{G.z_dist}")
    return truncated_normal(m, G.z_dim, truncation, rng).to(device)


@torch.no_grad()
def generate(G: nn.Module, n: int, rng: torch.Generator, device, batch: int = 4096,
             truncation: Optional[float] = None,
             classes: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` samples of G in eval mode, z drawn from ``rng`` ``batch`` at a time, in the
    data's range (see the module docstring); sample i of a class-conditional G is asked
    for class ``classes[i]`` (n classes, required then)."""
    if (classes is None) != (not classes_of(G)):
        raise ValueError("a class-conditional generator needs the class of each sample"
                         if classes is None else
                         "classes were given to a generator that is not class-conditional")
    with eval_mode(G):
        parts = []
        for i in range(0, n, batch):
            z = prior(G, min(batch, n - i), rng, device, truncation)
            parts.append(G(z) if classes is None else G(z, classes[i:i + len(z)].to(device)))
    return into_range(torch.cat(parts), G.shape)


@torch.no_grad()
def class_rows(G: nn.Module, num_classes: int, cols: int, rng: torch.Generator, device,
               truncation: Optional[float] = None) -> torch.Tensor:
    """``num_classes`` x ``cols`` samples of a class-conditional G, row k asked for class
    k and column j made from one z for every row: a row shows one class, a column what
    one z gives across the classes."""
    z = prior(G, cols, rng, device, truncation).repeat(num_classes, 1)
    y = torch.arange(num_classes, device=device).repeat_interleave(cols)
    with eval_mode(G):
        return into_range(G(z, y), G.shape)


def into_range(x: torch.Tensor, shape) -> torch.Tensor:
    """``x`` clamped to the range of data of ``shape`` (unchanged for vectors); NaN
    stays NaN, so a diverged generator is still reported as such."""
    bounds = data_range(tuple(shape))
    return x if bounds is None else x.clamp(*bounds)
