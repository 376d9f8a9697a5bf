"""The auxiliary classifier GAN: Odena, Olah & Shlens (2017), "Conditional Image
Synthesis with Auxiliary Classifier GANs", Sec. 3.

G(z, c) is asked for class c; D gives a probability over sources (real or generated),
P(S | X), and one over the K classes, P(C | X), from the same features. With

    L_S = E log P(S = real | X_real) + E log P(S = fake | X_fake),
    L_C = E log P(C = c | X_real) + E log P(C = c | X_fake),

D maximises L_S + L_C and G maximises L_C - L_S. Here the source part is any GAN game
of gankit (``game``: the non-saturating one by default, where G's part of -L_S is
-log D(G(z)); hinge, WGAN-GP, RpGAN...), and -L_C is the class cross-entropy, weighted by
``weight``, added to both players' losses: D's on the real and the generated examples,
G's on the generated ones (``d_on_fake = false``: D's on the real ones only, a common
variant: when D also learns the fakes' classes, the two players share that loss and
can settle on a class code that G writes and D reads but the data does not have). The
class logits come from the discriminator's AC-GAN head
(``discriminator.conditional = "acgan"``) on the features of the game's own forward
passes (no second pass when the game passes the batch itself to D).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from torch import nn
from torch.nn import functional as F

from ..config import ObjectiveConfig, opt
from ..nets.conditional import classes_of
from ..plugins import SetupContext, build
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor

GAMES = ("nonsaturating", "minimax", "hinge", "wgan", "wgan_gp", "rpgan", "preference")


class _Recorded:
    """D that keeps its output for each batch it is called on, so the class loss reads
    the features of the game's own forward pass of that batch instead of a new one."""

    def __init__(self, D: DFn):
        self.D = D
        self.seen: List[Tuple[Tensor, Tuple[Tensor, Tensor]]] = []

    def __call__(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        out = self.D(x)
        self.seen.append((x, out))
        return out

    def features(self, x: Tensor) -> Tensor:
        for seen, out in self.seen:
            if seen is x:
                return out[1]
        return self.D(x)[1]

    def labels(self, n: int) -> Tensor:
        return self.D.labels(n)


@OBJECTIVES.register("acgan")
class ACGAN(Objective):
    """Odena et al. (2017), Sec. 3: a GAN game plus the class cross-entropy of D's
    auxiliary classifier in both players' losses."""

    trains_class_head = True

    @dataclass
    class Options:
        game: str = opt("nonsaturating", "the adversarial game (the source loss L_S)",
                        choices=GAMES)
        game_options: Dict[str, Any] = opt({}, "options of the game, e.g. {lambda_gp = 10}")
        weight: float = opt(1.0, "weight of the class cross-entropy -L_C in both players' "
                            "losses (Odena et al.: 1)", min=0.0)
        d_on_fake: bool = opt(True, "D's classifier also learns the class asked of the "
                              "generated examples (Odena et al.); false: of the real ones "
                              "only, so D and G cannot agree on a class code of their own")

    def __init__(self, opts: Any):
        super().__init__(opts)
        self.game: Objective = build(OBJECTIVES, "objective.game_options",
                                     ObjectiveConfig(name=opts.game,
                                                     options=opts.game_options))
        self.g_needs_real = self.game.g_needs_real
        self.uses_labels = self.game.uses_labels
        self.head = None

    def check(self, G: nn.Module, D: nn.Module) -> None:
        self.game.check(G, D)
        if classes_of(D) == 0 or D.conditional != "acgan":
            raise ValueError("objective 'acgan' trains the discriminator's auxiliary class "
                             "head: set discriminator.conditional = 'acgan' (and "
                             "generator.conditional = 'cbn' or 'input')")

    def setup(self, ctx: SetupContext) -> None:
        self.game.setup(ctx)
        self.head = ctx.D.class_logits

    def set_targets(self, real: float, fake: float) -> None:
        self.game.set_targets(real, fake)

    def d_steps(self, g_step: int, k: int) -> int:
        return self.game.d_steps(g_step, k)

    def _class_loss(self, D: _Recorded, x: Tensor) -> Tuple[Tensor, Tensor]:
        """(-E log P(C = c | x), the share of x classified as c)."""
        logits = self.head(D.features(x))
        y = D.labels(len(x))
        return F.cross_entropy(logits, y), (logits.detach().argmax(1) == y).float().mean()

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """The game's D loss - weight L_C over the real and the generated examples."""
        seen = _Recorded(D)
        loss, logs = self.game.d_loss(seen, real, fake)
        c_real, acc_real = self._class_loss(seen, real)
        c_fake, acc_fake = self._class_loss(seen, fake)
        logs.update(d_class_real=c_real.detach(), d_class_fake=c_fake.detach(),
                    class_acc_real=acc_real, class_acc_fake=acc_fake)
        classes = c_real + c_fake if self.opts.d_on_fake else c_real
        return loss + self.opts.weight * classes, logs

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        """The game's G loss - weight L_C over the generated examples."""
        seen = _Recorded(D)
        loss, logs = self.game.g_loss(seen, fake, real)
        c_fake, _ = self._class_loss(seen, fake)
        logs["g_class"] = c_fake.detach()
        return loss + self.opts.weight * c_fake, logs

    def after_d_step(self, D: nn.Module) -> None:
        self.game.after_d_step(D)

    def after_g_step(self, logs: Dict[str, Tensor]) -> None:
        self.game.after_g_step(logs)

    def state_dict(self) -> Dict[str, Any]:
        return {"game": self.game.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.game.load_state_dict(state.get("game", {}))


__all__ = ["ACGAN", "GAMES"]
