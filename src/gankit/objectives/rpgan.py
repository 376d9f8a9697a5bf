"""The relativistic pairing GAN (RpGAN) of Jolicoeur-Martineau (2019), as the loss of
R3GAN: Huang, Gokaslan, Kuleshov & Tompkin (2024), "The GAN is dead; long live the GAN!
A Modern GAN Baseline", NeurIPS 2024, Sec. 2 (the relativistic f-GAN of
Jolicoeur-Martineau 2019 with f = softplus).

D scores each real example x_i against the generated example G(z_i) it is paired with
(the i-th of each minibatch), and each player minimises

    L_D = E_i f(-(D(x_i) - D(G(z_i)))),    L_G = E_i f(-(D(G(z_i)) - D(x_i))),

with f = softplus, D(.) a real-valued logit. Coupling every fake with a real removes the
classic GAN's landscape in which one D separates all reals from all fakes at once
(Sun et al. 2020: RpGAN's landscape has no mode-dropping local minima). Huang et al.
pair it with both zero-centred gradient penalties of Mescheder et al. (2018), R1 on the
data and R2 on the samples (Sec. 2: with both, RpGAN is locally convergent where R1
alone was not enough in their experiments), here the ``r1`` stabilizer with
``on = "both"`` and its cosine gamma schedule (configs/rpgan_r3gan.toml).
"""
from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor, single_logit
from .checks import require_logits


def paired(D: DFn, first: Tensor, second: Tensor) -> Tensor:
    """D(first_i) - D(second_i) for each pair i (the minibatches' common length)."""
    n = min(len(first), len(second))
    return single_logit(D(first[:n])[0]) - single_logit(D(second[:n])[0])


@OBJECTIVES.register("rpgan")
class RpGAN(Objective):
    """Relativistic pairing loss (Huang et al. 2024, Sec. 2) with f = softplus."""

    name = "rpgan"
    g_needs_real = True  # G's loss compares each G(z_i) with its real partner x_i

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, self.name)

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """L_D = E softplus(-(D(x_i) - D(G(z_i))))."""
        gap = paired(D, real, fake)
        loss = F.softplus(-gap).mean()
        return loss, {"d_loss": loss.detach(), "d_gap": gap.detach().mean()}

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        """L_G = E softplus(-(D(G(z_i)) - D(x_i)))."""
        if real is None:
            raise ValueError("rpgan: the generator loss needs the real minibatch")
        loss = F.softplus(-paired(D, fake, real)).mean()
        return loss, {"g_loss": loss.detach()}
