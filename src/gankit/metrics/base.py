"""The one protocol every metric follows: features -> statistics -> number.

A metric is a small class registered in :data:`gankit.registry.METRICS` from its own
module. It answers the same questions whoever asks (``gankit eval`` or the training
loop):

* what it needs: :attr:`Metric.source`, the deepest input it reads ("features" of the
  real and fake sets, the generated "samples" with their data set, or the "trainer"
  whose nets it measures), and for feature metrics whether it needs the feature
  matrices (:attr:`Metric.matrix`; FID makes do with streamed mean and covariance) and
  classifier logits (:attr:`Metric.logits`);
* whether it can score a data set during training (:meth:`Metric.check`, called before a
  run directory exists);
* how it is computed: :meth:`Metric.from_features`, :meth:`Metric.from_samples` and
  :meth:`Metric.from_trainer`. Each level defaults to the one below it, through the
  :class:`EvalContext` the caller provides (which draws the samples and computes their
  features once for all metrics), so the loop calls ``from_trainer`` on every metric and
  never asks which kind it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Dict, Optional, Protocol, Union

import numpy as np
import torch

from ..registry import METRICS

Results = Dict[str, Any]
SOURCES = ("features", "samples", "trainer")


class MeanCov(Protocol):
    """Anything holding a mean vector and a covariance matrix (FeatureStats, a stats file)."""

    mean: np.ndarray
    cov: np.ndarray


Stats = Union["FeatureStats", MeanCov]  # noqa: F821


@dataclass
class EvalData:
    """Features, classifier logits and statistics of a real and a fake sample set, with
    the settings of the metrics that have some. A side known only by its statistics
    (a stats file, or a set whose metrics need no more) has ``None`` features."""

    real: Optional[np.ndarray]
    fake: Optional[np.ndarray]
    real_logits: Optional[np.ndarray] = None
    fake_logits: Optional[np.ndarray] = None
    real_stats: Optional[Stats] = None
    fake_stats: Optional[Stats] = None
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    sinkhorn_n: int = 1000
    sinkhorn_eps: float = 0.05
    #: also report the settings a metric used (KID's subset size...), as ``gankit eval``
    #: does; the training loop logs the values alone
    details: bool = True

    def logits_of_fake(self, metric: str) -> np.ndarray:
        """The fake set's classifier logits, or an error naming ``metric`` and the fix."""
        if self.fake_logits is None:
            raise ValueError(f"metric {metric!r} needs classifier logits: use --features "
                             "inception, digits or mnist")
        return self.fake_logits

    def mean_cov(self, side: str):
        """(mean, covariance) of ``side``, from its statistics or its features."""
        from .features import FeatureStats  # scipy's BLAS: not at every run's start-up

        stats = getattr(self, f"{side}_stats")
        if stats is None:
            stats = FeatureStats.from_features(getattr(self, side))
        return stats.mean, stats.cov


class EvalContext(Protocol):
    """What an evaluation offers a metric: the data set, the generated samples of this
    evaluation, and their :class:`EvalData` against the data set's reference images
    (computed on first use and shared by every metric of the evaluation)."""

    dataset: Any
    samples: torch.Tensor

    def eval_data(self) -> EvalData: ...


class Metric:
    """Base class; see the module docstring. Subclasses override the method of their
    :attr:`source` and, if they cannot score every data set, :meth:`check`."""

    name: ClassVar[str] = ""
    source: ClassVar[str] = "features"
    #: needs the feature matrices of both sets, not only their mean and covariance
    matrix: ClassVar[bool] = False
    #: needs the fake set's classifier logits (and uses the real set's when present)
    logits: ClassVar[bool] = False
    #: may be computed from a stats file's mean and covariance
    accepts_stats: ClassVar[bool] = False
    #: reads the fake set only (a stats file may then stand for the real set)
    fake_only: ClassVar[bool] = False
    #: meaningful on raw vectors (identity features), so usable on non-image data
    raw_features: ClassVar[bool] = False

    def check(self, dataset: Any) -> None:
        """Raise ``ValueError`` saying why, if this metric cannot score ``dataset``."""

    def from_features(self, d: EvalData) -> Results:
        raise ValueError(f"metric {self.name!r} is not computed from features")

    def from_samples(self, samples: torch.Tensor, ctx: EvalContext) -> Results:
        return self.from_features(ctx.eval_data())

    def from_trainer(self, trainer: Any, ctx: EvalContext) -> Results:
        return self.from_samples(ctx.samples, ctx)


def register(name: str):
    """Class decorator: register a :class:`Metric` subclass as ``name`` in METRICS."""
    def deco(cls: type) -> type:
        if cls.source not in SOURCES:
            raise ValueError(f"metric {name!r}: source {cls.source!r}; valid: {SOURCES}")
        cls.name = name
        return METRICS.register(name)(cls)
    return deco


def get(name: str) -> Metric:
    """The registered metric ``name`` (an error listing the valid names otherwise)."""
    return METRICS.get(name)()
