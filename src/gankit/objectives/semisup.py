"""Semi-supervised learning with a K+1-class discriminator: Salimans et al. (2016), Sec. 5.

D is a classifier with K logits l_1..l_K; "generated" is an implicit class K+1 whose
logit is fixed to 0. Writing Z(x) = sum_k exp(l_k(x)),

    p(y = k | x, y <= K) = softmax(l)_k,   D(x) = 1 - p(y = K+1 | x) = Z(x) / (Z(x) + 1),

so D(x) = sigmoid(log Z(x)) with log Z = logsumexp(l), which is how it is computed here
(stably, for logits of any size). The discriminator minimises

    L = L_supervised + w * L_unsupervised,
    L_supervised   = -E_{x,y ~ labelled} log p(y | x, y <= K)            (cross-entropy)
    L_unsupervised = -E_{x ~ data} log D(x) - E_{z} log(1 - D(G(z))),

with -log D(x) = softplus(-log Z(x)) and -log(1 - D(G(z))) = softplus(log Z(G(z))).
Only ``labels_per_class`` labels per class are used, a fixed subset drawn from the data
seed (:meth:`gankit.data.base.Dataset.labelled_subset`). The generator uses feature
matching (Sec. 3.1, :func:`~gankit.objectives.feature_matching.feature_matching_loss`),
which the paper found to work best for this task. The ``accuracy`` metric reports D's
test-set accuracy and error over the K classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from ..config import opt
from ..evalmode import eval_mode
from ..metrics.base import Metric, register
from ..plugins import LabelledData, SetupContext
from ..registry import OBJECTIVES
from .base import DFn, LossAndLogs, Objective, Tensor
from .feature_matching import feature_matching_loss, require_features


def log_z(logits: Tensor) -> Tensor:
    """log Z(x) = log sum_k exp(l_k(x)), per example."""
    return torch.logsumexp(logits, dim=1)


def log_d(logits: Tensor) -> Tensor:
    """log D(x) = log(Z / (Z + 1)) = -softplus(-log Z), stable for any logits."""
    return -F.softplus(-log_z(logits))


def semisup_losses(lab_logits: Tensor, labels: Tensor, real_logits: Tensor,
                   fake_logits: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """(L_supervised, -E log D(x), -E log(1 - D(G(z)))) as in the module docstring."""
    supervised = F.cross_entropy(lab_logits, labels)
    unsup_real = F.softplus(-log_z(real_logits)).mean()
    unsup_fake = F.softplus(log_z(fake_logits)).mean()
    return supervised, unsup_real, unsup_fake


def _check_classes(logits: Tensor, k: int) -> None:
    if logits.dim() != 2 or logits.shape[1] != k:
        raise ValueError(f"the semi-supervised game needs one discriminator logit per "
                         f"class: the data has {k} classes but D returns logits of shape "
                         f"{tuple(logits.shape)}; set discriminator.n_out = {k}")


@OBJECTIVES.register("semisup")
class SemiSupervised(Objective):
    """Salimans et al. (2016) Sec. 5: K+1-class D on few labels, feature-matching G."""

    g_needs_real = True
    class_conditional = False  # its labelled batches are D calls of its own

    @dataclass
    class Options:
        labels_per_class: int = opt(10, "labelled training examples per class (fixed by "
                                    "the seed); the paper's MNIST runs use 10", min=1)
        unsup_weight: float = opt(1.0, "w: weight of L_unsupervised", min=0.0)
        labelled_batch: int = opt(0, "labelled examples per D step (0 = data.batch_size)",
                                  min=0)

    def __init__(self, opts: "SemiSupervised.Options"):
        super().__init__(opts)
        self.data: Optional[LabelledData] = None
        self.subset = torch.zeros(0, dtype=torch.long)

    def check(self, G: nn.Module, D: nn.Module) -> None:
        require_features(D, "semisup")

    def setup(self, ctx: SetupContext) -> None:
        """Fix the labelled subset and check D has one logit per class."""
        self.data, self.device = ctx.labelled, ctx.device
        self.subset = self.data.labelled_subset(self.opts.labels_per_class)
        self.batch = self.opts.labelled_batch or ctx.batch_size
        probe = self.data.examples(self.subset[:2]).to(self.device)
        with torch.no_grad(), eval_mode(ctx.D):
            _check_classes(ctx.D(probe)[0], self.data.num_classes)

    def d_loss(self, D: DFn, real: Tensor, fake: Tensor) -> LossAndLogs:
        x_lab, y = self.data.sample_labelled(self.batch, self.subset)
        lab_logits = D(x_lab.to(self.device))[0]
        real_logits, fake_logits = D(real)[0], D(fake)[0]
        sup, u_real, u_fake = semisup_losses(lab_logits, y.to(self.device), real_logits,
                                             fake_logits)
        loss = sup + self.opts.unsup_weight * (u_real + u_fake)
        return loss, {"d_loss": loss.detach(), "d_sup": sup.detach(),
                      "d_unsup": (u_real + u_fake).detach(),
                      "d_real": log_d(real_logits.detach()).exp().mean(),
                      "d_fake": log_d(fake_logits.detach()).exp().mean(),
                      "train_acc": (lab_logits.detach().argmax(1) == y.to(self.device))
                      .float().mean()}

    def g_loss(self, D: DFn, fake: Tensor, real: Tensor | None) -> LossAndLogs:
        """Feature matching, Sec. 3.1: ||E f(x) - E f(G(z))||_2^2 on D's features."""
        if real is None:
            raise ValueError("semisup: the generator loss needs a real batch")
        loss = feature_matching_loss(D, real, fake)
        return loss, {"g_loss": loss.detach()}


@torch.no_grad()
def classify(D: nn.Module, x: Tensor, device: torch.device, batch: int = 1000) -> Tensor:
    """argmax_k l_k(x) of D in eval mode, in chunks."""
    with eval_mode(D):
        return torch.cat([D(x[i:i + batch].to(device))[0].argmax(1).cpu()
                          for i in range(0, len(x), batch)])


@register("accuracy")
class TestAccuracy(Metric):
    """Test-set accuracy and error (%) of D's K class logits (semi-supervised runs)."""

    source = "trainer"

    def check(self, dataset: Any) -> None:
        if dataset.test_set() is None:
            raise ValueError(f"metric 'accuracy' needs a labelled test split; data set "
                             f"{type(dataset).__name__} has none")

    def from_trainer(self, trainer: Any, ctx: Any) -> Dict[str, float]:
        self.check(trainer.data)
        x, y = trainer.data.test_set()
        with torch.no_grad(), eval_mode(trainer.D):
            _check_classes(trainer.D(x[:2].to(trainer.device))[0], trainer.data.num_classes)
        correct = (classify(trainer.D, x, trainer.device) == y).double().mean().item()
        return {"test_accuracy": 100.0 * correct, "test_error": 100.0 * (1.0 - correct),
                "test_errors": int(round((1.0 - correct) * len(y)))}
