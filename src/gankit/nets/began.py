"""BEGAN's networks (Berthelot, Schumm & Metz 2017): D is an autoencoder.

The discriminator encodes x to an embedding h and decodes h back to a reconstruction of
x; BEGAN's losses compare x with it (L(v) = |v - D(v)|). To fit gankit's interface the
discriminator returns ``(reconstruction, h)``: the reconstruction in the place of the
logits (same shape as the input) and the embedding as the features. The generator has
the decoder's architecture (Sec. 3.4 of the paper). As in the paper there is no batch
norm, no dropout, no transposed convolution: ELU everywhere, nearest-neighbour
upsampling in the decoder and stride-2 convolutions to subsample in the encoder, with
filters growing linearly (n, 2n, 3n...).

Vectors (shape ``(d,)``) get MLP encoder and decoder; images (``(C, H, W)``) a small
convolutional version with ``levels`` down/upsamplings (H and W divisible by 2^levels).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import nn

from ..config import opt
from ..registry import NETS


def _mlp(d_in: int, width: int, depth: int, d_out: int) -> nn.Sequential:
    """depth hidden ELU layers of ``width`` units, then a linear map to d_out."""
    layers: List[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), nn.ELU()]
    return nn.Sequential(*layers, nn.Linear(width, d_out))


def _conv(c_in: int, c_out: int, stride: int = 1) -> List[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1), nn.ELU()]


def _base_size(shape: Tuple[int, ...], levels: int) -> Tuple[int, int]:
    _, H, W = shape
    if H % 2 ** levels or W % 2 ** levels:
        raise ValueError(f"began net: image size {H}x{W} is not divisible by 2^levels = "
                         f"{2 ** levels}; set generator/discriminator.levels lower")
    return H // 2 ** levels, W // 2 ** levels


class ConvEncoder(nn.Module):
    """x (C, H, W) -> h: conv blocks with stride-2 subsampling, filters n, 2n, 3n..."""

    def __init__(self, shape: Tuple[int, ...], n: int, levels: int, h_dim: int):
        super().__init__()
        h0, w0 = _base_size(shape, levels)
        layers = _conv(shape[0], n)
        for i in range(1, levels + 1):
            layers += _conv(n * i, n * i) + _conv(n * i, n * (i + 1), stride=2)
        layers += _conv(n * (levels + 1), n * (levels + 1))
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(n * (levels + 1) * h0 * w0, h_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).flatten(1))


class ConvDecoder(nn.Module):
    """h -> x (C, H, W): a linear map to n x H0 x W0, then conv blocks and 2x nearest
    upsampling (no transposed convolutions), a final 3x3 convolution to C channels."""

    def __init__(self, shape: Tuple[int, ...], n: int, levels: int, h_dim: int):
        super().__init__()
        self.n, self.base = n, _base_size(shape, levels)
        self.fc = nn.Linear(h_dim, n * self.base[0] * self.base[1])
        layers: List[nn.Module] = []
        for _ in range(levels):
            layers += _conv(n, n) + _conv(n, n) + [nn.Upsample(scale_factor=2,
                                                               mode="nearest")]
        layers += _conv(n, n) + [nn.Conv2d(n, shape[0], 3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(h).view(len(h), self.n, *self.base))


def _encoder(opts: "BEGANNets.Options", shape: Tuple[int, ...]) -> nn.Module:
    if len(shape) == 3:
        return ConvEncoder(shape, opts.n_filters, opts.levels, opts.h_dim)
    return nn.Sequential(nn.Flatten(), _mlp(math.prod(shape), opts.width, opts.depth,
                                            opts.h_dim))


def _decoder(opts: "BEGANNets.Options", shape: Tuple[int, ...], d_in: int) -> nn.Module:
    if len(shape) == 3:
        return ConvDecoder(shape, opts.n_filters, opts.levels, d_in)
    return _mlp(d_in, opts.width, opts.depth, math.prod(shape))


@NETS.register("began")
class BEGANNets:
    """BEGAN (Berthelot et al. 2017): autoencoder D -> (reconstruction, h); decoder-shaped G."""

    @dataclass
    class Options:
        width: int = opt(128, "vectors: hidden units per MLP layer", min=1)
        depth: int = opt(2, "vectors: hidden layers of the encoder and of the decoder",
                         min=1)
        n_filters: int = opt(32, "images: n, the convolution filters (the paper: 64-128)",
                             min=1)
        levels: int = opt(2, "images: stride-2 subsamplings / 2x upsamplings", min=0)
        h_dim: int = opt(16, "discriminator: dimension N_h of the embedding h", min=1)
        z_dim: int = opt(16, "generator: dimension N_z of z", min=1)
        z_dist: str = opt("uniform", "generator: prior p(z) (the paper: uniform [-1, 1])",
                          choices=("normal", "uniform"))

    @staticmethod
    def generator(opts: "BEGANNets.Options", shape: Tuple[int, ...]) -> nn.Module:
        return BEGANGenerator(opts, shape)

    @staticmethod
    def discriminator(opts: "BEGANNets.Options", shape: Tuple[int, ...]) -> nn.Module:
        return BEGANDiscriminator(opts, shape)


class BEGANGenerator(nn.Module):
    """G(z): the decoder's architecture fed with z instead of h."""

    def __init__(self, opts: BEGANNets.Options, shape: Tuple[int, ...]):
        super().__init__()
        self.shape, self.z_dim, self.z_dist = tuple(shape), opts.z_dim, opts.z_dist
        self.decoder = _decoder(opts, self.shape, opts.z_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z).view(len(z), *self.shape)


class BEGANDiscriminator(nn.Module):
    """D(x) = decoder(encoder(x)); returns ``(reconstruction, h)``."""

    #: objectives that need a reconstruction (BEGAN) check this flag
    autoencoder = True

    def __init__(self, opts: BEGANNets.Options, shape: Tuple[int, ...]):
        super().__init__()
        self.shape, self.feature_dim = tuple(shape), opts.h_dim
        self.encoder = _encoder(opts, self.shape)
        self.decoder = _decoder(opts, self.shape, opts.h_dim)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.decoder(h).view(len(x), *self.shape), h
