"""Adversarial preference loss (Huszár 2016, "Understanding Minibatch Discrimination in
GANs", inference.vc, its closing section "Bonus track: adversarial preference loss").

The discriminator sees a pair (x_1, x_2), one real and one generated in random order,
and predicts which one is real. With P the data and Q the model, the pairs come from
P x Q (label 1: the first is real) or Q x P (label 0) with equal probability, so the
Bayes-optimal answer is

    Pr(x_1 real | x_1, x_2) = P(x_1) Q(x_2) / (P(x_1) Q(x_2) + Q(x_1) P(x_2))
                            = sigmoid(r(x_1) - r(x_2)),   r = log P / Q.

We therefore build the pair discriminator from the usual one-logit net s as
D(x_1, x_2) = sigmoid(s(x_1) - s(x_2)): no generality is lost at the optimum and any
net of the toolkit works unchanged. This D is antisymmetric, so the order of a pair
carries no information: the cross-entropy of (x_1, x_2) with label 1 equals that of
(x_2, x_1) with label 0 exactly, and presenting the pairs in random order would change
nothing but the RNG stream, so we present (real, fake). D minimises the cross-entropy
of its prediction; G, playing the non-saturating version, makes D pick its sample:
L_G = -E log sigmoid(s(G(z)) - s(x)).

Huszár's note: the game minimises d(P x Q || Q x P) for the divergence d of the
underlying GAN; for JS that is not JS(P || Q).
"""
from __future__ import annotations

from torch import nn

from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor, bce, single_logit
from .checks import require_logits


def pair_logits(D: DFn, x1: Tensor, x2: Tensor) -> Tensor:
    """logit of Pr(x_1 is real) = s(x_1) - s(x_2), for pairs (x1[i], x2[i])."""
    n = min(len(x1), len(x2))
    return single_logit(D(x1[:n])[0]) - single_logit(D(x2[:n])[0])


@OBJECTIVES.register("preference")
class Preference(Objective):
    """Adversarial preference (Huszár 2016): D says which of a (real, fake) pair is real."""

    g_needs_real = True

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, "preference")

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """Cross-entropy of Pr(real first) on the pairs (x, G(z)) (order immaterial)."""
        logits = pair_logits(D, real, fake)
        loss = bce(logits, 1.0)
        return loss, {"d_loss": loss.detach(),
                      "d_pair_acc": (logits > 0).float().mean().detach()}

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        if real is None:
            raise ValueError("the preference loss needs a real batch for the generator")
        loss = bce(pair_logits(D, fake, real), 1.0)
        return loss, {"g_loss": loss.detach()}
