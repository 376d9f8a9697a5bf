"""WGAN with gradient penalty: Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville (2017).

Instead of clipping weights, the critic's loss gets a soft 1-Lipschitz constraint
(eq. 3 of the paper, Algorithm 1 lines 4-7):

    L = E f(x~) - E f(x) + lambda E (||grad_x^ f(x^)||_2 - 1)^2,
    x^ = eps x + (1 - eps) x~,  eps ~ U[0, 1] per example,

with x real and x~ = G(z). The penalty is taken on those uniform interpolates because the
optimal critic has unit gradient norm on lines between coupled points (Proposition 1).
Defaults are the paper's: lambda = 10 (and Adam 1e-4, beta = (0, 0.9), n_critic = 5 in
the run config: configs/wgan_gp.toml). The generator loss is WGAN's, -E f(G(z)).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import opt
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Tensor, single_logit
from .wgan import Critic, critic_gap


def interpolates(real: Tensor, fake: Tensor) -> Tensor:
    """x^ = eps x + (1 - eps) x~ with one eps ~ U[0, 1] per example (global torch RNG)."""
    eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), device=real.device,
                     dtype=real.dtype)
    return (eps * real + (1 - eps) * fake).detach().requires_grad_(True)


def gradient_penalty(D: DFn, x_hat: Tensor) -> Tensor:
    """E (||grad f(x^)||_2 - 1)^2, differentiable with respect to the critic's weights."""
    score = single_logit(D(x_hat)[0]).sum()
    (grad,) = torch.autograd.grad(score, x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


@OBJECTIVES.register("wgan_gp")
class WGANGP(Critic):
    """Gulrajani et al. (2017) eq. 3: WGAN critic with a gradient penalty (no clipping)."""

    name = "wgan_gp"

    @dataclass
    class Options:
        lambda_gp: float = opt(10.0, "lambda: weight of the gradient penalty (eq. 3)",
                               min=0.0)

    def check(self, G: nn.Module, D: nn.Module) -> None:
        """Refuse batch norm in the critic: it couples the examples of a batch, so the
        per-example gradient norm is no longer the critic's (the paper, Sec. 4, drops it)."""
        super().check(G, D)
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules()):
            raise ValueError("objective 'wgan_gp' penalises the critic's gradient per "
                             "example, but the discriminator uses batch norm, which mixes "
                             "the examples of a batch; set discriminator.batchnorm = false")

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        n = min(len(real), len(fake))
        gap = critic_gap(D, real, fake)
        gp = gradient_penalty(D, interpolates(real[:n], fake[:n]))
        loss = -gap + self.opts.lambda_gp * gp
        return loss, {"d_loss": loss.detach(), "em_estimate": gap.detach(),
                      "gp": gp.detach()}
