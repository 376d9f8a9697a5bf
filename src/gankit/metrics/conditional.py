"""Metrics of class-conditional generators: is each sample of the class it was asked for?

A class-conditional run's evaluation samples are asked for the classes 0, 1, ..., K-1,
0, 1, ... in turn (:meth:`gankit.train.Trainer.sample_classes`); these metrics read
those classes from the trainer (``from_trainer``), so they are computed during training,
not from a file of samples.

- ``class_modes`` (2D mixtures, the mode index as the class): a sample asked for mode k
  *lands* if it is high quality (within 3 standard deviations of its nearest mode
  centre, the threshold of Srivastava et al. 2017 and Lin et al. 2018) and that centre
  is mode k's. ``class_hq`` is the % of all samples that land, ``class_hq_min`` the %
  of the worst class, ``class_hq_by_class`` the % of each class.
- ``class_acc`` (images): the % of samples that the data set's classifier (the digits
  or MNIST classifier whose features give FID: :mod:`gankit.metrics.training`) assigns
  to the class asked for: the "discriminability" by which Odena et al. (2017) measure
  an AC-GAN, with a classifier of the data instead of Inception. ``class_acc_min`` and
  ``class_acc_by_class`` as above.
- ``intra_fid`` (images): the FID (Heusel et al. 2017) of each class's samples against
  the training examples of that class, in the same classifier's features, averaged
  over the classes: the intra-FID of Miyato & Koyama (2018). ``intra_fid_max`` is the
  worst class's. With few examples a class, FID's bias is large: compare intra-FIDs of
  one protocol (sample count, data set) only, and against the data's own floor.
"""
from __future__ import annotations

from typing import Any, Dict, List

import numpy as np
import torch

from .base import EvalContext, Metric, register
from .fid import fid
from .modes import assign_modes


class ClassConditionalMetric(Metric):
    """A metric of the classes asked of a class-conditional generator's samples."""

    source = "samples"

    def from_samples(self, samples: torch.Tensor, ctx: EvalContext) -> Dict[str, Any]:
        raise ValueError(f"metric {self.name!r} needs the class each sample was asked for; "
                         "it is computed while training a class-conditional GAN")

    def from_trainer(self, trainer: Any, ctx: EvalContext) -> Dict[str, Any]:
        classes = trainer.sample_classes(len(ctx.samples))
        if classes is None:
            raise ValueError(f"metric {self.name!r} needs a class-conditional generator")
        return self.score(ctx.samples.detach().cpu(), classes, ctx)

    def score(self, samples: torch.Tensor, classes: torch.Tensor,
              ctx: EvalContext) -> Dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def check(self, dataset: Any) -> None:
        if getattr(dataset, "num_classes", 0) < 1:
            raise ValueError(f"metric {self.name!r} needs a data set with classes; "
                             f"{type(dataset).__name__} has none")


def per_class(hit: torch.Tensor, classes: torch.Tensor, k: int) -> List[float]:
    """% of ``hit`` among the samples of each class 0..k-1 (NaN for a class with none)."""
    hits = torch.bincount(classes, weights=hit.double(), minlength=k)
    asked = torch.bincount(classes, minlength=k).double()
    return (100.0 * hits / asked).tolist()


def _summary(name: str, hit: torch.Tensor, classes: torch.Tensor, k: int) -> Dict[str, Any]:
    by_class = per_class(hit, classes, k)
    return {name: 100.0 * float(hit.double().mean()), f"{name}_min": min(by_class),
            f"{name}_by_class": [round(v, 2) for v in by_class]}


def landed(samples: torch.Tensor, classes: torch.Tensor, centres: torch.Tensor,
           std: float, threshold: float = 3.0) -> torch.Tensor:
    """Whether each sample is high quality on the mode it was asked for."""
    nearest, dist = assign_modes(samples, centres)
    return (nearest == classes) & (dist <= threshold * std)


@register("class_modes")
class ClassModes(ClassConditionalMetric):
    """% of samples high quality on the mode they were asked for (2D mixtures)."""

    def check(self, dataset: Any) -> None:
        super().check(dataset)
        if "centres" not in (dataset.describe() or {}):
            raise ValueError(f"metric 'class_modes' needs a data set with known mode "
                             f"centres; {type(dataset).__name__} has none")

    def score(self, samples, classes, ctx) -> Dict[str, Any]:
        info = ctx.dataset.describe()
        hit = landed(samples, classes, info["centres"], info["std"])
        return _summary("class_hq", hit, classes, len(info["centres"]))


def _check_images(name: str, dataset: Any) -> None:
    if not (dataset.describe() or {}).get("images") or dataset.labels is None:
        raise ValueError(f"metric {name!r} needs a labelled image data set; "
                         f"{type(dataset).__name__} is not one")


@register("class_acc")
class ClassAccuracy(ClassConditionalMetric):
    """% of samples the data's classifier assigns to the class asked for (images)."""

    def check(self, dataset: Any) -> None:
        super().check(dataset)
        _check_images(self.name, dataset)

    def score(self, samples, classes, ctx) -> Dict[str, Any]:
        logits = ctx.eval_data().fake_logits
        if logits is None or logits.shape[1] != ctx.dataset.num_classes:
            raise ValueError("class_acc needs a classifier of the data's classes (the "
                             "digits or MNIST classifier of one-channel images)")
        hit = torch.from_numpy(np.asarray(logits).argmax(1)) == classes
        return _summary("class_acc", hit, classes, ctx.dataset.num_classes)


@register("intra_fid")
class IntraFID(ClassConditionalMetric):
    """The mean over classes of the FID of a class's samples against its training
    examples (Miyato & Koyama 2018), in the features FID uses for this data."""

    def __init__(self):
        self._real: Dict[int, np.ndarray] = {}  # features of each class's examples

    def check(self, dataset: Any) -> None:
        super().check(dataset)
        _check_images(self.name, dataset)

    def real_features(self, ctx: EvalContext, k: int) -> np.ndarray:
        """Features of every training example of class k (computed once)."""
        if k not in self._real:
            idx = (ctx.dataset.labels == k).nonzero().flatten()
            self._real[k] = ctx.features(ctx.dataset.examples(idx).float())[0]
        return self._real[k]

    def score(self, samples, classes, ctx) -> Dict[str, Any]:
        fake = ctx.eval_data().fake
        values = []
        for k in range(ctx.dataset.num_classes):
            mine = fake[(classes == k).numpy()]
            if len(mine) < 2:
                raise ValueError(f"intra_fid: {len(mine)} samples of class {k}; raise "
                                 "eval.n_samples to at least 2 per class")
            values.append(fid(self.real_features(ctx, k), mine))
        return {"intra_fid": float(np.mean(values)), "intra_fid_max": max(values),
                "intra_fid_by_class": [round(v, 3) for v in values]}
