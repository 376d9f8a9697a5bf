"""Zero-centred gradient penalties on the discriminator: R1 and R2 of Mescheder,
Geiger & Nowozin (2018), "Which Training Methods for GANs do actually Converge?",
Sec. 4.1, eq. 9 and 10 (Roth et al. 2017 for the idea):

    R1(psi) = gamma/2 E_{x ~ p_data} ||grad_x D_psi(x)||^2,
    R2(psi) = gamma/2 E_{x ~ p_theta} ||grad_x D_psi(x)||^2,

with D_psi the discriminator's logit (before the sigmoid). Added to D's loss only. The
paper proves that the non-saturating GAN with either penalty is locally convergent at
an equilibrium where the generator matches the data, where unregularised GANs and
WGAN-GP need not be; on the 2D toys it is what brings every mode in with balanced
mass (BENCHMARKS.md, "Toy modes", "Stabilizers"). Unlike WGAN-GP's penalty, which asks
for unit gradient norm on lines between real and generated points, this one pushes D's
gradient to 0 on the data (R1) or the generated samples (R2).

``on = "interpolates"`` is the zero-centred penalty of Thanh-Tung, Tran & Venkatesh
(2019, "Improving Generalization and Stability of Generative Adversarial Networks",
Sec. 5): gamma/2 E ||grad D(x^)||^2 at x^ = eps x + (1 - eps) x~, eps ~ U[0, 1], on the
lines between real and generated points where WGAN-GP asks for unit norm. The paper
argues it keeps D's gradient small between the data and the model's samples, so D
cannot overfit to a finite sample and G's path to the data stays smooth.

Lazy regularisation (Karras et al. 2020, StyleGAN2, Sec. 3.1): with ``every = N`` the
penalty is computed on one discriminator step in N only, and multiplied by N there, so
its average weight per step is unchanged while N - 1 steps in N skip its extra forward
pass and double backward (about a third of a toy step's time). StyleGAN2 uses N = 16.
With ``samples = n`` the expectation is estimated on the first n examples of the batch
(all of them if it has fewer): an unbiased estimate, the batch being i.i.d., that cuts
the penalty's cost on every step instead of concentrating it on one step in N.

Gamma schedule (Huang et al. 2024, R3GAN, their training code's ``gamma_scheduler``):
with ``gamma_steps = T > 0`` gamma follows a cosine from ``gamma`` at the first
discriminator step to ``gamma_final`` at step T and stays there,
gamma_t = gamma + (1 - (1 + cos(pi t / T)) / 2) (gamma_final - gamma); R3GAN lowers it
tenfold (e.g. 0.05 -> 0.005 on CIFAR-10) while the learning rate decays (the same
cosine: :func:`gankit.schedules.cosine`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
from torch import Tensor

from ..config import opt
from ..objectives.base import single_logit
from ..objectives.wgan_gp import interpolates
from ..plugins import SetupContext
from ..registry import STABILIZERS
from ..schedules import cosine
from .base import Stabilizer


def grad_sq_norm(D: Callable, x: Tensor) -> Tensor:
    """E ||grad_x D(x)||^2 over the batch, differentiable in D's weights."""
    x = x.detach().requires_grad_(True)
    score = single_logit(D(x)[0]).sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


@STABILIZERS.register("r1")
class GradientPenalty(Stabilizer):
    """gamma/2 E||grad D||^2 on real (R1) and/or generated (R2) samples (Mescheder et al.
    2018, eq. 9-10), added to D's loss."""

    @dataclass
    class Options:
        gamma: float = opt(1.0, "weight gamma (the penalty is gamma/2 E||grad_x D(x)||^2); "
                           "Mescheder et al. use 10 for images, 1 suits the 2D toys",
                           min=0.0, min_exclusive=True)
        on: str = opt("real", "where: real (R1), fake (R2), both, or interpolates "
                      "(random points on the lines between real and fake ones; "
                      "Thanh-Tung et al. 2019)",
                      choices=("real", "fake", "both", "interpolates"))
        every: int = opt(1, "lazy regularisation: apply the penalty, times every, on one "
                         "discriminator step in every (1 = each step; StyleGAN2: 16)",
                         min=1)
        samples: int = opt(0, "estimate the expectation on at most this many examples "
                           "of each batch (0 = the whole batch); cheaper, still unbiased",
                           min=0)
        gamma_final: float = opt(0.0, "gamma at the end of the cosine schedule (used when "
                                 "gamma_steps > 0; R3GAN: gamma / 10)", min=0.0)
        gamma_steps: int = opt(0, "discriminator steps of the cosine gamma schedule from "
                               "gamma to gamma_final (0 = constant gamma)", min=0)

    def __init__(self, opts: Any):
        super().__init__(opts)
        self.calls = 0  # discriminator steps seen, for the lazy schedule

    def setup(self, ctx: SetupContext) -> None:
        if getattr(ctx.D, "autoencoder", False):
            raise ValueError("r1: the penalty is on the gradient of D's logit or score, and "
                             "BEGAN's autoencoder discriminator returns a reconstruction")
        n_out = getattr(ctx.d_options, "n_out", 1)
        if n_out != 1:
            raise ValueError(f"r1: the penalty is on the gradient of D's single logit, and "
                             f"this discriminator has {n_out} outputs "
                             "(discriminator.n_out must be 1)")
        n, pack = self.opts.samples, getattr(ctx.d_options, "pack", 1)
        if n % pack:
            raise ValueError(f"r1.samples = {n} is not a multiple of discriminator.pack = "
                             f"{pack}: D judges packs of {pack} examples")

    def d_penalty(self, D: Callable, real: Tensor, fake: Tensor) -> Optional[Tensor]:
        due = self.calls % self.opts.every == 0
        self.calls += 1
        if not due:
            return None
        n = self.opts.samples or None
        term = 0.0
        if self.opts.on in ("real", "both"):
            term = term + grad_sq_norm(D, real[:n])
        if self.opts.on in ("fake", "both"):
            term = term + grad_sq_norm(D, fake[:n])
        if self.opts.on == "interpolates":
            term = term + grad_sq_norm(D, interpolates(real[:n], fake[:n]))
        return 0.5 * self.gamma(self.calls - 1) * self.opts.every * term

    def gamma(self, t: int) -> float:
        """gamma at discriminator step t (0-based): constant, or the cosine schedule."""
        o = self.opts
        return cosine(o.gamma, o.gamma_final, t, o.gamma_steps) if o.gamma_steps else o.gamma

    def state_dict(self) -> Dict[str, Any]:
        return {"calls": self.calls}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.calls = int(state.get("calls", 0))
