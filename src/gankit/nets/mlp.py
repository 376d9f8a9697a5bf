"""Multilayer perceptrons for vector data (the 2D toys, tabular data).

Besides width, depth and activation, the nets take the net-level techniques of
Salimans et al. (2016) as options: minibatch discrimination (Sec. 3.2, discriminator),
virtual batch normalisation (Sec. 3.4), weight normalisation and Gaussian noise layers
(their MNIST discriminator, Sec. 6.1), and PacGAN packing (Lin et al. 2018). A hidden
layer is Linear -> [BatchNorm | VBN] -> activation -> [Gaussian noise].

``conditional`` makes them class-conditional (:mod:`gankit.nets.conditional`): G takes
the one-hot class with z (``input``) or conditional batch norms (``cbn``); D projects
the class onto the input of its output layer (``projection``) or adds AC-GAN's class
head on its features (``acgan``).
"""
from __future__ import annotations

import itertools
import math
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
    GaussianNoise,
    MinibatchDiscrimination,
    VirtualBatchNorm1d,
    WeightNormLinear,
    activation,
    data_range,
    lipschitz_gain,
    pack,
    refuse_generator_mbd,
    refuse_generator_sn,
    spectral_normed,
)


def _linear(d_in: int, d_out: int, weightnorm: bool) -> nn.Module:
    return WeightNormLinear(d_in, d_out) if weightnorm else nn.Linear(d_in, d_out)


def _stack(d_in: int, opts: "MLP.Options", widths: List[int],
           num_classes: int = 0) -> Tuple[nn.Sequential, List[int]]:
    """The hidden layers as one flat Sequential, and the module count at each layer's end.

    ``widths[i]`` is the input width of hidden layer i (minibatch discrimination widens
    the layer after the feature layer). With no technique enabled the modules are
    Linear, [BatchNorm1d], activation, exactly as before the techniques existed. With
    ``num_classes`` K > 0 the batch norms are conditional on K classes.
    """
    layers: List[nn.Module] = [GaussianNoise(opts.noise_input)] if opts.noise_input else []
    ends = []
    for i in range(opts.depth):
        layers.append(_linear(d_in if i == 0 else widths[i], opts.width, opts.weightnorm))
        if opts.batchnorm:
            layers.append(ConditionalBatchNorm(opts.width, num_classes, spatial=False)
                          if num_classes else nn.BatchNorm1d(opts.width))
        if opts.vbn:
            layers.append(VirtualBatchNorm1d(opts.width))
        layers.append(activation(opts.activation))
        if opts.noise_hidden:
            layers.append(GaussianNoise(opts.noise_hidden))
        ends.append(len(layers))
    body = nn.Sequential(*layers)
    body.has_vbn = opts.vbn  # _run's fast path needs no reference-row bookkeeping
    return body, ends


def _run(body: nn.Sequential, h: torch.Tensor, n_ref: int, start: int = 0,
         stop: Optional[int] = None) -> torch.Tensor:
    """Apply ``body[start:stop]``; VBN layers are told how many rows are reference rows.
    (islice, not ``body[start:stop]``: slicing builds a new Sequential on every call.)"""
    if start >= len(body):
        return h
    if not body.has_vbn and start == 0 and stop in (None, len(body)):
        return body(h)  # the common case: one Sequential call
    for layer in itertools.islice(body, start, stop):
        h = layer(h, n_ref) if isinstance(layer, VirtualBatchNorm1d) else layer(h)
    return h


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
        out_activation: str = opt("auto", "generator: output activation (auto: tanh "
                                  "for images, whose range is [-1, 1]; none for vectors)",
                                  choices=("auto", "none", "tanh", "sigmoid"))
        n_out: int = opt(1, "discriminator: number of output logits", min=1)
        feature_layer: int = opt(-1, "discriminator: hidden layer whose output is the "
                                 "features (0-based; -1 = last), e.g. for feature matching")
        weightnorm: bool = opt(False, "weight normalisation of every linear layer "
                               "(Salimans & Kingma 2016)")
        noise_input: float = opt(0.0, "std of Gaussian noise added to the input in "
                                 "training (Salimans et al. MNIST D: 0.3)", min=0.0)
        noise_hidden: float = opt(0.0, "std of Gaussian noise after each hidden layer in "
                                  "training (Salimans et al. MNIST D: 0.5)", min=0.0)
        vbn: bool = opt(False, "virtual batch norm after each hidden linear layer; needs "
                        "the 'vbn' stabilizer to set the reference batch")
        vbn_size: int = opt(64, "virtual batch norm: reference batch size", min=0)
        mbd_kernels: int = opt(0, "discriminator: minibatch discrimination kernels B "
                               "(0 = off), after the feature layer", min=0)
        mbd_dim: int = opt(5, "discriminator: minibatch discrimination kernel size C",
                           min=1)
        pack: int = opt(1, "discriminator: PacGAN packing degree m (1 = off)", min=1)
        spectral_norm: bool = opt(False, "discriminator: spectral normalisation of every "
                                  "linear layer (Miyato et al. 2018)")
        lipschitz: float = opt(1.0, "discriminator with spectral_norm: its Lipschitz bound "
                               "K, the logits times K (Miyato et al.: 1); raise it when the "
                               "data's modes are closer than ~1 apart", min=0.0,
                               min_exclusive=True)
        conditional: str = opt("none", "class conditioning on a labelled data set: "
                               "generator input (one-hot y joins z) or cbn (conditional "
                               "batch norm); discriminator projection (Miyato & Koyama "
                               "2018) or acgan (auxiliary classifier, objective 'acgan')",
                               choices=("none", "input", "cbn", "projection", "acgan"))

    @staticmethod
    def generator(opts: "MLP.Options", shape: Tuple[int, ...],
                  num_classes: int = 0) -> nn.Module:
        return MLPGenerator(opts, shape, num_classes)

    @staticmethod
    def discriminator(opts: "MLP.Options", shape: Tuple[int, ...],
                      num_classes: int = 0) -> nn.Module:
        return MLPDiscriminator(opts, shape, num_classes)


class _Reference(nn.Module):
    """Holds the VBN reference batch as a buffer, so it is saved with the weights.

    The net's input for the reference batch (z for G, x for D) is fixed once at the
    start of training by the ``vbn`` stabilizer through :meth:`set_reference`.
    """

    def _init_reference(self, opts: "MLP.Options", shape: Tuple[int, ...]) -> None:
        self.vbn_size = opts.vbn_size if opts.vbn else 0
        if not opts.vbn:
            return
        if opts.batchnorm:
            raise ValueError("vbn = true and batchnorm = true: choose one normalisation")
        if opts.vbn_size < 2:
            raise ValueError(f"vbn_size = {opts.vbn_size}: virtual batch norm normalises "
                             "each example with the statistics of the reference batch plus "
                             "itself; with fewer than 2 reference examples these statistics "
                             "are degenerate (every output is 0 or +-1)")
        self.register_buffer("vbn_ref", torch.zeros(opts.vbn_size, *shape))
        self.register_buffer("vbn_ready", torch.zeros((), dtype=torch.bool))

    def set_reference(self, x: torch.Tensor) -> None:
        if x.shape != self.vbn_ref.shape:
            raise ValueError(f"reference batch of shape {tuple(x.shape)}, expected "
                             f"{tuple(self.vbn_ref.shape)}")
        self.vbn_ref.copy_(x)
        self.vbn_ready.fill_(True)

    def _reference_input(self) -> Optional[torch.Tensor]:
        if not self.vbn_size:
            return None
        if not bool(self.vbn_ready):
            raise ValueError(f"{type(self).__name__}: vbn = true but no reference batch was "
                             "set; add [[stabilizers]] name = 'vbn' to the config")
        return self.vbn_ref


class MLPGenerator(_Reference):
    """z (and, when conditional, the class y) -> x."""

    def __init__(self, opts: MLP.Options, shape: Tuple[int, ...], num_classes: int = 0):
        super().__init__()
        refuse_generator_mbd(opts)
        if opts.pack > 1:
            raise ValueError("generator.pack: packing joins examples into one "
                             "discriminator input; the generator has no such layer; set it "
                             "on the discriminator")
        refuse_generator_sn(opts, "mlp")
        self.shape, self.z_dim, self.z_dist = tuple(shape), opts.z_dim, opts.z_dist
        self.num_classes = generator_mode(opts.conditional, num_classes, opts, "mlp")
        self.conditional = opts.conditional
        self._init_reference(opts, (opts.z_dim,))
        d_in = opts.z_dim + (self.num_classes if opts.conditional == "input" else 0)
        cbn = self.num_classes if opts.conditional == "cbn" else 0
        self.body, _ = _stack(d_in, opts, [opts.width] * opts.depth, cbn)
        self.out = _linear(opts.width, math.prod(shape), opts.weightnorm)
        self.out_act = activation(_out_activation(opts.out_activation, self.shape))

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.num_classes:
            return self._conditional(z, y)
        ref = self._reference_input()
        n_ref = 0 if ref is None else len(ref)
        h = z if ref is None else torch.cat([ref, z])
        x = self.out_act(self.out(_run(self.body, h, n_ref)))[n_ref:]
        return x.view(len(z), *self.shape)

    def _conditional(self, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        if y is None:
            raise ValueError("this generator is class-conditional: call it as G(z, y)")
        if self.conditional == "input":
            h = _run(self.body, one_hot_input(z, y, self.num_classes), 0)
        else:
            h = run_conditional(self.body, z, y)
        return self.out_act(self.out(h)).view(len(z), *self.shape)


def _out_activation(name: str, shape: Tuple[int, ...]) -> str:
    """``auto``: tanh when the data are images (their range is [-1, 1], as for DCGAN's
    generator, Radford et al. 2016, Sec. 3), no activation for vectors."""
    if name != "auto":
        return name
    return "tanh" if data_range(shape) is not None else "none"


class MLPDiscriminator(_Reference, ConditionalDiscriminator):
    """Returns ``(logits, features)``; features are hidden layer ``feature_layer``'s output.

    With packing (m > 1) it returns one logit per pack of m consecutive examples. A
    projection D projects the class onto the input of the output layer; AC-GAN's class
    head reads the features.
    """

    def __init__(self, opts: MLP.Options, shape: Tuple[int, ...], num_classes: int = 0):
        super().__init__()
        if not -opts.depth <= opts.feature_layer < opts.depth:
            raise ValueError(f"discriminator.feature_layer = {opts.feature_layer} but the "
                             f"net has {opts.depth} hidden layers (use 0..{opts.depth - 1} or -1)")
        self.pack = opts.pack
        if opts.vbn and opts.vbn_size % opts.pack:
            raise ValueError(f"discriminator.vbn_size = {opts.vbn_size} must be divisible by "
                             f"pack = {opts.pack}: the reference batch is packed like any batch")
        self._init_reference(opts, tuple(shape))
        feature_idx = opts.feature_layer % opts.depth
        self.mbd = (MinibatchDiscrimination(opts.width, opts.mbd_kernels, opts.mbd_dim)
                    if opts.mbd_kernels else None)
        widths = [opts.width] * opts.depth
        if self.mbd is not None and feature_idx + 1 < opts.depth:
            widths[feature_idx + 1] += opts.mbd_kernels
        extra = opts.mbd_kernels if feature_idx + 1 == opts.depth else 0
        self.body, ends = _stack(math.prod(shape) * opts.pack, opts, widths)
        self.out = _linear(opts.width + extra, opts.n_out, opts.weightnorm)
        self.feature_dim = opts.width
        self._feature_end = ends[feature_idx]
        self._init_conditioning(opts.conditional, opts.width + extra
                                if opts.conditional == "projection" else opts.width,
                                num_classes, opts)
        if opts.spectral_norm:
            if opts.weightnorm:
                raise ValueError("discriminator.spectral_norm and weightnorm: both "
                                 "reparametrise the weights; choose one")
            spectral_normed(self.body)
            spectral_normed(self.out)
            if self.cond_head is not None:
                self.cond_head.spectral_normed()
        self.lipschitz = lipschitz_gain(opts)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        ref = self._reference_input()
        h = pack(x.flatten(1), self.pack)
        n_ref = 0
        if ref is not None:
            n_ref = len(ref) // self.pack
            h = torch.cat([pack(ref.flatten(1), self.pack), h])
        features = _run(self.body, h, n_ref, 0, self._feature_end)
        h = features if self.mbd is None else self._minibatch(features, n_ref)
        h = _run(self.body, h, n_ref, self._feature_end)
        logits = self._conditional_logit(self.out(h), h, y)
        if self.lipschitz != 1.0:
            logits = logits * self.lipschitz
        return logits[n_ref:], features[n_ref:]

    def _minibatch(self, f: torch.Tensor, n_ref: int) -> torch.Tensor:
        """Minibatch features over the reference rows and the batch rows separately."""
        parts = [f[:n_ref], f[n_ref:]] if n_ref else [f]
        return torch.cat([self.mbd(p) for p in parts])
