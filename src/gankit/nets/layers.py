"""Small building blocks shared by the networks."""
from __future__ import annotations

from typing import Optional, Tuple

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


#: the range of image data: every image data set yields (C, H, W) floats in [-1, 1], the
#: range of DCGAN's tanh output (Radford et al. 2016, Sec. 4)
IMAGE_RANGE = (-1.0, 1.0)


def data_range(shape: Tuple[int, ...]) -> Optional[Tuple[float, float]]:
    """The range of the data of ``shape``: :data:`IMAGE_RANGE` for images (C, H, W),
    None (unbounded) for vectors such as the 2D toys."""
    return IMAGE_RANGE if len(shape) == 3 else None


def spectral_normed(net: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018, Sec. 2.1, eq. 8; Algorithm 1) of every
    Linear and Conv2d layer of ``net``: W is used as W / sigma(W), sigma(W) its largest
    singular value, estimated by one power iteration per training forward pass. The
    iteration's vectors u and v are buffers of the net, so checkpoints carry them and a
    resumed run continues exactly. Call after initialising the weights."""
    for module in list(net.modules()):
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.utils.parametrizations.spectral_norm(module)
    return net


def refuse_generator_sn(opts, net: str) -> None:
    """The option is D's: SN-GAN normalises the discriminator only (Miyato et al. 2018)."""
    if opts.spectral_norm:
        raise ValueError(f"generator.spectral_norm: spectral normalisation constrains D's "
                         f"Lipschitz constant (Miyato et al. 2018); net {net!r} offers it "
                         "on the discriminator: set discriminator.spectral_norm = true")
    if opts.lipschitz != 1.0:
        raise ValueError(f"generator.lipschitz = {opts.lipschitz}: the bound belongs to a "
                         "spectrally normalised discriminator; set discriminator.lipschitz")


def lipschitz_gain(opts) -> float:
    """K of a spectrally normalised D, checked. With every layer of spectral norm 1 and
    1-Lipschitz activations, D is 1-Lipschitz (Miyato et al. 2018, Sec. 2.1); its logits
    times K make it K-Lipschitz. The bound sets the distance over which D can move its
    output by the hinge loss's margin of 1 (Lim & Ye 2017; Miyato et al. 2018, eq. 16):
    modes closer than that in the data's units are hard to separate at K = 1."""
    if opts.lipschitz != 1.0 and not opts.spectral_norm:
        raise ValueError(f"discriminator.lipschitz = {opts.lipschitz} scales a spectrally "
                         "normalised D's logits, and spectral_norm is off (without it D's "
                         "Lipschitz constant has no bound to scale); set "
                         "discriminator.spectral_norm = true or lipschitz = 1")
    return float(opts.lipschitz)


def refuse_generator_mbd(opts) -> None:
    """The option is D's: minibatch discrimination compares a discriminator's features
    across the batch (Salimans et al. 2016, Sec. 3.2)."""
    if opts.mbd_kernels:
        raise ValueError("generator.mbd_kernels: minibatch discrimination compares the "
                         "features f(x_i) of a discriminator's feature layer; the generator "
                         "has no such layer; set it on the discriminator")


def sample_noise(dist: str, m: int, dim: int, rng: torch.Generator,
                 device: torch.device) -> torch.Tensor:
    """The prior p(z): standard normal, or uniform on [-1, 1]^dim."""
    if dist == "normal":
        z = torch.randn(m, dim, generator=rng)
    else:
        z = torch.rand(m, dim, generator=rng) * 2 - 1
    return z.to(device)


# ----------------------------------------------------------------------------- Salimans et al.
class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination, Salimans et al. (2016), Sec. 3.2.

    The features f(x_i) in R^A of each example are multiplied by a learned tensor
    T in R^{A x B x C}, giving M_i in R^{B x C}. For each of the B rows,
    c_b(x_i, x_j) = exp(-||M_{i,b} - M_{j,b}||_L1) and o(x_i)_b = sum_j c_b(x_i, x_j)
    (j runs over the whole batch, i included, as in the paper). The output is f(x_i)
    concatenated with o(x_i), in R^{A + B}. Only the examples of one call are compared:
    the loop passes real and generated batches in separate calls, as the paper does.
    """

    # the largest n^2 B C computed with broadcast differences (64 MiB of float32)
    BROADCAST_MAX = 2 ** 24

    def __init__(self, in_dim: int, kernels: int, kernel_dim: int, init_std: float = 0.1):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_dim, kernels * kernel_dim) * init_std)

    @property
    def out_extra(self) -> int:
        return self.kernels

    def closeness(self, f: torch.Tensor) -> torch.Tensor:
        """o(x_i) in R^B for every example of the batch ``f`` (shape n x A)."""
        M = (f @ self.T).view(len(f), self.kernels, self.kernel_dim).transpose(0, 1)
        if len(f) ** 2 * self.kernels * self.kernel_dim <= self.BROADCAST_MAX:
            # B x n x n x C differences: twice differentiable, which R1 / WGAN-GP's
            # gradient penalties need (torch.cdist has no second derivative)
            l1 = (M.unsqueeze(2) - M.unsqueeze(1)).abs().sum(3)
        else:  # B x n x n without the big intermediate; first derivatives only
            l1 = torch.cdist(M, M, p=1)
        return torch.exp(-l1).sum(2).T

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return torch.cat([f, self.closeness(f)], 1)


def virtual_batch_norm(h: torch.Tensor, n_ref: int, eps: float,
                       dims: Tuple[int, ...] = ()) -> torch.Tensor:
    """Virtual batch normalisation, Salimans et al. (2016), Sec. 3.4, before its scale
    and shift.

    ``h``'s first ``n_ref`` rows come from the reference batch (fixed at the start of
    training). They are normalised with the reference batch's own statistics; every
    other row i with the statistics of the reference batch plus row i itself (weight
    1 / (n_ref + 1)), so its output does not depend on the other rows of its batch.
    Statistics are per feature, over the rows and the axes ``dims`` (conv maps: the
    spatial axes (2, 3)). Variances are E h^2 - (E h)^2, clamped at 0 against rounding.
    """
    if n_ref < 2:
        raise ValueError(f"virtual batch norm needs a reference batch of at least 2 "
                         f"examples, got {n_ref}")
    ref, x = h[:n_ref], h[n_ref:]
    mean = ref.mean((0, *dims), keepdim=True)
    sq = ref.pow(2).mean((0, *dims), keepdim=True)
    w = 1.0 / (n_ref + 1)  # the example's own weight in the reference-plus-self stats
    x_mean = (1 - w) * mean + w * (x.mean(dims, keepdim=True) if dims else x)
    x_sq = (1 - w) * sq + w * (x.pow(2).mean(dims, keepdim=True) if dims else x.pow(2))
    ref_out = (ref - mean) / torch.sqrt((sq - mean.pow(2)).clamp_min(0) + eps)
    x_out = (x - x_mean) / torch.sqrt((x_sq - x_mean.pow(2)).clamp_min(0) + eps)
    return torch.cat([ref_out, x_out])


class _VirtualBatchNorm(nn.Module):
    """:func:`virtual_batch_norm`, then a learned scale gamma and shift beta per feature,
    as in batch norm. Called as ``vbn(h, n_ref)``."""

    dims: Tuple[int, ...] = ()

    def __init__(self, param_shape: Tuple[int, ...], eps: float):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(param_shape))
        self.beta = nn.Parameter(torch.zeros(param_shape))

    def forward(self, h: torch.Tensor, n_ref: int) -> torch.Tensor:
        return virtual_batch_norm(h, n_ref, self.eps, self.dims) * self.gamma + self.beta


class VirtualBatchNorm1d(_VirtualBatchNorm):
    """Virtual batch norm of feature vectors (N, C) (Salimans et al. 2016, Sec. 3.4)."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__((num_features,), eps)


class VirtualBatchNorm2d(_VirtualBatchNorm):
    """Virtual batch norm of conv maps (N, C, H, W), per channel over (N, H, W)."""

    dims = (2, 3)

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__((1, channels, 1, 1), eps)


class WeightNormLinear(nn.Module):
    """A linear layer with weight normalisation, Salimans & Kingma (2016), eq. 2.

    w = g * v / ||v|| for each output unit: the direction v and the length g are learned
    separately. Salimans et al. (2016) use it in their MNIST discriminator (Sec. 6.1).
    """

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        ref = nn.Linear(d_in, d_out)  # same initial direction as nn.Linear
        self.v = nn.Parameter(ref.weight.detach().clone())
        self.g = nn.Parameter(ref.weight.detach().norm(dim=1))
        self.bias = nn.Parameter(ref.bias.detach().clone())

    def weight(self) -> torch.Tensor:
        return self.v * (self.g / self.v.norm(dim=1)).unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight(), self.bias)


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode only (Salimans et al. 2016, MNIST D).

    The draws come from the global torch generator, whose state every checkpoint saves,
    so a seeded run and its resumed continuation draw the same noise.
    """

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0:
            return x
        return x + self.std * torch.randn_like(x)

    def extra_repr(self) -> str:
        return f"std={self.std}"


def pack(x: torch.Tensor, m: int) -> torch.Tensor:
    """PacGAN packing (Lin et al. 2018, Sec. 3): m consecutive examples -> one D input.

    ``x`` of n examples becomes n / m rows, each the concatenation of m flattened
    examples. Since the batch is i.i.d., consecutive examples form independent packs.
    """
    n = len(x)
    if n % m:
        raise ValueError(f"packing: discriminator.pack = {m} joins {m} examples into one "
                         f"input, but the batch has {n} examples, not a multiple of {m}; "
                         f"use a data.batch_size divisible by {m}")
    return x.reshape(n // m, -1)
