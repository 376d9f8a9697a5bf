"""Sinkhorn loss: entropic optimal transport between a generated and a data minibatch.

Seed 004, "OT distance for batch of m samples with Sinkhorn-Knopp" (Cuturi 2013): with the
cost matrix C_ij = c(G(z_i), x_j) between m generated and m data examples and
K = exp(-C / eps), L scaling iterations give the entropic plan P and the loss
OT_eps = sum_ij C_ij P_ij. The solver is shared with the Sinkhorn metric
(:mod:`gankit.ot`: stabilised scaling iterations with eps-scaling, so small eps does not
overflow, and the symmetric update for OT(X~, X~) and OT(X, X)).

``debiased = true`` uses the Sinkhorn divergence of Genevay, Peyré & Cuturi (2018),
2 OT(X~, X) - OT(X~, X~) - OT(X, X), which is zero when the two batches coincide (plain
OT_eps is not, and its minimiser is biased towards shrunken samples).

``space = "data"``: the cost is taken on the raw samples and G descends the loss
directly (Genevay et al. 2018 with a fixed cost); there is no adversary, so no
discriminator steps are taken (``d_steps`` is 0 and ``train.d_steps`` is ignored).
``space = "features"``: the cost is taken on the discriminator's features, which D
learns adversarially by *ascending* the same loss while G descends it, as in OT-GAN
(Salimans, Zhang, Radford & Metaxas 2018, Sec. 4, with the cosine cost
c(x, y) = 1 - cos(v(x), v(y)) of their eq. 7).

``rho > 0``: unbalanced transport (:mod:`gankit.ot.unbalanced`; Sejourne et al. 2019 for
the debiased divergence, Fatras et al. 2021 for minibatches). Two minibatches of a
mixture hold its components in different counts, and the balanced plan must carry the
difference to other components, pulling samples that sit on a mode towards its
neighbours; with marginals relaxed by rho KL penalties it can leave that mass unmatched
(BENCHMARKS.md, "WGAN, BEGAN and Sinkhorn on the toys").

Gradients: by default the plan P is held fixed and only C is differentiated (OT-GAN's
choice; for the entropic problem dOT_eps/dC = P by the envelope theorem), and the plan
comes from the solver's fast path, which builds no graph. Backpropagating through the L
iterations (``grad = "autograd"``, as Genevay et al.) runs the solver's log-domain path
with its graph, many times slower per step; BENCHMARKS.md (Metrics, Sinkhorn) has the
step times against a non-saturating step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from ..config import opt
from ..ot import sinkhorn_distance, sinkhorn_divergence
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor
from .checks import require_features


@OBJECTIVES.register("sinkhorn")
class Sinkhorn(Objective):
    """Minibatch Sinkhorn loss (Cuturi 2013; Genevay et al. 2018; OT-GAN cost)."""

    g_needs_real = True
    class_conditional = False  # the divergence ignores the classes of the batches

    @dataclass
    class Options:
        eps: float = opt(0.05, "entropic regularisation eps (K = exp(-C / eps))", min=0.0,
                         min_exclusive=True)
        n_iters: int = opt(100, "L: Sinkhorn iterations (at most)", min=1)
        tol: float = opt(1e-6, "stop early when the marginal error is below this "
                         "(0 = always run L iterations)", min=0.0)
        debiased: bool = opt(True, "2 OT(X~, X) - OT(X~, X~) - OT(X, X) instead of OT")
        space: str = opt("data", "cost on the raw samples ('data') or on the "
                         "discriminator's features, learned adversarially ('features')",
                         choices=("data", "features"))
        cost: str = opt("sqeuclidean", "ground cost c (OT-GAN: 'cosine' on features)",
                        choices=("sqeuclidean", "euclidean", "cosine"))
        rho: float = opt(0.0, "unbalanced transport: the marginals relaxed into rho KL "
                         "penalties (Chizat et al. 2018; Fatras et al. 2021), so a plan may "
                         "leave mass unmatched rather than carry it far; 0 = balanced",
                         min=0.0)
        grad: str = opt("envelope", "hold the plan fixed and differentiate through C "
                        "only ('envelope', as OT-GAN) or through the L iterations "
                        "('autograd')", choices=("envelope", "autograd"))

    def __init__(self, opts: Any):
        super().__init__(opts)
        if opts.space == "features" and opts.cost != "cosine":
            raise ValueError(
                f"objective sinkhorn: space = 'features' needs cost = 'cosine'; with "
                f"{opts.cost!r} the discriminator, which ascends the loss, could make it "
                "arbitrarily large by scaling its features (OT-GAN bounds it with cosine)")

        if opts.rho > 0 and opts.grad != "envelope":
            raise ValueError(
                f"objective sinkhorn: rho = {opts.rho:g} (unbalanced transport) needs grad = "
                "'envelope'; its solver builds no graph through the iterations")

    def check(self, G: nn.Module, D: nn.Module) -> None:
        if self.opts.space == "features":
            require_features(D, "sinkhorn (space = 'features')")

    def d_steps(self, g_step: int, k: int) -> int:
        return k if self.opts.space == "features" else 0

    def loss(self, fake: Tensor, real: Tensor) -> Tensor:
        """OT_eps or the debiased divergence between two batches of vectors."""
        o = self.opts
        fn = sinkhorn_divergence if o.debiased else sinkhorn_distance
        return fn(fake.flatten(1), real.flatten(1), o.eps, o.n_iters, o.tol, o.cost,
                  grad=o.grad, rho=o.rho if o.rho > 0 else None)

    def _embed(self, D: DFn, x: Tensor) -> Tensor:
        return D(x)[1] if self.opts.space == "features" else x

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        """D learns the feature space that makes the batches far apart (OT-GAN)."""
        if self.opts.space != "features":
            raise ValueError("sinkhorn with space = 'data' has no discriminator to train")
        value = self.loss(self._embed(D, fake), self._embed(D, real))
        return -value, {"d_loss": -value.detach(), "sinkhorn": value.detach()}

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        if real is None:
            raise ValueError("the Sinkhorn loss needs a real batch for the generator")
        value = self.loss(self._embed(D, fake), self._embed(D, real))
        return value, {"g_loss": value.detach(), "sinkhorn": value.detach()}
