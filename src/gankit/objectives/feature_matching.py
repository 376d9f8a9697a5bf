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

With ``std_weight`` = w > 0, G also matches each feature's spread across the batch:

    L_G = || E f(x) - E f(G(z)) ||_2^2 + w || sd f(x) - sd f(G(z)) ||_2^2,

sd the per-feature standard deviation over the minibatch: the diagonal of the mean and
covariance matching of Mroueh, Sercu & Goel (2017, "McGan"). Mean matching alone
leaves a generated point whose features sit between the data's clusters unpunished once
the means agree; the second moment is not indifferent to it (BENCHMARKS.md, "Matching
the features' spread"). 0 (the default) is the paper's loss.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import opt
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Tensor
from .checks import require_features, require_logits
from .minimax import _BinaryGAN


def _features(D: DFn, x: Tensor) -> Tensor:
    f = D(x)[1]
    if f is None or f.shape[0] != x.shape[0]:
        raise ValueError("the discriminator returned no per-example features")
    return f.flatten(1)


def feature_matching_loss(D: DFn, real: Tensor, fake: Tensor,
                          std_weight: float = 0.0) -> Tensor:
    """||E_x f(x) - E_z f(G(z))||_2^2 on D's features f (Salimans et al. 2016, Sec. 3.1),
    the real side a constant; plus ``std_weight`` times the squared gap between the
    per-feature standard deviations over each batch (Mroueh et al. 2017, its diagonal)."""
    f_real, f_fake = _features(D, real).detach(), _features(D, fake)
    loss = ((f_real.mean(0) - f_fake.mean(0)) ** 2).sum()
    if std_weight:
        if len(f_real) < 2 or len(f_fake) < 2:
            raise ValueError(f"feature matching with std_weight = {std_weight} needs at "
                             f"least 2 examples a batch to estimate a spread; got "
                             f"{len(f_real)} real and {len(f_fake)} generated")
        loss = loss + std_weight * ((f_real.std(0) - f_fake.std(0)) ** 2).sum()
    return loss


@OBJECTIVES.register("feature_matching")
class FeatureMatching(_BinaryGAN):
    """Salimans et al. (2016) Sec. 3.1: G matches E f(x) on a hidden layer f of D."""

    @dataclass
    class Options:
        std_weight: float = opt(
            0.0, "weight of the gap between the real and generated per-feature standard "
            "deviations in G's loss (the diagonal of Mroueh et al. 2017's covariance "
            "matching); 0 = the paper's mean matching", min=0.0)

    g_needs_real = True
    class_conditional = False  # G's loss, feature statistics, ignores the class

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, "feature_matching")
        require_features(D, "feature_matching")

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        if real is None:
            raise ValueError("feature matching needs a real batch for the generator loss")
        loss = feature_matching_loss(D, real, fake, self.opts.std_weight)
        return loss, {"g_loss": loss.detach()}
