"""One-sided label smoothing, Salimans et al. (2016), Sec. 3.4.

The discriminator's target for real examples becomes alpha (e.g. 0.9) instead of 1;
the target for generated examples stays 0. With targets alpha and beta the optimal
discriminator is D*(x) = (alpha p_data(x) + beta p_model(x)) / (p_data(x) + p_model(x)).
If beta > 0, then where p_data is near 0 and p_model is large, D* stays near beta
instead of 0, so the generator gets no push to move those samples towards the data:
that is why only the real side is smoothed, and why smoothing the generated targets
too is refused unless ``allow_fake_smoothing`` says it is wanted.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import opt
from ..plugins import SetupContext
from ..registry import STABILIZERS
from .base import Stabilizer


@STABILIZERS.register("label_smoothing")
class LabelSmoothing(Stabilizer):
    """D's real targets alpha (0.9), generated targets 0 (Salimans et al. 2016, Sec. 3.4)."""

    @dataclass
    class Options:
        alpha: float = opt(0.9, "target for real examples", min=0.0, max=1.0)
        beta: float = opt(0.0, "target for generated examples (0 = one-sided)",
                          min=0.0, max=1.0)
        allow_fake_smoothing: bool = opt(False, "accept beta > 0 (two-sided smoothing)")

    def setup(self, ctx: SetupContext) -> None:
        if ctx.set_label_targets is None:
            raise ValueError(f"label_smoothing: objective {ctx.objective_name!r} does not "
                             "train D against 0/1 labels, so there are no targets to smooth")
        if self.opts.beta > 0 and not self.opts.allow_fake_smoothing:
            raise ValueError(
                f"label_smoothing: beta = {self.opts.beta} smooths the generated targets "
                "too. Salimans et al. (2016, Sec. 3.4) show why this hurts: the optimal D "
                "becomes (alpha p_data + beta p_model) / (p_data + p_model), which stays at "
                "beta where only the generator puts mass, so G gets no push away from "
                "wrong samples. Set allow_fake_smoothing = true if you really want it.")
        ctx.set_label_targets(self.opts.alpha, self.opts.beta)
