"""The stabilizer interface: techniques composed around any objective.

A stabilizer never appears as a branch in the loop. It plugs into five hooks, each
optional; the trainer calls only the stabilizers that override a hook:

- ``setup(ctx)``: check it can apply (raise ``ValueError`` saying why) and adjust the
  objective or nets once, before training (e.g. one-sided label smoothing). ``ctx`` is a
  :class:`gankit.plugins.SetupContext`: it names all a stabilizer may read (the nets,
  D's options, the run's seed, real examples, z...) and set (the objective's label
  targets, a net's VBN reference batch);
- ``d_input(x, step)``: transform every discriminator input (e.g. instance noise);
- ``penalty(role, net)``: a term added to that player's loss (e.g. historical averaging);
- ``d_penalty(D, real, fake)``: a term added to D's loss that needs the step's batches
  (e.g. the R1 gradient penalty); ``D`` is the discriminator as the objective sees it;
  ``None`` adds nothing that step (e.g. lazy regularisation);
- ``after_step(role, net, step)``: update internal state after a player's update.

``role`` is ``"generator"`` or ``"discriminator"``. State that a resumed run needs goes
in ``state_dict()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from torch import nn

from ..plugins import SetupContext


class Stabilizer:
    @dataclass
    class Options:
        pass

    def __init__(self, opts: Any):
        self.opts = opts

    def setup(self, ctx: SetupContext) -> None:
        pass

    def d_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        return x

    def penalty(self, role: str, net: nn.Module) -> Optional[torch.Tensor]:
        return None

    def d_penalty(self, D: Any, real: torch.Tensor, fake: torch.Tensor
                  ) -> Optional[torch.Tensor]:
        return None

    def after_step(self, role: str, net: nn.Module, step: int) -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass

    @classmethod
    def overrides(cls, hook: str) -> bool:
        return getattr(cls, hook) is not getattr(Stabilizer, hook)
