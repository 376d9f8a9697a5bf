"""FID, KID and IS of a run's samples while it trains on image data.

With ``eval.metrics = ["fid", "kid", "is"]`` (the digits data set's default), every
evaluation scores the generator's ``eval.n_samples`` samples against as many images of
the data set (``dataset.reference``: a fixed draw, the same at every evaluation and on
resume), through

* the digits classifier of :mod:`gankit.metrics.digits` for one-channel images (built
  in, offline; larger images are area-resized to 8 x 8 as it always does, so on MNIST
  these are digits-classifier numbers, not comparable with published MNIST scores), or
* the FID Inception-v3 for colour images, with weights from ``$GANKIT_INCEPTION_WEIGHTS``
  (refused before the run starts when it is not set).

The numbers are those of ``gankit eval --features digits|inception`` on the same two
sets: the same extractor (:func:`gankit.metrics.evaluate.make_extractor`), FID (Heusel et al. 2017), KID (Binkowski et al. 2018, 100
subsets of 1,000, or of half the samples when there are fewer than 2,000) and IS
(Salimans et al. 2016, 10 splits). The reference's
features are computed once per run and kept on the data set object; the samples'
features are computed once per evaluation and shared by the three metrics.
"""
from __future__ import annotations

import weakref
from typing import Any, Dict, Tuple

import numpy as np
import torch

from .evaluate import Extract, Needs, fid_metric, is_metric, kid_metric, make_extractor
from .fid import fid
from .isc import inception_score
from .kid import kid

_BATCH = 250  # images per forward pass
_CACHE = "_gankit_image_metrics"  # attribute of the data set holding the cache


def check_dataset(dataset) -> None:
    """Refuse, before a run starts, a data set these metrics cannot score."""
    info = dataset.describe() or {}
    if not info.get("images"):
        raise ValueError(f"eval.metrics fid/kid/is need image data; data set "
                         f"{type(dataset).__name__} is not images (its metrics: modes)")
    if dataset.shape[0] != 1:
        from .inception import resolve_weights_path

        resolve_weights_path(None)  # raises, naming $GANKIT_INCEPTION_WEIGHTS


def _cache(dataset) -> Dict[Any, Any]:
    if not hasattr(dataset, _CACHE):
        setattr(dataset, _CACHE, {})
    return getattr(dataset, _CACHE)


def _network(dataset) -> Extract:
    """``gankit eval``'s extractor for this data set's images (in [-1, 1]), built once."""
    cache = _cache(dataset)
    if "net" not in cache:
        check_dataset(dataset)
        kind = "digits" if dataset.shape[0] == 1 else "inception"
        # building a network initialises its weights from torch's global generator, which
        # the run's own draws share: fork it, so that evaluating leaves them unchanged and
        # a resumed run (which builds the network at another step) stays bit-exact
        with torch.random.fork_rng(devices=[]):
            cache["net"], _ = make_extractor(kind, _BATCH, None, Needs(True, True, False),
                                             {"real": "-1,1", "fake": "-1,1"})
    return cache["net"]


def _features(extract: Extract, x: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """(features, logits) of images in [-1, 1], in batches, as ``gankit eval`` makes them."""
    out = extract(x.numpy(), "fake")
    return out.feats, out.logits


def scored(samples: torch.Tensor, dataset) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference features, sample features, sample logits) for ``samples`` (n, C, H, W)
    in [-1, 1]; the reference's are cached per n, the samples' for this very tensor."""
    cache, net = _cache(dataset), _network(dataset)
    x = samples.detach().float().cpu()
    if not torch.isfinite(x).all():
        raise ValueError("samples contain NaN or inf; the generator has diverged")
    n = len(x)
    if ("reference", n) not in cache:
        cache[("reference", n)] = _features(net, dataset.reference(n).float())[0]
    last = cache.get("samples")
    if last is None or last[0]() is not samples:
        cache["samples"] = (weakref.ref(samples), *_features(net, x))
    return cache[("reference", n)], cache["samples"][1], cache["samples"][2]


def fid_of_samples(samples: torch.Tensor, dataset) -> Dict[str, float]:
    """FID between the samples and as many reference images of the data set."""
    real, fake, _ = scored(samples, dataset)
    return {"fid": fid(real, fake)}


def kid_of_samples(samples: torch.Tensor, dataset) -> Dict[str, float]:
    """KID (mean and std over 100 subsets of 1,000) against the reference images.

    With fewer than 2,000 samples the subsets hold half of them, so that they differ
    and the std means something; the estimator is unbiased at any subset size, so the
    mean estimates the same quantity."""
    real, fake, _ = scored(samples, dataset)
    mean, std = kid(real, fake, subset_size=min(1000, max(2, len(fake) // 2)))
    return {"kid": mean, "kid_std": std}


def is_of_samples(samples: torch.Tensor, dataset) -> Dict[str, float]:
    """Inception Score of the samples (digits classifier or Inception, 10 splits)."""
    _, _, logits = scored(samples, dataset)
    score = inception_score(logits, splits=min(10, len(logits)))
    return {"is": score.mean, "is_std": score.std}


# the trainer looks for these on the registered metric (as on ModeCoverage)
for _metric, _fn in ((fid_metric, fid_of_samples), (kid_metric, kid_of_samples),
                     (is_metric, is_of_samples)):
    _metric.evaluate_samples = _fn
    _metric.check_dataset = check_dataset
