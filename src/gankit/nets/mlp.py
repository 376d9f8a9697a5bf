"""Multilayer perceptrons for vector data (the 2D toys, tabular data)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

from ..config import opt
from ..registry import NETS
from .layers import activation


def _stack(d_in: int, width: int, depth: int, act: str, batchnorm: bool) -> nn.Sequential:
    layers = []
    for i in range(depth):
        layers.append(nn.Linear(d_in if i == 0 else width, width))
        if batchnorm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(activation(act))
    return nn.Sequential(*layers)


@NETS.register("mlp")
class MLP:
    """Fully connected G (z -> x) and D (x -> (logits, features)), width x depth."""

    @dataclass
    class Options:
        width: int = opt(128, "hidden units per layer", min=1)
        depth: int = opt(3, "hidden layers", min=1)
        activation: str = opt("relu", "hidden activation",
                              choices=("relu", "leaky_relu", "elu", "tanh", "softplus",
                                       "gelu"))
        batchnorm: bool = opt(False, "batch norm after each hidden linear layer")
        z_dim: int = opt(16, "generator: dimension of z", min=1)
        z_dist: str = opt("normal", "generator: prior p(z)", choices=("normal", "uniform"))
        out_activation: str = opt("none", "generator: output activation",
                                  choices=("none", "tanh", "sigmoid"))
        n_out: int = opt(1, "discriminator: number of output logits", min=1)
        feature_layer: int = opt(-1, "discriminator: hidden layer whose output is the "
                                 "features (0-based; -1 = last), e.g. for feature matching")

    @staticmethod
    def generator(opts: "MLP.Options", shape: Tuple[int, ...]) -> nn.Module:
        return MLPGenerator(opts, shape)

    @staticmethod
    def discriminator(opts: "MLP.Options", shape: Tuple[int, ...]) -> nn.Module:
        return MLPDiscriminator(opts, shape)


class MLPGenerator(nn.Module):
    def __init__(self, opts: MLP.Options, shape: Tuple[int, ...]):
        super().__init__()
        self.shape, self.z_dim, self.z_dist = tuple(shape), opts.z_dim, opts.z_dist
        self.body = _stack(opts.z_dim, opts.width, opts.depth, opts.activation,
                           opts.batchnorm)
        self.out = nn.Linear(opts.width, math.prod(shape))
        self.out_act = activation(opts.out_activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.out_act(self.out(self.body(z)))
        return x.view(len(z), *self.shape)


class MLPDiscriminator(nn.Module):
    """Returns ``(logits, features)``; features are hidden layer ``feature_layer``'s output."""

    def __init__(self, opts: MLP.Options, shape: Tuple[int, ...]):
        super().__init__()
        if not -opts.depth <= opts.feature_layer < opts.depth:
            raise ValueError(f"discriminator.feature_layer = {opts.feature_layer} but the "
                             f"net has {opts.depth} hidden layers (use 0..{opts.depth - 1} or -1)")
        self.body = _stack(math.prod(shape), opts.width, opts.depth, opts.activation,
                           opts.batchnorm)
        self.out = nn.Linear(opts.width, opts.n_out)
        self.feature_dim = opts.width
        per_layer = len(self.body) // opts.depth
        self._feature_end = (opts.feature_layer % opts.depth + 1) * per_layer

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = x.flatten(1)
        features = h
        for i, layer in enumerate(self.body, 1):
            h = layer(h)
            if i == self._feature_end:
                features = h
        return self.out(h), features
