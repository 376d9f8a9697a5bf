"""Boundary Equilibrium GAN: Berthelot, Schumm & Metz (2017).

D is an autoencoder and L(v) = |v - D(v)|^eta its per-example reconstruction loss (eq. 1,
eta in {1, 2}: the default 1 is the L1 error of the common BEGAN code, 2 the squared
error). We average over the pixels, as the paper's implementation does. The game
(eq. 4 of the paper):

    L_D = L(x) - k_t L(G(z_D))
    L_G = L(G(z_G))
    k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z_G))), 0, 1)

k_t balances the two goals of D (auto-encode real data, reject generated data) so that
E L(G(z)) = gamma E L(x) (the diversity ratio gamma, eq. 3). M_global = L(x) +
|gamma L(x) - L(G(z_G))| measures convergence (Sec. 3.4.1). Defaults are the paper's:
gamma = 0.5, lambda_k = 0.001, k_0 = 0 (Adam 1e-4 in configs/began.toml). k_t is part of
the checkpoint.

With ``latent_constraint`` = alpha > 0, BEGAN-CS (Chang, Lin, Lee, Juan, Wei & Chen 2018,
"Escaping from Collapsing Modes in a Constrained Space", ECCV): D's loss adds
alpha * mean |h(G(z)) - z|, h being D's embedding of the generated batch and z the noise
it came from, so that D's encoder must tell apart what G made of different z (the
authors' code: alpha 0.1, on D's loss only).

The paper's learning rate is "decayed by a factor of 2 when the measure of convergence
stalls" (Sec. 4.1) without saying how a stall is detected. Here (``stall_window`` > 0)
M_global is averaged over consecutive windows of that many generator steps; a window
whose mean is not at least ``stall_tolerance`` (relative) below the best window so far
is a stall and halves both learning rates (``lr_scale``), and the best restarts from
that window. The averages, the best and the scale are checkpointed with k_t.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict

import torch
from torch import nn

from ..config import opt
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor


def reconstruction_loss(D: DFn, v: Tensor, eta: int = 1) -> Tensor:
    """L(v) = mean |v - D(v)|^eta (batch mean of the per-example pixel-mean error)."""
    return reconstruction_error(v, D(v)[0], eta)


def reconstruction_error(v: Tensor, recon: Tensor, eta: int = 1) -> Tensor:
    """mean |v - recon|^eta, D's reconstruction ``recon`` of ``v`` already computed."""
    if recon.shape != v.shape:
        raise ValueError(f"BEGAN needs D(v) to reconstruct v, but D returned shape "
                         f"{tuple(recon.shape)} for input {tuple(v.shape)}")
    err = (v - recon).abs()
    return (err if eta == 1 else err.pow(eta)).mean()


@OBJECTIVES.register("began")
class BEGAN(Objective):
    """Berthelot et al. (2017) eq. 4: autoencoder D, equilibrium term k_t."""

    @dataclass
    class Options:
        gamma: float = opt(0.5, "diversity ratio E L(G(z)) / E L(x) to hold (eq. 3)",
                           min=0.0, max=1.0)
        lambda_k: float = opt(0.001, "lambda_k: learning rate of k_t", min=0.0)
        eta: int = opt(1, "exponent of the pixel error in L(v) = |v - D(v)|^eta (eq. 1): "
                       "1 the L1 error (the common BEGAN code's), 2 the squared error",
                       choices=(1, 2))
        k_0: float = opt(0.0, "initial k_t", min=0.0, max=1.0)
        k_min: float = opt(0.0, "floor of k_t (the paper clips k_t to [0, 1]); above 0, D "
                           "never stops pushing the generated samples' reconstruction "
                           "error up", min=0.0, max=1.0)
        k_max: float = opt(1.0, "ceiling of k_t (the paper's is 1); below 1, D always "
                           "weighs the data's reconstruction error above the generated "
                           "samples' even when G's are reconstructed better",
                           min=0.0, max=1.0)
        k_hold: float = opt(0.0, "a floor that binds once k_t has reached it (not in the "
                            "paper): from then on k_t stays in [max(k_min, k_hold), "
                            "k_max], so the control may ramp k_t up from k_0 freely but "
                            "not let it slide back late in a run; 0 = off",
                            min=0.0, max=1.0)
        stall_window: int = opt(0, "generator steps per M_global average; a window not "
                                "below the best so far halves both learning rates "
                                "(Sec. 4.1); 0 = never decay", min=0)
        stall_tolerance: float = opt(0.01, "relative fall of the window mean of M_global "
                                     "below the best that is not a stall", min=0.0)
        lr_decay_factor: float = opt(0.5, "multiplier of the learning rates per stall",
                                     min=0.0, max=1.0, min_exclusive=True)
        latent_constraint: float = opt(
            0.0, "alpha of BEGAN-CS (Chang et al. 2018): D's loss adds alpha * mean "
            "|h(G(z)) - z|, so D's encoder must recover z from G(z); needs the "
            "discriminator's h_dim equal to the generator's z_dim; 0 = the paper's BEGAN",
            min=0.0)

    def __init__(self, opts: Any):
        super().__init__(opts)
        if opts.k_min > opts.k_max:
            raise ValueError(
                f"objective began: k_min = {opts.k_min:g} is above k_max = "
                f"{opts.k_max:g}; k_t is clipped to [k_min, k_max]")
        if opts.k_hold > opts.k_max:
            raise ValueError(
                f"objective began: k_hold = {opts.k_hold:g} is above k_max = "
                f"{opts.k_max:g}, so k_t could never reach it")
        self.k = float(opts.k_0)
        self.scale = 1.0          # product of the stall decays so far
        self.best = math.inf      # lowest window mean of M_global since the last decay
        self.window_sum, self.window_n = 0.0, 0

    @property
    def d_needs_z(self) -> bool:  # type: ignore[override]
        return self.opts.latent_constraint > 0

    def check(self, G: nn.Module, D: nn.Module) -> None:
        if not getattr(D, "autoencoder", False):
            raise ValueError(
                f"objective 'began' needs an autoencoder discriminator, because its loss "
                f"L(v) = |v - D(v)| compares an input with D's reconstruction of it; "
                f"{type(D).__name__} returns logits instead. Set discriminator.net = 'began'")
        h_dim, z_dim = getattr(D, "feature_dim", None), getattr(G, "z_dim", None)
        if self.opts.latent_constraint > 0 and h_dim != z_dim:
            raise ValueError(
                f"objective.latent_constraint = {self.opts.latent_constraint} asks D's "
                f"encoder to recover z from G(z), so its embedding must have z's "
                f"dimension: discriminator.h_dim is {h_dim}, generator.z_dim is {z_dim}")

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor,
               z: Tensor | None = None) -> LossAndLogs:
        eta = self.opts.eta
        l_real = reconstruction_loss(D, real, eta)
        recon, h = D(fake)
        l_fake = reconstruction_error(fake, recon, eta)
        loss = l_real - self.k * l_fake
        logs = {"L_real": l_real.detach(), "L_fake_d": l_fake.detach()}
        if self.opts.latent_constraint > 0:
            if z is None:
                raise ValueError("BEGAN-CS's latent constraint needs the noise z of the "
                                 "generated batch (d_loss(..., z=z))")
            constraint = (h - z).abs().mean()
            loss = loss + self.opts.latent_constraint * constraint
            logs["latent_constraint"] = constraint.detach()
        logs["d_loss"] = loss.detach()
        return loss, logs

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        loss = reconstruction_loss(D, fake, self.opts.eta)
        return loss, {"g_loss": loss.detach(), "L_fake_g": loss.detach()}

    def after_g_step(self, logs: Dict[str, Tensor]) -> None:
        """Proportional control of k_t; adds k_t (updated) and M_global to ``logs``."""
        l_real, l_fake = float(logs["L_real"]), float(logs["L_fake_g"])
        balance = self.opts.gamma * l_real - l_fake
        # once k_t has reached k_hold the floor keeps it there, so "has reached" is k_t >= k_hold
        held = 0 < self.opts.k_hold <= self.k
        floor = max(self.opts.k_min, self.opts.k_hold) if held else self.opts.k_min
        self.k = min(max(self.k + self.opts.lambda_k * balance, floor), self.opts.k_max)
        m_global = l_real + abs(balance)
        logs["k_t"] = torch.tensor(self.k)
        logs["M_global"] = torch.tensor(m_global)
        if self.opts.stall_window:
            self._track_stall(m_global)
            logs["lr_scale"] = torch.tensor(self.scale)

    def _track_stall(self, m_global: float) -> None:
        self.window_sum += m_global
        self.window_n += 1
        if self.window_n < self.opts.stall_window:
            return
        mean = self.window_sum / self.window_n
        self.window_sum, self.window_n = 0.0, 0
        if self.best == math.inf or mean < self.best * (1.0 - self.opts.stall_tolerance):
            self.best = mean
        else:  # stalled: decay, and measure progress from here on
            self.scale *= self.opts.lr_decay_factor
            self.best = mean

    def lr_scale(self) -> float:
        return self.scale

    def state_dict(self) -> Dict[str, Any]:
        return {"k_t": self.k, "lr_scale": self.scale, "best_window": self.best,
                "window_sum": self.window_sum, "window_n": self.window_n}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.k = float(state["k_t"])
        self.scale = float(state.get("lr_scale", 1.0))  # checkpoints from before the decay
        self.best = float(state.get("best_window", math.inf))
        self.window_sum = float(state.get("window_sum", 0.0))
        self.window_n = int(state.get("window_n", 0))
