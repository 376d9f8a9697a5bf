"""DCGAN generator and discriminator (Radford, Metz & Chintala 2016, Sec. 3-4).

The architecture guidelines of Sec. 3: strided convolutions instead of pooling
(fractionally strided, i.e. transposed, in G), batch norm in both nets except the G
output and the D input layers, no fully connected hidden layers, ReLU in G with tanh at
the output, LeakyReLU (slope 0.2) in D, weights initialised from N(0, 0.02) (Sec. 4).

The image side must be s0 * 2^n with s0 = 4 (8, 16, 32, 64, 128 px) or s0 = 7 (28 px,
MNIST); G projects z to an s0 x s0 map with ``width * 2^(n-1)`` channels and doubles the
side n times while halving the channels; D mirrors it. The number of image channels
comes from the data shape ``(C, H, W)``.

With ``generator.vbn = true`` the generator's batch norm becomes virtual batch norm
(Salimans et al. 2016, Sec. 3.4; they use it in G): each example is normalised with the
statistics of a reference batch, fixed at the start by the ``vbn`` stabilizer, plus
itself.

``conditional`` makes them class-conditional (:mod:`gankit.nets.conditional`): G's batch
norms become conditional batch norms (``cbn``, as in the generator of Miyato & Koyama
2018) or the one-hot class joins z (``input``); D projects the class onto its features
(``projection``) or adds AC-GAN's class head on them (``acgan``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
from torch import nn

from ..config import opt
from ..registry import NETS
from .conditional import (
    ConditionalBatchNorm,
    ConditionalDiscriminator,
    generator_mode,
    one_hot_input,
    run_conditional,
)
from .layers import (
    MinibatchDiscrimination,
    VirtualBatchNorm2d,
    lipschitz_gain,
    refuse_generator_mbd,
    refuse_generator_sn,
    spectral_normed,
)


def image_shape(shape: Tuple[int, ...], net: str) -> Tuple[int, int, int]:
    """``shape`` as (C, H, W), or an error saying which data the net needs."""
    if len(shape) != 3:
        raise ValueError(f"net {net!r} needs image data of shape (C, H, W), but the data "
                         f"has shape {tuple(shape)}; use net = 'mlp' for vector data or "
                         f"an image data set (data.name = 'digits', 'mnist', ...)")
    return tuple(shape)  # type: ignore[return-value]


def stages(side: int) -> Tuple[int, int]:
    """(s0, n) with side = s0 * 2^n, s0 in {4, 7}, n >= 1; an error for other sides."""
    for s0 in (4, 7):
        n = 0
        while s0 * 2 ** n < side:
            n += 1
        if n >= 1 and s0 * 2 ** n == side:
            return s0, n
    raise ValueError(f"net 'dcgan' supports square images of 8, 16, 28, 32, 64 or 128 px "
                     f"(4 or 7 times a power of two), not {side} px; set data.size to one "
                     f"of these")


def check_input(x: torch.Tensor, shape: Tuple[int, ...], who: str) -> None:
    if tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{who} was built for images of shape {tuple(shape)} but got "
                         f"{tuple(x.shape[1:])}; build the nets for this data (same "
                         f"data.name, data.size and data.grayscale)")


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv/linear weights, N(1, 0.02) for batch-norm scales (Sec. 4),
    conditional ones included."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, ConditionalBatchNorm):  # each class's gamma as BN's weight
            nn.init.normal_(m.gamma.weight, 1.0, 0.02)
            nn.init.zeros_(m.beta.weight)


@NETS.register("dcgan")
class DCGAN:
    """Convolutional G and D of Radford et al. (2016) for 8-128 px images."""

    @dataclass
    class Options:
        width: int = opt(64, "channels of D's first / G's last hidden layer; they double "
                         "at each halving of the side (Radford et al.: 64 / 128)", min=1)
        z_dim: int = opt(100, "generator: dimension of z", min=1)
        z_dist: str = opt("normal", "generator: prior p(z)", choices=("normal", "uniform"))
        n_out: int = opt(1, "discriminator: number of output logits", min=1)
        batchnorm: bool = opt(True, "batch norm in the hidden layers (turn off in the "
                              "critic for WGAN-GP, Gulrajani et al. 2017, Sec. 4)")
        channels: int = opt(0, "image channels the net expects (0 = from the data)", min=0)
        vbn: bool = opt(False, "generator: virtual batch norm instead of batch norm; needs "
                        "the 'vbn' stabilizer to set the reference batch")
        vbn_size: int = opt(64, "generator: VBN reference batch size", min=2)
        spectral_norm: bool = opt(False, "discriminator: spectral normalisation of every "
                                  "convolution and of the output layer (Miyato et al. "
                                  "2018; their D has no batch norm)")
        lipschitz: float = opt(1.0, "discriminator with spectral_norm: its Lipschitz bound "
                               "K, the logits times K (Miyato et al.: 1)", min=0.0,
                               min_exclusive=True)
        conditional: str = opt("none", "class conditioning on a labelled data set: "
                               "generator cbn (conditional batch norm) or input (one-hot y "
                               "joins z); discriminator projection (Miyato & Koyama 2018) "
                               "or acgan (auxiliary classifier, objective 'acgan')",
                               choices=("none", "input", "cbn", "projection", "acgan"))
        mbd_kernels: int = opt(0, "discriminator: minibatch discrimination kernels B "
                               "(0 = off) on the features, the last convolution's "
                               "output (Salimans et al. 2016, Sec. 3.2: B = 100)", min=0)
        mbd_dim: int = opt(5, "discriminator: minibatch discrimination kernel size C "
                           "(Salimans et al.: 5)", min=1)

    @staticmethod
    def generator(opts: "DCGAN.Options", shape: Tuple[int, ...],
                  num_classes: int = 0) -> nn.Module:
        return DCGANGenerator(opts, _checked(opts, shape, "generator"), num_classes)

    @staticmethod
    def discriminator(opts: "DCGAN.Options", shape: Tuple[int, ...],
                      num_classes: int = 0) -> nn.Module:
        return DCGANDiscriminator(opts, _checked(opts, shape, "discriminator"), num_classes)


def _checked(opts: DCGAN.Options, shape: Tuple[int, ...], role: str) -> Tuple[int, int, int]:
    c, h, w = image_shape(shape, "dcgan")
    if opts.channels and opts.channels != c:
        raise ValueError(f"{role}.channels = {opts.channels} but the data has {c}-channel "
                         f"images; set {role}.channels = 0 (take it from the data) or "
                         f"data.grayscale = {str(opts.channels == 1).lower()}")
    if h != w:
        raise ValueError(f"net 'dcgan' needs square images, got {h}x{w}; set data.size")
    stages(h)
    return c, h, w


def _norm(channels: int, on: bool, virtual: bool = False,
          num_classes: int = 0) -> List[nn.Module]:
    if virtual:
        return [VirtualBatchNorm2d(channels)]
    if num_classes and on:
        return [ConditionalBatchNorm(channels, num_classes)]
    return [nn.BatchNorm2d(channels)] if on else []


class DCGANGenerator(nn.Module):
    """z (and, when conditional, the class y) -> Linear -> (width * 2^(n-1), s0, s0) ->
    n transposed convs -> tanh."""

    def __init__(self, opts: DCGAN.Options, shape: Tuple[int, int, int],
                 num_classes: int = 0):
        super().__init__()
        refuse_generator_sn(opts, "dcgan")
        refuse_generator_mbd(opts)
        self.num_classes = generator_mode(opts.conditional, num_classes, opts, "dcgan")
        self.conditional = opts.conditional
        self.shape, self.z_dim, self.z_dist = shape, opts.z_dim, opts.z_dist
        s0, n = stages(shape[1])
        ch = opts.width * 2 ** (n - 1)
        self.start = (ch, s0, s0)
        d_in = opts.z_dim + (self.num_classes if opts.conditional == "input" else 0)
        self.project = nn.Linear(d_in, ch * s0 * s0)
        norm = opts.batchnorm or opts.vbn
        cbn = self.num_classes if opts.conditional == "cbn" else 0
        layers: List[nn.Module] = _norm(ch, norm, opts.vbn, cbn) + [nn.ReLU()]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=not norm)]
            layers += _norm(ch // 2, norm, opts.vbn, cbn) + [nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, shape[0], 4, 2, 1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_weights(self)
        self.vbn_size = opts.vbn_size if opts.vbn else 0
        if opts.vbn:
            self.register_buffer("vbn_ref", torch.zeros(opts.vbn_size, opts.z_dim))
            self.register_buffer("vbn_ready", torch.zeros((), dtype=torch.bool))

    def set_reference(self, z: torch.Tensor) -> None:
        """Fix the reference batch of z (called once by the ``vbn`` stabilizer)."""
        if z.shape != self.vbn_ref.shape:
            raise ValueError(f"reference batch of shape {tuple(z.shape)}, expected "
                             f"{tuple(self.vbn_ref.shape)}")
        self.vbn_ref.copy_(z)
        self.vbn_ready.fill_(True)

    def _reference(self) -> Optional[torch.Tensor]:
        if not self.vbn_size:
            return None
        if not bool(self.vbn_ready):
            raise ValueError("generator.vbn = true but no reference batch was set; add "
                             "[[stabilizers]] name = 'vbn' to the config")
        return self.vbn_ref

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.num_classes:
            return self._conditional(z, y)
        ref = self._reference()
        n_ref = 0 if ref is None else len(ref)
        h = z if ref is None else torch.cat([ref, z])
        h = self.project(h).view(len(h), *self.start)
        for layer in self.body:
            h = layer(h, n_ref) if isinstance(layer, VirtualBatchNorm2d) else layer(h)
        return h[n_ref:]

    def _conditional(self, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        if y is None:
            raise ValueError("this generator is class-conditional: call it as G(z, y)")
        if self.conditional == "input":
            z = one_hot_input(z, y, self.num_classes)
        return run_conditional(self.body, self.project(z).view(len(z), *self.start), y)


class DCGANDiscriminator(nn.Module, ConditionalDiscriminator):
    """x -> n strided convs (LeakyReLU 0.2) -> Linear; returns (logits, features). The
    features are phi(x) of a projection D and the input of AC-GAN's class head."""

    def __init__(self, opts: DCGAN.Options, shape: Tuple[int, int, int],
                 num_classes: int = 0):
        super().__init__()
        if opts.vbn:
            raise ValueError("discriminator.vbn: the dcgan nets offer virtual batch norm in "
                             "the generator, where Salimans et al. use it; set "
                             "generator.vbn = true instead")
        self.shape = shape
        s0, n = stages(shape[1])
        ch = opts.width
        layers: List[nn.Module] = [nn.Conv2d(shape[0], ch, 4, 2, 1), nn.LeakyReLU(0.2)]
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not opts.batchnorm)]
            layers += _norm(ch * 2, opts.batchnorm) + [nn.LeakyReLU(0.2)]
            ch *= 2
        self.body = nn.Sequential(*layers)
        self.feature_dim = ch * s0 * s0
        # o(x_i) joins the features before the output layer; the features D returns (for
        # feature matching, the projection and AC-GAN's head) stay f(x_i)
        self.mbd = (MinibatchDiscrimination(self.feature_dim, opts.mbd_kernels, opts.mbd_dim)
                    if opts.mbd_kernels else None)
        self.out = nn.Linear(self.feature_dim + opts.mbd_kernels, opts.n_out)
        self._init_conditioning(opts.conditional, self.feature_dim, num_classes, opts)
        init_weights(self)
        if opts.spectral_norm:
            spectral_normed(self)
            if self.cond_head is not None and self.conditional == "projection":
                self.cond_head.spectral_normed()  # the Linear class head already is
        self.lipschitz = lipschitz_gain(opts)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        check_input(x, self.shape, "the dcgan discriminator")
        features = self.body(x).flatten(1)
        h = features if self.mbd is None else self.mbd(features)
        logits = self._conditional_logit(self.out(h), features, y)
        if self.lipschitz != 1.0:
            logits = logits * self.lipschitz
        return logits, features
