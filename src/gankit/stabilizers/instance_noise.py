"""Instance noise, Arjovsky & Bottou (2017), Sec. 3 (also Sønderby et al. 2017).

Gaussian noise N(0, sigma_t^2 I) is added to every discriminator input, real and
generated, so the two distributions overlap, the optimal discriminator is no longer
perfect, and the generator's gradients do not vanish (their Theorem 3.2). The noise is
annealed: sigma_t goes from sigma_0 to 0 over ``steps`` generator steps, linearly, or
exponentially down to ``floor * sigma_0`` and then to 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import torch

from .. import seeds
from ..config import opt
from ..plugins import SetupContext
from ..registry import STABILIZERS
from .base import Stabilizer


def noise_std(step: int, sigma0: float, steps: int, schedule: str, floor: float) -> float:
    """sigma_t of the annealing schedule; exactly 0 from ``steps`` on."""
    if step >= steps:
        return 0.0
    frac = step / steps
    if schedule == "linear":
        return sigma0 * (1.0 - frac)
    return sigma0 * floor ** frac


@STABILIZERS.register("instance_noise")
class InstanceNoise(Stabilizer):
    """Gaussian noise on D's real and generated inputs, annealed to 0 (Arjovsky & Bottou)."""

    @dataclass
    class Options:
        sigma0: float = opt(0.1, "initial noise std sigma_0", min=0.0)
        steps: int = opt(2000, "generator steps over which sigma goes to 0", min=1)
        schedule: str = opt("linear", "annealing schedule",
                            choices=("linear", "exponential"))
        floor: float = opt(0.01, "exponential: sigma reaches floor * sigma_0 at `steps`, "
                           "then 0", min=0.0, max=1.0, min_exclusive=True)

    def __init__(self, opts: "InstanceNoise.Options"):
        super().__init__(opts)
        self.rng = torch.Generator()

    def setup(self, ctx: SetupContext) -> None:
        self.rng.manual_seed(ctx.seed_for(seeds.INSTANCE_NOISE))

    def std(self, step: int) -> float:
        o = self.opts
        return noise_std(step, o.sigma0, o.steps, o.schedule, o.floor)

    def d_input(self, x: torch.Tensor, step: int) -> torch.Tensor:
        sigma = self.std(step)
        if sigma == 0.0:
            return x
        noise = torch.randn(x.shape, generator=self.rng).to(x.device)
        return x + sigma * noise

    def state_dict(self) -> Dict[str, Any]:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
