"""The fully connected MNIST nets of Salimans et al. (2016), Sec. 6.1 ("Improved GAN").

G: z (100-d, uniform) -> 500 -> 500, each dense layer followed by batch norm and a
softplus, -> 784 (the image) through a weight-normalised dense layer and a sigmoid.
D: Gaussian noise (std 0.3) on the input, then weight-normalised dense layers of 1000,
500, 250, 250 and 250 units, each followed by Gaussian noise (std 0.5), then a
weight-normalised dense layer to the K = 10 class logits of the semi-supervised game.

Weight normalisation (Salimans & Kingma 2016, eq. 2): w = g v / ||v|| per output unit,
via ``torch.nn.utils.parametrizations.weight_norm``. The noise layers (``GaussianNoise``
of nets/layers.py) are active in training mode only and draw from torch's global
generator, which checkpoints save.

gankit images lie in [-1, 1], so the sigmoid output s is returned as 2 s - 1 (the same
function of the same logits, rescaled). The hidden nonlinearity of D is not stated in
the paper; it is an option (ReLU by default). Any image shape works (the output size
is C * H * W), but the nets take one channel, like the paper's MNIST.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from ..config import opt
from ..registry import NETS
from .dcgan import check_input, image_shape
from .layers import GaussianNoise, activation


def _wn_linear(d_in: int, d_out: int) -> nn.Module:
    return weight_norm(nn.Linear(d_in, d_out))


def _one_channel(shape: Tuple[int, ...], role: str) -> Tuple[int, int, int]:
    c, h, w = image_shape(shape, "improved_gan")
    if c != 1:
        raise ValueError(f"net 'improved_gan' ({role}) takes 1-channel images like the "
                         f"paper's MNIST, but the data has {c} channels; set "
                         f"data.grayscale = true, or use net = 'dcgan' for colour images")
    return c, h, w


@NETS.register("improved_gan")
class ImprovedGAN:
    """Salimans et al. (2016) MNIST nets: dense G with batch norm, weight-normed noisy D."""

    @dataclass
    class Options:
        z_dim: int = opt(100, "generator: dimension of z", min=1)
        z_dist: str = opt("uniform", "generator: prior p(z)", choices=("normal", "uniform"))
        g_widths: List[int] = opt([500, 500], "generator: hidden layer widths")
        d_widths: List[int] = opt([1000, 500, 250, 250, 250],
                                  "discriminator: hidden layer widths")
        d_activation: str = opt("relu", "discriminator: hidden nonlinearity",
                                choices=("relu", "leaky_relu", "elu", "softplus"))
        noise_input: float = opt(0.3, "discriminator: std of the input noise", min=0.0)
        noise_hidden: float = opt(0.5, "discriminator: std of the noise after each hidden "
                                  "layer", min=0.0)
        n_out: int = opt(10, "discriminator: number of logits (K classes)", min=1)

    @staticmethod
    def generator(opts: "ImprovedGAN.Options", shape: Tuple[int, ...]) -> nn.Module:
        return ImprovedGANGenerator(opts, _one_channel(shape, "generator"))

    @staticmethod
    def discriminator(opts: "ImprovedGAN.Options", shape: Tuple[int, ...]) -> nn.Module:
        return ImprovedGANDiscriminator(opts, _one_channel(shape, "discriminator"))


class ImprovedGANGenerator(nn.Module):
    def __init__(self, opts: ImprovedGAN.Options, shape: Tuple[int, int, int]):
        super().__init__()
        if not opts.g_widths:
            raise ValueError("generator.g_widths is empty; give at least one hidden width")
        self.shape, self.z_dim, self.z_dist = shape, opts.z_dim, opts.z_dist
        layers: List[nn.Module] = []
        d_in = opts.z_dim
        for width in opts.g_widths:
            layers += [nn.Linear(d_in, width), nn.BatchNorm1d(width), nn.Softplus()]
            d_in = width
        self.body = nn.Sequential(*layers)
        self.out = _wn_linear(d_in, math.prod(shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = 2.0 * torch.sigmoid(self.out(self.body(z))) - 1.0
        return x.view(len(z), *self.shape)


class ImprovedGANDiscriminator(nn.Module):
    """Returns ``(logits, features)``; features are the last hidden layer's output."""

    def __init__(self, opts: ImprovedGAN.Options, shape: Tuple[int, int, int]):
        super().__init__()
        if not opts.d_widths:
            raise ValueError("discriminator.d_widths is empty; give at least one width")
        self.shape = shape
        self.noise_in = GaussianNoise(opts.noise_input)
        blocks, d_in = [], math.prod(shape)
        for width in opts.d_widths:
            blocks.append(nn.Sequential(_wn_linear(d_in, width), activation(opts.d_activation)))
            d_in = width
        self.blocks = nn.ModuleList(blocks)
        self.noise = nn.ModuleList(GaussianNoise(opts.noise_hidden) for _ in blocks)
        self.feature_dim = d_in
        self.out = _wn_linear(d_in, opts.n_out)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        check_input(x, self.shape, "the improved_gan discriminator")
        h = self.noise_in(x.flatten(1))
        features = h
        for block, noise in zip(self.blocks, self.noise):
            features = block(h)
            h = noise(features)
        return self.out(h), features
