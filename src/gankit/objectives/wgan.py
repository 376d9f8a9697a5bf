"""Wasserstein GAN of Arjovsky, Chintala & Bottou (2017), Algorithm 1.

The critic f_w has no sigmoid: its output is a real score. It ascends

    E_x f_w(x) - E_z f_w(G(z))                                  (Algorithm 1, line 5)

whose maximum over 1-Lipschitz f is the Earth-Mover distance W(P_r, P_g) (Kantorovich-
Rubinstein duality, eq. 2 of the paper). The Lipschitz constraint is enforced crudely by
clipping every weight to [-c, c] after every critic update (line 7). The generator
descends -E_z f_w(G(z)) (line 10). Defaults are the paper's: c = 0.01 (with alpha = 5e-5,
RMSProp, m = 64, n_critic = 5 in the run config: see configs/wgan.toml).

The paper's reference code also trains the critic 100 times per generator step for the
first 25 generator steps and on every 500th, so that the critic is near optimal when its
estimate is read; ``schedule = "reference"`` turns this on.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import opt
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor, single_logit
from .checks import require_logits


def critic_gap(D: DFn, real: Tensor, fake: Tensor) -> Tensor:
    """E f(x) - E f(G(z)): the critic's estimate of the Earth-Mover distance."""
    return single_logit(D(real)[0]).mean() - single_logit(D(fake)[0]).mean()


class Critic(Objective):
    """The Wasserstein game shared by WGAN and WGAN-GP: a real-valued critic f."""

    name = "critic"  # the registered name, for messages

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_logits(D, self.name)

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """Minus line 5's objective: E f(G(z)) - E f(x)."""
        gap = critic_gap(D, real, fake)
        return -gap, {"d_loss": -gap.detach(), "em_estimate": gap.detach()}

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        """Line 10: G descends -E f(G(z))."""
        loss = -single_logit(D(fake)[0]).mean()
        return loss, {"g_loss": loss.detach()}


@OBJECTIVES.register("wgan")
class WGAN(Critic):
    """Arjovsky et al. (2017) Algorithm 1: critic with weight clipping to [-c, c]."""

    name = "wgan"

    @dataclass
    class Options:
        clip: float = opt(0.01, "c: critic weights are clipped to [-c, c] after every "
                          "critic step (Algorithm 1, line 7)", min=0.0, min_exclusive=True)
        schedule: str = opt("constant", "critic steps per generator step: 'constant' = "
                            "train.d_steps (n_critic); 'reference' = burst_d_steps for the "
                            "first burst_g_steps generator steps and every burst_every-th",
                            choices=("constant", "reference"))
        burst_d_steps: int = opt(100, "reference schedule: critic steps in a burst", min=1)
        burst_g_steps: int = opt(25, "reference schedule: generator steps that start with "
                                 "a burst", min=0)
        burst_every: int = opt(500, "reference schedule: a burst every this many "
                               "generator steps (0 = never after the start)", min=0)

    def d_steps(self, g_step: int, k: int) -> int:
        o = self.opts
        if o.schedule == "constant":
            return k
        periodic = o.burst_every > 0 and g_step % o.burst_every == 0
        return o.burst_d_steps if g_step < o.burst_g_steps or periodic else k

    def after_d_step(self, D: nn.Module) -> None:
        """Line 7: w <- clip(w, -c, c) for every critic parameter."""
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-self.opts.clip, self.opts.clip)
