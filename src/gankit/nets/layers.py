"""Small building blocks shared by the networks."""
from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {
    "relu": lambda: nn.ReLU(),
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": lambda: nn.ELU(),
    "tanh": lambda: nn.Tanh(),
    "softplus": lambda: nn.Softplus(),
    "gelu": lambda: nn.GELU(),
    "sigmoid": lambda: nn.Sigmoid(),
    "none": lambda: nn.Identity(),
}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def sample_noise(dist: str, m: int, dim: int, rng: torch.Generator,
                 device: torch.device) -> torch.Tensor:
    """The prior p(z): standard normal, or uniform on [-1, 1]^dim."""
    if dist == "normal":
        z = torch.randn(m, dim, generator=rng)
    else:
        z = torch.rand(m, dim, generator=rng) * 2 - 1
    return z.to(device)
