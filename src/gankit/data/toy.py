"""Two-dimensional toy distributions with known modes.

``ring`` and ``grid`` are the mixtures of Gaussians of the mode-collapse benchmark used
by Srivastava et al. (VEEGAN, 2017) and Lin et al. (PacGAN, 2018): 8 modes on a circle of
radius 1 with std 0.01, and 25 modes on {-4,-2,0,2,4}^2 with std 0.05, equal weights.
``spiral`` is a continuous, non-mixture shape for qualitative checks.

The mixtures are also labelled: the class of an example is the index of the mode it was
drawn from (``num_classes`` = the number of modes), so a class-conditional GAN can be
asked for one mode (:meth:`GaussianMixture2D.sample_with_labels`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

import torch

from ..config import opt
from ..registry import DATASETS
from .base import Dataset


class GaussianMixture2D(Dataset):
    """Equal-weight mixture of isotropic Gaussians N(c_k, std^2 I) in 2D."""

    shape = (2,)
    default_metrics: List[str] = ["modes"]

    def __init__(self, centres: torch.Tensor, std: float, seed: int):
        super().__init__(seed)
        self.centres = centres.to(torch.float32)
        self.std = float(std)
        self.num_classes = len(self.centres)  # a mode's index is its class

    def sample(self, m: int) -> torch.Tensor:
        return self.sample_with_labels(m)[0]

    def sample_with_labels(self, m: int) -> Tuple[torch.Tensor, torch.Tensor]:
        """``m`` examples and the index of the mode each was drawn from."""
        idx = torch.randint(len(self.centres), (m,), generator=self.rng)
        noise = torch.randn(m, 2, generator=self.rng)
        return self.centres[idx] + self.std * noise, idx

    def describe(self) -> Dict[str, Any]:
        return {"centres": self.centres, "std": self.std}


@DATASETS.register("ring")
class Ring(GaussianMixture2D):
    """8 Gaussians on a circle of radius 1, std 0.01 (VEEGAN / PacGAN protocol)."""

    @dataclass
    class Options:
        modes: int = opt(8, "number of modes on the circle", min=1)
        radius: float = opt(1.0, "circle radius", min=0.0, min_exclusive=True)
        std: float = opt(0.01, "std of each mode", min=0.0, min_exclusive=True)

    def __init__(self, opts: "Ring.Options", seed: int):
        angles = torch.arange(opts.modes, dtype=torch.float64) * (2 * math.pi / opts.modes)
        centres = opts.radius * torch.stack([angles.cos(), angles.sin()], 1)
        super().__init__(centres, opts.std, seed)


@DATASETS.register("grid")
class Grid(GaussianMixture2D):
    """25 Gaussians on {-4,-2,0,2,4}^2, std 0.05 (VEEGAN / PacGAN protocol)."""

    @dataclass
    class Options:
        side: int = opt(5, "modes per side", min=1)
        spacing: float = opt(2.0, "distance between neighbouring modes",
                             min=0.0, min_exclusive=True)
        std: float = opt(0.05, "std of each mode", min=0.0, min_exclusive=True)

    def __init__(self, opts: "Grid.Options", seed: int):
        axis = (torch.arange(opts.side, dtype=torch.float64) - (opts.side - 1) / 2)
        axis = axis * opts.spacing
        xs, ys = torch.meshgrid(axis, axis, indexing="ij")
        centres = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1)
        super().__init__(centres, opts.std, seed)


@DATASETS.register("spiral")
class Spiral(Dataset):
    """A two-turn Archimedean spiral with Gaussian jitter (not a mixture)."""

    shape = (2,)
    default_metrics: List[str] = []

    @dataclass
    class Options:
        turns: float = opt(2.0, "number of turns", min=0.0, min_exclusive=True)
        std: float = opt(0.02, "jitter std", min=0.0)

    def __init__(self, opts: "Spiral.Options", seed: int):
        super().__init__(seed)
        self.turns, self.std = opts.turns, opts.std

    def sample(self, m: int) -> torch.Tensor:
        t = torch.rand(m, generator=self.rng).sqrt()  # uniform in arc area
        angle = t * (2 * math.pi * self.turns)
        points = torch.stack([t * angle.cos(), t * angle.sin()], 1)
        return points + self.std * torch.randn(m, 2, generator=self.rng)
