"""An exponential moving average (EMA) of the generator's weights, for sampling.

After each generator step, theta_ema <- beta * theta_ema + (1 - beta) * theta; buffers
(batch-norm statistics) are copied. Averaging the generator's iterates damps the
oscillation of simultaneous gradient play (Yazici et al. 2019, "The Unusual
Effectiveness of Averaging in GAN Training", Sec. 3; Karras et al. 2018, ProGAN, use
beta = 0.999). Early on the decay is capped at (1 + n) / (10 + n) after n updates (the
warm-up of TensorFlow's ExponentialMovingAverage with num_updates), so the average is
not dominated by the random initial weights. The cap stays below beta until n = (10 beta
- 1) / (1 - beta), about 9 / (1 - beta) updates (8,990 for 0.999): until then the
average spans about the latest (10 + n) / 9 updates, the same for every such beta. With
beta = 0 there is no copy and the generator itself is sampled, so the trainer calls the
same methods either way.
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
        self.updates = 0
        self.copy: Optional[nn.Module] = None
        if beta > 0:
            self.copy = copy.deepcopy(G).requires_grad_(False)
            self._pairs = (list(self.copy.parameters()), list(G.parameters()))
            self._buffers = (list(self.copy.buffers()), list(G.buffers()))

    @property
    def sampler(self) -> nn.Module:
        """The net to sample from: the average when on, else G itself."""
        return self.G if self.copy is None else self.copy

    def decay(self) -> float:
        """The decay of the next update: beta, capped during the warm-up."""
        return min(self.beta, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        if self.copy is None:
            return
        decay = self.decay()
        torch._foreach_lerp_(self._pairs[0], self._pairs[1], 1.0 - decay)
        self.updates += 1
        if self._buffers[0]:
            torch._foreach_copy_(self._buffers[0], self._buffers[1])

    def state_dict(self) -> Dict[str, Any]:
        if self.copy is None:
            return {}
        return {"net": self.copy.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if self.copy is not None:
            self.copy.load_state_dict(state["net"])
            self.updates = int(state["updates"])
