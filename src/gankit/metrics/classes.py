"""Class coverage of an unconditional image generator, by the data set's classifier.

The mode-collapse measure of the 2D mixtures (:mod:`gankit.metrics.modes`) and of
StackedMNIST (:mod:`gankit.metrics.stacked`) carried to one-channel digits: each
generated sample is given the class the classifier rates highest (the digits or MNIST
classifier whose features give FID; with Inception, ImageNet's 1,008 classes, which
images of other classes do not fill evenly, so there only the real images' own value
means anything), and the samples' class histogram is compared with the uniform
distribution over the K classes,
as Srivastava et al. (2017, Sec. 5.2) and Lin et al. (2018, Sec. 5.2) do over the
modes of StackedMNIST. Che et al. (2017, "Mode Regularized GANs", Sec. 5, the MODE
score) weigh the same class marginal against the training labels'; the labelled image
sets gankit ships are near uniform (mnist5k: 400 digits a class; the digits' training
split: 122-137), so the uniform reference is the protocol here, as for the mixtures
and StackedMNIST.

Values: ``classes``, the classes at least one sample falls in; ``class_kl``,
KL(p || uniform) of the histogram (0 for a perfectly balanced generator, log K when
every sample is of one class); ``class_min``, the % of the samples in the rarest class
(100 / K when balanced). A finite sample is not exactly balanced: with n samples a
perfect generator's ``class_kl`` is about (K - 1) / (2 n) (the
:func:`gankit.metrics.stacked.expected_uniform_kl` sum), so compare values of one
sample count, against the data's own: where the real set's logits are at hand
(``gankit eval``), ``class_kl_real`` is theirs.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from .base import EvalData, Metric, register
from .modes import kl_to_uniform


def class_histogram_metrics(logits: np.ndarray) -> Dict[str, float]:
    """``classes``, ``class_kl`` and ``class_min`` of the samples whose classifier
    logits (n, K) are given (the argmax of each row is its class)."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[0] < 1 or logits.shape[1] < 2:
        raise ValueError(f"metric 'classes': logits of shape {logits.shape}; expected "
                         "(n, K) with n >= 1 samples and K >= 2 classes")
    if not np.isfinite(logits).all():
        raise ValueError("metric 'classes': the logits contain NaN or inf")
    k = logits.shape[1]
    counts = torch.bincount(torch.from_numpy(logits.argmax(1)), minlength=k)
    return {"classes": int((counts > 0).sum()), "class_kl": kl_to_uniform(counts),
            "class_min": 100.0 * float(counts.min()) / float(counts.sum())}


@register("classes")
class ClassCoverage(Metric):
    """Classes covered, KL to uniform and the rarest class's %, by the data's classifier."""

    logits = True
    fake_only = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        out = class_histogram_metrics(d.logits_of_fake(self.name))
        if d.real_logits is not None:
            out["class_kl_real"] = class_histogram_metrics(d.real_logits)["class_kl"]
        return out


__all__ = ["class_histogram_metrics", "ClassCoverage"]
