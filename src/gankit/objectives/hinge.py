"""The hinge loss of SN-GAN: Miyato, Kataoka, Koyama & Yoshida (2018), "Spectral
Normalization for Generative Adversarial Networks", Sec. 4, eq. 16-17 (after Lim & Ye
2017, "Geometric GAN", and Tran et al. 2017):

    V_D = E_x min(0, -1 + D(x)) + E_z min(0, -1 - D(G(z))),     (eq. 16, D maximises)
    V_G = -E_z D(G(z)),                                          (eq. 17, G minimises)

with D(.) a real-valued score. D minimises -V_D = E relu(1 - D(x)) + E relu(1 + D(G(z))):
examples scored beyond the margin on their side give no gradient. SN-GAN pairs it with
spectral normalisation of D's layers (``discriminator.spectral_norm = true``).
"""
from __future__ import annotations

from torch import nn
from torch.nn import functional as F

from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor, single_logit
from .checks import require_logits


@OBJECTIVES.register("hinge")
class Hinge(Objective):
    """Miyato et al. (2018) eq. 16-17: hinge loss for D, -E D(G(z)) for G."""

    name = "hinge"

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, self.name)

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """-V_D = E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
        real_score = single_logit(D(real)[0])
        fake_score = single_logit(D(fake)[0])
        loss = F.relu(1 - real_score).mean() + F.relu(1 + fake_score).mean()
        return loss, {"d_loss": loss.detach(), "d_real": real_score.detach().mean(),
                      "d_fake": fake_score.detach().mean()}

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        """V_G = -E D(G(z))."""
        loss = -single_logit(D(fake)[0]).mean()
        return loss, {"g_loss": loss.detach()}
