"""The objective interface: one small class per GAN game.

An objective knows nothing of the training loop. It receives the discriminator as a
callable ``D(x) -> (logits, features)`` (stabilizers may have wrapped its input) and
batches of real and generated examples, and returns a scalar loss to *minimise* plus a
dict of tensors to log. The loop calls :meth:`d_loss` k times per :meth:`g_loss`.
Before the first step, :meth:`setup` gets a :class:`gankit.plugins.SetupContext`, which
names all an objective may read of the run (the labelled examples, the device...).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..plugins import SetupContext

Tensor = torch.Tensor
DFn = Callable[[Tensor], Tuple[Tensor, Tensor]]
LossAndLogs = Tuple[Tensor, Dict[str, Tensor]]


class Objective:
    """Base class; subclasses define ``Options`` and the two losses."""

    @dataclass
    class Options:
        pass

    #: the generator loss also needs a real batch (feature matching, Sinkhorn, ...)
    g_needs_real: bool = False
    #: the objective reads probabilities from labels, so label smoothing applies
    uses_labels: bool = False
    #: the game works class by class in a class-conditional run: its losses read D's
    #: verdict on the step's batches, whose classes the trainer binds to D by position
    #: (:class:`gankit.nets.conditional.BoundD`); False for a game whose G loss ignores
    #: D's verdict on (x, y) or that calls D on batches of its own
    class_conditional: bool = True
    #: the discriminator loss also reads the noise z its generated batch came from
    #: (BEGAN-CS's latent constraint); the trainer then calls ``d_loss(..., z=z)``
    d_needs_z: bool = False
    #: the game trains the auxiliary class head of an AC-GAN discriminator (Odena et al.
    #: 2017); a discriminator with such a head needs a game that does
    trains_class_head: bool = False

    def __init__(self, opts: Any):
        self.opts = opts
        self.real_label = 1.0  # target for real examples (one-sided label smoothing)
        self.fake_label = 0.0  # target for generated examples

    def check(self, G: nn.Module, D: nn.Module) -> None:
        """Refuse, with a message saying why, nets this objective cannot work with."""

    def set_targets(self, real: float, fake: float) -> None:
        """D's targets for real and generated examples (1 and 0 unless a stabilizer,
        one-sided label smoothing, changes them: Salimans et al. 2016, Sec. 3.4)."""
        self.real_label, self.fake_label = float(real), float(fake)

    def setup(self, ctx: SetupContext) -> None:
        """Called once after the nets are built, before the stabilizers' ``setup``: an
        objective that needs more than minibatches (e.g. the labelled examples of the
        semi-supervised game) takes it from ``ctx`` here."""

    def d_steps(self, g_step: int, k: int) -> int:
        """Discriminator steps before generator step ``g_step`` (k from the config)."""
        return k

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        raise NotImplementedError

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        raise NotImplementedError

    def after_d_step(self, D: nn.Module) -> None:
        """Called after each discriminator update (e.g. WGAN weight clipping)."""

    def after_g_step(self, logs: Dict[str, Tensor]) -> None:
        """Called after each generator update with both steps' logs (e.g. BEGAN k_t)."""

    def lr_scale(self) -> float:
        """Multiplier of both players' learning rates the objective asks for now, on top
        of the configured schedule (1 unless the game itself decays them, e.g. BEGAN's
        halving when its convergence measure stalls)."""
        return 1.0

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


def bce(logits: Tensor, target: float) -> Tensor:
    """Mean binary cross-entropy of sigmoid(logits) against a constant target."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def single_logit(logits: Tensor) -> Tensor:
    if logits.dim() == 2 and logits.shape[1] != 1:
        raise ValueError(f"this objective needs a discriminator with one output logit, "
                         f"got logits of shape {tuple(logits.shape)} "
                         "(set discriminator.n_out = 1)")
    return logits.reshape(-1)
