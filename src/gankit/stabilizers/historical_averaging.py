"""Historical averaging, Salimans et al. (2016), Sec. 3.3.

Each player's cost gets the term lambda * ||theta - (1/t) sum_{i=1}^t theta[i]||^2, where
theta[i] are the player's parameters after its i-th update (theta[1] = the initial
parameters). The running mean is a constant of the penalty (no gradient flows into it),
so d/dtheta = 2 lambda (theta - mean). The paper relates it to fictitious play: it pulls
the players out of the orbits that gradient descent can follow in a game.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import torch
from torch import nn

from ..config import opt
from ..plugins import SetupContext
from ..registry import STABILIZERS
from .base import Stabilizer

ROLES = ("generator", "discriminator")


@STABILIZERS.register("historical_averaging")
class HistoricalAveraging(Stabilizer):
    """lambda ||theta - mean of past theta||^2 on G and D (Salimans et al. 2016, Sec. 3.3)."""

    @dataclass
    class Options:
        weight: float = opt(1e-3, "lambda, the weight of the penalty", min=0.0)
        players: str = opt("both", "which players are penalised",
                           choices=("both", "generator", "discriminator"))

    def __init__(self, opts: "HistoricalAveraging.Options"):
        super().__init__(opts)
        self.roles = ROLES if opts.players == "both" else (opts.players,)
        self.mean: Dict[str, Dict[str, torch.Tensor]] = {}
        self.count: Dict[str, int] = {}

    def setup(self, ctx: SetupContext) -> None:
        for role, net in (("generator", ctx.G), ("discriminator", ctx.D)):
            if role in self.roles:
                self.start(role, net)

    def start(self, role: str, net: nn.Module) -> None:
        """The history of ``role`` begins with its current (initial) parameters."""
        self.mean[role] = {k: p.detach().clone() for k, p in net.named_parameters()}
        self.count[role] = 1

    def penalty(self, role: str, net: nn.Module) -> Optional[torch.Tensor]:
        if role not in self.mean:
            return None
        mean = self.mean[role]
        terms = [(p - mean[k]).pow(2).sum() for k, p in net.named_parameters()]
        return self.opts.weight * torch.stack(terms).sum()

    def after_step(self, role: str, net: nn.Module, step: int) -> None:
        """mean_t = mean_{t-1} + (theta[t] - mean_{t-1}) / t, in place."""
        if role not in self.mean:
            return
        self.count[role] += 1
        with torch.no_grad():
            for k, p in net.named_parameters():
                self.mean[role][k].add_(p.detach() - self.mean[role][k],
                                        alpha=1.0 / self.count[role])

    def state_dict(self) -> Dict[str, Any]:
        return {"count": dict(self.count),
                "mean": {r: {k: v.clone() for k, v in m.items()} for r, m in self.mean.items()}}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.count = {r: int(c) for r, c in state["count"].items()}
        for role, means in state["mean"].items():
            for k, v in means.items():
                self.mean[role][k].copy_(v)
