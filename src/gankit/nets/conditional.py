"""Class conditioning of the nets: G(z, y) and D(x, y) for a class y in 0..K-1.

Generator (``generator.conditional``):

- ``"input"``: the one-hot y is concatenated with z at G's input, as in the conditional
  GAN of Mirza & Osindero (2014), Sec. 3.2;
- ``"cbn"``: conditional batch norm (de Vries et al. 2017, Sec. 2.2; Dumoulin et al. 2017
  for the same idea in instance norm): every batch norm keeps its normalisation but
  takes its scale gamma_y and shift beta_y from per-class tables, as in the generator of
  Miyato & Koyama (2018).

Discriminator (``discriminator.conditional``):

- ``"projection"``: the projection discriminator of Miyato & Koyama (2018), their
  model of the log density ratio D(x, y) = y^T V phi(x) + psi(phi(x)), with phi(x) the
  input of D's output layer, psi that layer and V an embedding of the classes
  (spectrally normalised with the rest of D when ``spectral_norm = true``, as in their
  code);
- ``"acgan"``: the auxiliary classifier of Odena et al. (2017), Sec. 3: D's adversarial
  logit ignores y and a second head gives K class logits from the same features; the
  ``acgan`` objective adds its class log-likelihood to both players' losses.

:class:`BoundD` is how the objectives see a conditional D: the callable D(x) they always
had, with the labels of the step's examples bound by position (see its docstring).
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

Tensor = torch.Tensor

G_MODES = ("none", "input", "cbn")
D_MODES = ("none", "projection", "acgan")


def classes_of(net: nn.Module) -> int:
    """K for a net conditioned on K classes, 0 for an unconditional one (every net of
    another family is unconditional)."""
    return int(getattr(net, "num_classes", 0))


def check_labels(y: Tensor, num_classes: int, who: str) -> None:
    """Refuse labels that are not integers 0..K-1, one per example."""
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"{who}: class labels must be integers, got {y.dtype}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        bad = int(y[(y < 0) | (y >= num_classes)][0])
        raise ValueError(f"{who}: class {bad} is out of range; this net knows classes "
                         f"0..{num_classes - 1}")


def requested_classes(n: int, num_classes: int) -> Tensor:
    """The classes asked of n samples in evaluations and grids: 0, 1, ..., K-1, 0, 1...
    (balanced, and the same at every step, so per-class metrics compare over time)."""
    return torch.arange(n) % num_classes


def resolve_classes(mode: str, num_classes: int, role: str, net: str) -> int:
    """K for a net asked for conditioning ``mode`` on data of ``num_classes`` classes."""
    if mode == "none":
        return 0
    if num_classes < 1:
        raise ValueError(f"{role}.conditional = {mode!r}: {net} was given no class count; "
                         "conditioning needs a labelled data set")
    return num_classes


def refuse_with_conditioning(mode: str, role: str, options) -> None:
    """Refuse options whose batches cannot carry one label per example."""
    if mode == "none":
        return
    if getattr(options, "pack", 1) > 1:
        raise ValueError(f"{role}.conditional = {mode!r} and pack = {options.pack}: a pack "
                         "joins examples of different classes into one input; set pack = 1")
    if getattr(options, "vbn", False):
        raise ValueError(f"{role}.conditional = {mode!r} and vbn = true: the virtual batch "
                         "norm reference batch has no classes; use batchnorm (or "
                         "conditional = 'cbn') instead")


# ----------------------------------------------------------------------------- generator
def one_hot_input(z: Tensor, y: Tensor, num_classes: int) -> Tensor:
    """[z, onehot(y)]: the conditional GAN's input (Mirza & Osindero 2014, Sec. 3.2)."""
    return torch.cat([z, F.one_hot(y, num_classes).to(z.dtype)], 1)


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and shift depend on the class (de Vries et al. 2017,
    Sec. 2.2): BN(h) * gamma[y] + beta[y], with BN normalising over the batch (and the
    spatial axes for conv maps) without an affine map of its own. With one class, and
    gamma[0], beta[0] equal to a batch norm's weight and bias, it is that batch norm.
    Called as ``cbn(h, y)``."""

    def __init__(self, num_features: int, num_classes: int, spatial: bool = True,
                 eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        norm = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        self.bn = norm(num_features, eps=eps, momentum=momentum, affine=False)
        self.gamma = nn.Embedding(num_classes, num_features)
        self.beta = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)
        self.shape = (-1, num_features, 1, 1) if spatial else (-1, num_features)

    def forward(self, h: Tensor, y: Tensor) -> Tensor:
        return self.bn(h) * self.gamma(y).view(self.shape) + self.beta(y).view(self.shape)


def run_conditional(layers: nn.Sequential, h: Tensor, y: Tensor) -> Tensor:
    """Apply ``layers``, handing y to the conditional batch norms."""
    for layer in layers:
        h = layer(h, y) if isinstance(layer, ConditionalBatchNorm) else layer(h)
    return h


# ----------------------------------------------------------------------------- discriminator
class ProjectionHead(nn.Module):
    """y^T V phi(x) of the projection discriminator (Miyato & Koyama 2018): the
    inner product of the class embedding V[y] with the features phi(x), one value per
    example, added to the unconditional logit psi(phi(x))."""

    def __init__(self, feature_dim: int, num_classes: int):
        super().__init__()
        self.embed = nn.Embedding(num_classes, feature_dim)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, phi: Tensor, y: Tensor) -> Tensor:
        return (self.embed(y) * phi).sum(1, keepdim=True)


class ConditionalHead(nn.Module):
    """The class-dependent part of a conditional D, on phi(x) (the input of D's output
    layer): the projection term (``projection``, added to the logit) or AC-GAN's class
    logits (``acgan``, read by the ``acgan`` objective through :meth:`class_logits`)."""

    def __init__(self, mode: str, feature_dim: int, num_classes: int):
        super().__init__()
        self.mode = mode
        self.head = (ProjectionHead(feature_dim, num_classes) if mode == "projection"
                     else nn.Linear(feature_dim, num_classes))

    def spectral_normed(self) -> None:
        """Spectral normalisation of V (the projection's class embedding, as Miyato &
        Koyama's code normalises it) or of the class head, with the rest of D."""
        layer = self.head.embed if self.mode == "projection" else self.head
        nn.utils.parametrizations.spectral_norm(layer)

    def class_logits(self, features: Tensor) -> Tensor:
        """AC-GAN's K class logits from D's features."""
        if self.mode != "acgan":
            raise ValueError(f"a {self.mode} discriminator has no class head; set "
                             "discriminator.conditional = 'acgan'")
        return self.head(features)

    def logit(self, psi: Tensor, phi: Tensor, y: Optional[Tensor]) -> Tensor:
        """D's logit for (x, y): psi(phi(x)) plus the projection term when projecting."""
        if self.mode != "projection":
            return psi
        if y is None:
            raise ValueError("a projection discriminator needs the class y of each input")
        return psi + self.head(phi, y)


def head_for(mode: str, feature_dim: int, num_classes: int) -> Optional[ConditionalHead]:
    return ConditionalHead(mode, feature_dim, num_classes) if num_classes else None


class BoundD:
    """D as an objective sees it in a conditional run: ``D(x) -> (logits, features)``
    with the labels y of the step bound by position, example i of any batch being asked
    about class y[i].

    The trainer asks the generated examples of a step for the classes of that step's
    real examples, so one label vector fits every batch an objective or a stabilizer
    forms: the real batch, the fake batch, a prefix of either (R1 on the first n, the
    pairs of RpGAN and of the preference loss) and WGAN-GP's interpolates between real
    and fake example i (both of class y[i]). The existing objectives and stabilizers
    therefore work unchanged. ``labels`` is what an objective that reads the classes
    (AC-GAN's) uses."""

    def __init__(self, forward: Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]],
                 y: Tensor):
        self._forward, self.y = forward, y

    def labels(self, n: int) -> Tensor:
        """The classes of the first n examples of a batch."""
        if n > len(self.y):
            raise ValueError(f"a conditional discriminator was called on {n} examples but "
                             f"the step has labels for {len(self.y)}")
        return self.y[:n]

    def __call__(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        return self._forward(x, self.labels(len(x)))


class ConditionalDiscriminator:
    """What a conditional discriminator adds to ``nn.Module`` (mixed into the MLP and
    DCGAN discriminators): ``num_classes`` K (0: unconditional), ``conditional`` (the
    mode) and AC-GAN's :meth:`class_logits`."""

    num_classes: int = 0
    conditional: str = "none"
    # cond_head (a ConditionalHead or None) is set by _init_conditioning: a class-level
    # default would hide the submodule that nn.Module keeps in _modules

    def _init_conditioning(self, mode: str, feature_dim: int, num_classes: int,
                           options) -> None:
        """Check ``mode`` and build its head on features of width ``feature_dim``."""
        if mode in ("input", "cbn"):
            raise ValueError(f"discriminator.conditional = {mode!r} conditions a generator; "
                             "a discriminator takes 'projection' or 'acgan'")
        refuse_with_conditioning(mode, "discriminator", options)
        self.num_classes = resolve_classes(mode, num_classes, "discriminator",
                                           type(self).__name__)
        self.conditional = mode
        self.cond_head = head_for(mode, feature_dim, self.num_classes)

    def _conditional_logit(self, psi: Tensor, phi: Tensor, y: Optional[Tensor]) -> Tensor:
        return psi if self.cond_head is None else self.cond_head.logit(psi, phi, y)

    def class_logits(self, features: Tensor) -> Tensor:
        """K class logits of AC-GAN's auxiliary classifier (Odena et al. 2017, Sec. 3)
        from the features D returned."""
        if self.cond_head is None:
            raise ValueError("an unconditional discriminator has no class head; set "
                             "discriminator.conditional = 'acgan'")
        return self.cond_head.class_logits(features)


def generator_mode(mode: str, num_classes: int, options, net: str) -> int:
    """K for a generator asked for conditioning ``mode`` (checked), 0 for 'none'."""
    if mode in ("projection", "acgan"):
        raise ValueError(f"generator.conditional = {mode!r} conditions a discriminator; a "
                         "generator takes 'input' or 'cbn'")
    if mode == "cbn" and not (getattr(options, "batchnorm", False)):
        raise ValueError("generator.conditional = 'cbn' makes the batch norms conditional, "
                         "and this generator has none; set generator.batchnorm = true or "
                         "conditional = 'input'")
    refuse_with_conditioning(mode, "generator", options)
    return resolve_classes(mode, num_classes, "generator", net)
