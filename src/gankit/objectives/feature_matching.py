"""Feature matching: Salimans et al. (2016), "Improved Techniques for Training GANs", Sec. 3.1.

D is trained as in the usual game (it ascends V(D, G), eq. 1 of Goodfellow et al.), but G
no longer maximises D's output: it matches the statistics of real data on an
intermediate layer f of D,

    L_G = || E_x f(x) - E_z f(G(z)) ||_2^2,

with the expectations estimated on a real and a generated minibatch. D chooses which
statistics matter; G cannot overtrain on the current D. The layer is the discriminator's
``features`` output (for ``mlp``: the hidden layer ``discriminator.feature_layer``).

:func:`feature_matching_loss` is also the generator loss of the semi-supervised game
(Sec. 5). The real statistics E_x f(x) are a target for G: no gradient flows through
them (the paper's objective is G's alone, and in the authors' code the real moments
depend on no parameter G's update changes; the loop freezes D during G's step anyway).
"""
from __future__ import annotations

from torch import nn

from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Tensor
from .checks import require_features, require_logits
from .minimax import _BinaryGAN


def _features(D: DFn, x: Tensor) -> Tensor:
    f = D(x)[1]
    if f is None or f.shape[0] != x.shape[0]:
        raise ValueError("the discriminator returned no per-example features")
    return f.flatten(1)


def feature_matching_loss(D: DFn, real: Tensor, fake: Tensor) -> Tensor:
    """||E_x f(x) - E_z f(G(z))||_2^2 on D's features f (Salimans et al. 2016, Sec. 3.1),
    the real side a constant."""
    gap = _features(D, real).detach().mean(0) - _features(D, fake).mean(0)
    return (gap ** 2).sum()


@OBJECTIVES.register("feature_matching")
class FeatureMatching(_BinaryGAN):
    """Salimans et al. (2016) Sec. 3.1: G matches E f(x) on a hidden layer f of D."""

    g_needs_real = True
    class_conditional = False  # G's loss, mean features, ignores the class

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, "feature_matching")
        require_features(D, "feature_matching")

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        if real is None:
            raise ValueError("feature matching needs a real batch for the generator loss")
        loss = feature_matching_loss(D, real, fake)
        return loss, {"g_loss": loss.detach()}
