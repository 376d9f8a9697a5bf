"""An exponential moving average (EMA) of the generator's weights, for sampling.

After each generator step, theta_ema <- beta * theta_ema + (1 - beta) * theta; buffers
(batch-norm statistics) are copied. Averaging the generator's iterates damps the
oscillation of simultaneous gradient play (Yazici et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training", Sec. 3; Karras et al. 2018, ProGAN, use
beta = 0.999). With beta = 0 there is no copy and the generator itself is sampled, so
the trainer calls the same methods either way.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import torch
from torch import nn


class GeneratorEMA:
    def __init__(self, G: nn.Module, beta: float):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"train.g_ema = {beta}: the EMA decay must be in [0, 1) "
                             "(0 = off; 0.999 is usual)")
        self.G, self.beta = G, float(beta)
        self.copy: Optional[nn.Module] = None
        if beta > 0:
            self.copy = copy.deepcopy(G).requires_grad_(False)

    @property
    def sampler(self) -> nn.Module:
        """The net to sample from: the average when on, else G itself."""
        return self.G if self.copy is None else self.copy

    @torch.no_grad()
    def update(self) -> None:
        if self.copy is None:
            return
        for avg, p in zip(self.copy.parameters(), self.G.parameters()):
            avg.lerp_(p, 1.0 - self.beta)
        for avg, b in zip(self.copy.buffers(), self.G.buffers()):
            avg.copy_(b)

    def state_dict(self) -> Dict[str, Any]:
        return {} if self.copy is None else self.copy.state_dict()

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if self.copy is not None:
            self.copy.load_state_dict(state)
