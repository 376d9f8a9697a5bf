"""Extractors: image sets of any supported layout and range -> features, logits and
streamed statistics, a batch at a time.

``make_extractor(kind, ...)`` returns a function mapping a sample set (an array, or a
lazy image folder) to :class:`Features`: the FID Inception-v3 (Heusel et al. 2017;
pool features and logits), the digits classifier of :mod:`gankit.metrics.digits`, the
MNIST classifier of :mod:`gankit.metrics.mnist` (28 x 28 grey images), or the identity
on raw vectors. Image conventions: uint8 arrays are in [0, 255], uint16 in
[0, 65535]; float arrays in [0, 1] when their minimum is >= -1e-3, in [-1, 1] (a tanh
generator) when it is below -0.5, and anything in between is refused unless the
caller says which range (``image_range``); layouts (n, H, W), (n, C, H, W) and
(n, H, W, C) with C in 1, 3 (RGBA drops alpha).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch

from .features import ArrayLike, FeatureStats, as_float64, check_features
from .protocol import weights_digest


def _layout(shape: Tuple[int, ...], name: str) -> Tuple[bool, Tuple[int, int]]:
    """(channels last?, (H, W)) of an image set of this ``shape``."""
    if len(shape) == 3:
        return False, (shape[1], shape[2])
    last = len(shape) == 4 and shape[1] not in (1, 3, 4) and shape[-1] in (1, 3, 4)
    c = shape[-1] if last else (shape[1] if len(shape) == 4 else 0)
    if len(shape) != 4 or c not in (1, 3, 4):
        raise ValueError(f"{name}: wrong image shape {tuple(shape)}; expected (n, H, W), "
                         "(n, C, H, W) or (n, H, W, C) with C = 1 or 3")
    return last, ((shape[1], shape[2]) if last else (shape[2], shape[3]))


def image_size(shape: Tuple[int, ...], name: str = "images") -> Tuple[int, int]:
    """(H, W) of an image set of this ``shape``, in any of the layouts above."""
    return _layout(tuple(shape), name)[1]


def _channels_first(shape: Tuple[int, ...], name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function taking batches of a set of this ``shape`` to (b, C, H, W), C <= 3."""
    if len(shape) == 3:
        return lambda b: b[:, None]
    if _layout(shape, name)[0]:
        return lambda b: np.moveaxis(b, -1, 1)[:, :3]
    return lambda b: b[:, :3]


IMAGE_RANGES = ("auto", "0,1", "-1,1")
_SCAN_ENTRIES = 1 << 22  # values per pass when checking a float image set's range
_CLEARLY_SIGNED = -0.5  # auto: a minimum below this means [-1, 1]


def _unit_range(x: np.ndarray, name: str, image_range: str = "auto"
                ) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping batches of ``x`` to float32 in [0, 1], after checking the
    whole set (chunk by chunk, so a large or memory-mapped set is not copied).

    uint8 is /255, uint16 /65535. Floats must be finite and within [-1, 1]; ``auto``
    reads a set whose minimum is >= -1e-3 as [0, 1] and one below -0.5 as [-1, 1] (a
    tanh generator's dark pixels), and refuses anything in between as ambiguous.
    """
    if image_range not in IMAGE_RANGES:
        raise ValueError(f"image range {image_range!r}; valid: {', '.join(IMAGE_RANGES)}")
    if x.dtype in (np.uint8, np.uint16):
        top = np.float32(255.0 if x.dtype == np.uint8 else 65535.0)
        return lambda b: b.astype(np.float32) / top
    if x.dtype.kind != "f":
        raise ValueError(f"{name}: wrong dtype {x.dtype}; images must be uint8, uint16 or float")
    lo, hi = np.inf, -np.inf
    rows = max(1, _SCAN_ENTRIES // max(1, x[0].size if len(x) else 1))
    for i in range(0, len(x), rows):
        chunk = x[i:i + rows]
        if not np.isfinite(chunk).all():
            raise ValueError(f"{name}: images contain NaN or inf")
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    if lo < -1 - 1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: values span [{lo:.3g}, {hi:.3g}]; float images must be "
                         "in [0, 1] or [-1, 1]")
    if image_range == "auto":
        if _CLEARLY_SIGNED <= lo < -1e-3:
            raise ValueError(f"{name}: values span [{lo:.3g}, {hi:.3g}], neither clearly "
                             f"[0, 1] nor [-1, 1]; say which with --{name}-range=0,1 or =-1,1")
        signed = lo < _CLEARLY_SIGNED
    else:
        signed = image_range == "-1,1"
        if not signed and lo < -1e-3:
            raise ValueError(f"{name}: values down to {lo:.3g} with --{name}-range=0,1")
    if signed:
        return lambda b: np.clip((b.astype(np.float32) + 1) / 2, 0.0, 1.0)
    return lambda b: np.clip(b.astype(np.float32), 0.0, 1.0)


def image_batches(x: np.ndarray, name: str, batch_size: int,
                  image_range: str = "auto") -> Iterator[torch.Tensor]:
    """Float (b, C, H, W) batches in [0, 1] from any supported layout and range; only a
    batch at a time is converted."""
    layout = _channels_first(tuple(x.shape), name)
    convert = _unit_range(x, name, image_range)
    for i in range(0, len(x), batch_size):
        yield torch.from_numpy(np.ascontiguousarray(convert(layout(x[i:i + batch_size]))))



@dataclass
class Features:
    """What an extractor keeps of one sample set: the feature matrix (when a metric
    needs it), the classifier logits (for IS) and streamed statistics (for FID)."""

    feats: Optional[np.ndarray]
    logits: Optional[np.ndarray]
    stats: Optional[FeatureStats]
    n: int


@dataclass
class Needs:
    """Which of :class:`Features`' parts the requested metrics use. ``stats``: FID may
    use streamed statistics instead of the feature matrix (which is then kept only when
    a set has fewer samples than dimensions, for FID's n x m cross-product route);
    ``save``: the statistics themselves are wanted (``--save-stats``)."""

    feats: bool
    logits: bool
    stats: bool
    save: bool = False


Extract = Callable[[np.ndarray, str], Features]


def _collect(pairs: Iterator[Tuple[ArrayLike, Optional[ArrayLike]]], name: str,
             needs: Needs, n_total: int) -> Features:
    """Features, logits and streamed statistics from (features, logits) batches of a set
    of ``n_total`` samples (``needs.save`` concerns the real set)."""
    feats: Optional[np.ndarray] = None  # filled in place: no list + concatenate copy
    logits, n = [], 0
    keep, stats = needs.feats, None
    save = needs.save and name == "real"
    for f, lg in pairs:
        f = check_features(f.reshape(len(f), -1), f"{name} features", min_samples=1,
                           keep_float32=True)
        if n == 0:
            # fewer samples than dimensions: FID takes the n x m cross-product of the
            # features, not a d x d covariance (49,152 raw pixels would need 19 GB)
            few = n_total < f.shape[1]
            keep = keep or (needs.stats and few and not save)
            if save or (needs.stats and not keep):
                stats = FeatureStats()
            if keep:
                feats = np.empty((n_total, f.shape[1]))
        if stats is not None:
            stats.update(f)
        if keep:
            if n + len(f) > n_total or f.shape[1] != feats.shape[1]:
                raise ValueError(f"{name}: the extractor returned features of shape "
                                 f"{f.shape} after {n} of {n_total} samples")
            feats[n:n + len(f)] = f
        n += len(f)
        if needs.logits and lg is not None:
            logits.append(check_features(lg, f"{name} logits", min_samples=1,
                                         keep_float32=True))
    if n == 0:
        raise ValueError(f"{name}: no samples")
    return Features(feats[:n] if feats is not None else None,
                    np.concatenate(logits) if logits else None, stats, n)


def make_extractor(kind: str, batch_size: int, weights: Optional[str] = None,
                   needs: Optional[Needs] = None, ranges: Optional[Dict[str, str]] = None,
                   inception_pipeline: Optional[str] = None) -> Tuple[Extract, Dict[str, Any]]:
    """(samples -> :class:`Features`, facts about the extractor to report) for
    ``inception|digits|mnist|identity``. Samples go through in batches: with ``needs.feats``
    off (FID and IS only) no feature matrix is held, only its statistics. ``ranges``:
    the image range of each named set (``auto`` when absent). ``inception_pipeline``:
    Inception's resize and scaling (:mod:`gankit.metrics.inception_input`; ``ttur``
    when None)."""
    needs = needs or Needs(True, True, False)
    ranges = ranges or {}
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if kind == "identity":
        def identity(x, name):
            if x.ndim < 2:
                raise ValueError(f"{name}: expected shape (n, ...), got {x.shape}")
            rows = max(1, _SCAN_ENTRIES // max(1, int(np.prod(x.shape[1:]))))
            return _collect(((as_float64(x[i:i + rows], name), None)  # may be read-only
                             for i in range(0, len(x), rows)), name, needs, len(x))
        return identity, {}
    if kind == "digits":
        from .digits import load_digits_classifier

        net = load_digits_classifier()
        prep = lambda b: b.mean(1, keepdim=True) * 2 - 1  # noqa: E731
        info = {"digits_test_accuracy": float(net.test_accuracy)}
    elif kind == "mnist":
        from .mnist import load_mnist_classifier, unit_to_grey

        net, prep = load_mnist_classifier(), unit_to_grey
        info = {"mnist_test_accuracy": float(net.test_accuracy)}
    elif kind == "inception":
        from .inception import DEFAULT_PIPELINE, load_inception

        pipeline = inception_pipeline or DEFAULT_PIPELINE
        net = load_inception(weights, pipeline=pipeline)
        prep = lambda b: b.expand(-1, 3, -1, -1)  # noqa: E731
        info = {"inception_pipeline": pipeline}
    else:
        raise ValueError(f"unknown features {kind!r}; valid: inception, digits, mnist, identity")

    info["weights_sha256"] = weights_digest(net)

    @torch.no_grad()
    def run(x, name):
        batches = image_batches(x, name, batch_size, ranges.get(name, "auto"))
        return _collect((net(prep(b)) for b in batches), name, needs, len(x))
    return run, info


