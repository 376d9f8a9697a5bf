"""The GAN game of Goodfellow et al. (2014).

V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))]  (eq. 1 of the paper),
with D(x) = sigmoid(logit). D ascends V; in :class:`Minimax` G descends it, exactly as in
Algorithm 1. Because log(1 - D(G(z))) saturates when D rejects samples confidently, the
paper suggests that G maximise log D(G(z)) instead: :class:`NonSaturating`.
"""
from __future__ import annotations

from torch import nn

from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor, bce, single_logit
from .checks import require_logits


class _BinaryGAN(Objective):
    uses_labels = True
    name = ""

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, self.name)

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """-V(D, G) per example: BCE(D(x), 1) + BCE(D(G(z)), 0)."""
        real_logits = single_logit(D(real)[0])
        fake_logits = single_logit(D(fake)[0])
        loss = bce(real_logits, self.real_label) + bce(fake_logits, self.fake_label)
        return loss, {"d_loss": loss.detach(),
                      "d_real": real_logits.detach().sigmoid().mean(),
                      "d_fake": fake_logits.detach().sigmoid().mean()}


@OBJECTIVES.register("minimax")
class Minimax(_BinaryGAN):
    """Goodfellow et al. (2014) Algorithm 1: G descends E_z log(1 - D(G(z)))."""

    name = "minimax"

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        # log(1 - sigmoid(l)) = -softplus(l) = -BCE(l, 0)
        loss = -bce(single_logit(D(fake)[0]), 0.0)
        return loss, {"g_loss": loss.detach()}


@OBJECTIVES.register("nonsaturating")
class NonSaturating(_BinaryGAN):
    """Goodfellow et al. (2014), Sec. 3: G descends -E_z log D(G(z)) (the -log D trick)."""

    name = "nonsaturating"

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        loss = bce(single_logit(D(fake)[0]), 1.0)
        return loss, {"g_loss": loss.detach()}
