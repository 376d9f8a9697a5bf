"""Feature matrices and their streaming statistics.

Every sample-based metric in gankit is a pipeline: samples -> features -> statistics ->
number. The extractors (Inception-v3, the digits classifier, the identity) are in
:mod:`gankit.metrics.extract`; this module checks feature matrices and holds
:class:`FeatureStats`, the running mean and covariance that FID needs
(Heusel et al. 2017), kept in float64 and merged with the pairwise update of Chan,
Golub and LeVeque (1979), so the result does not depend on the batch size and 50k x 2048
features never have to sit in memory at once.
"""
from __future__ import annotations

import os
from typing import Optional, Union

import numpy as np
import torch
from scipy.linalg import blas

ArrayLike = Union[np.ndarray, torch.Tensor]


def as_float64(x: ArrayLike, name: str = "features", keep_float32: bool = False) -> np.ndarray:
    """``x`` as a float64 numpy array, refusing non-numeric dtypes; with
    ``keep_float32`` a float32 array is returned as it is (no copy)."""
    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise ValueError(f"{name}: wrong dtype {x.dtype}; expected a real number type")
        keep = keep_float32 and x.dtype == torch.float32
        return x.detach().to("cpu", torch.float32 if keep else torch.float64).numpy()
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{name}: wrong dtype {x.dtype}; expected a real number type")
    if keep_float32 and x.dtype == np.float32:
        return x
    return x.astype(np.float64, copy=False)


def check_features(x: ArrayLike, name: str = "features", min_samples: int = 2,
                   keep_float32: bool = False) -> np.ndarray:
    """Validate a (n, d) feature matrix and return it as float64 (float32 stays float32
    with ``keep_float32``, for consumers that widen it chunk by chunk).

    Raises ``ValueError`` naming the problem: not 2-D, fewer than ``min_samples`` rows,
    no columns, or NaN / inf entries.
    """
    x = as_float64(x, name, keep_float32)
    if x.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) array, got shape {tuple(x.shape)}")
    if x.shape[0] < min_samples:
        raise ValueError(f"{name}: need at least {min_samples} samples, got {x.shape[0]}")
    if x.shape[1] == 0:
        raise ValueError(f"{name}: feature dimension is 0")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise ValueError(f"{name}: {bad} sample(s) contain NaN or inf")
    return x


def check_same_dim(x: np.ndarray, y: np.ndarray) -> None:
    """Raise if two feature matrices have different feature dimensions."""
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mismatched feature dimensions: {x.shape[1]} (real) vs "
                         f"{y.shape[1]} (fake)")


_CHUNK = 1024  # rows centred at a time: bounded scratch memory, BLAS-sized products


_BLOCK = 256  # columns per block when mirroring a triangle: keeps both sides in cache


def symmetric_from_upper(m2: np.ndarray) -> np.ndarray:
    """The symmetric matrix whose upper triangle ``m2`` holds (the lower part is ignored).

    Copies ``m2`` and mirrors it block by block (``np.triu``'s masks cost 5x more at
    d = 2048).
    """
    full = np.array(m2, dtype=np.float64, order="F")
    for j in range(0, full.shape[0], _BLOCK):
        full[j:j + _BLOCK, :j] = full[:j, j:j + _BLOCK].T
        tile = full[j:j + _BLOCK, j:j + _BLOCK]
        tile[...] = np.triu(tile) + np.triu(tile, 1).T
    return full


def _check_fits(dim: int) -> None:
    """Refuse a d x d float64 scatter matrix larger than half of the machine's memory
    (an error naming the size, rather than the kernel killing the process)."""
    need = 8.0 * dim * dim
    try:
        total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not POSIX: no check
        return
    if need > 0.5 * total:
        raise ValueError(f"feature statistics of dimension {dim} need a {need / 2**30:.1f} GB "
                         f"covariance, over half of this machine's {total / 2**30:.1f} GB; "
                         "use lower-dimensional features (e.g. a network's, not raw pixels)")


class FeatureStats:
    """Running count, mean and covariance of feature vectors, in float64.

    ``update`` folds in a batch; ``merge`` folds in another ``FeatureStats`` (e.g. from
    another process). Both use the pairwise update of Chan et al. (1979):
    ``M2 = M2_a + M2_b + delta delta^T n_a n_b / n``, which keeps the centred second
    moment accurate even when the mean is large relative to the spread. A batch is
    centred on its own mean (two passes) and its scatter is added with BLAS ``dsyrk``
    straight into the upper triangle of ``M2`` (half the flops of a full product, no
    d x d temporaries); the rank-one correction is BLAS ``dsyr``, also in place.
    ``dsyrk`` runs at ``dgemm``'s rate on half the flops, faster than an upper triangle
    built from ``dgemm`` blocks or the full ``dgemm`` (BENCHMARKS.md, "Metrics").
    Consumers that read one
    triangle with LAPACK (FID) take it from :meth:`scatter_upper` without a copy.
    """

    def __init__(self, dim: Optional[int] = None):
        self.dim = dim
        self.n = 0
        self._mean: Optional[np.ndarray] = None
        self._m2: Optional[np.ndarray] = None  # Fortran order; only the upper triangle is valid
        self._scratch: Optional[np.ndarray] = None  # centred rows of the current chunk

    def update(self, x: ArrayLike) -> "FeatureStats":
        """Add a batch of features of shape (b, d); returns self."""
        x = check_features(x, "features batch", min_samples=1, keep_float32=True)
        if self.dim is None:
            self.dim = x.shape[1]
        if x.shape[1] != self.dim:
            raise ValueError(f"features batch: dimension {x.shape[1]}, expected {self.dim}")
        self._add(x)
        return self

    def _add(self, x: np.ndarray) -> None:
        """``update`` for a batch already checked: float64 or float32, (b, dim), finite.

        float32 rows are widened chunk by chunk as they are centred (exactly: every
        float32 is a float64), so no float64 copy of the batch is made."""
        mean = x.mean(axis=0, dtype=np.float64)
        if self.n == 0:
            _check_fits(self.dim)
            self._m2 = np.zeros((self.dim, self.dim), order="F")
        if self._scratch is None or len(self._scratch) < min(len(x), _CHUNK):
            # reused by every later batch: a fresh 16 MB array per chunk would pay its
            # page faults again on every chunk
            self._scratch = np.empty((min(len(x), _CHUNK), self.dim))
        for i in range(0, x.shape[0], _CHUNK):
            rows = x[i:i + _CHUNK]
            xc = np.subtract(rows, mean, out=self._scratch[:len(rows)])
            # xc.T is a Fortran-ordered view: dsyrk reads it without a copy and adds
            # xc^T xc to the upper triangle of the Fortran-ordered M2 in place.
            self._m2 = blas.dsyrk(1.0, xc.T, beta=1.0, c=self._m2, trans=0, overwrite_c=1)
        self._combine(x.shape[0], mean, None)

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Fold another ``FeatureStats`` into this one; returns self."""
        if other.n == 0:
            return self
        if self.dim is not None and other.dim != self.dim:
            raise ValueError(f"cannot merge stats of dimension {other.dim} into {self.dim}")
        self.dim = other.dim
        self._combine(other.n, other._mean, other._m2)
        return self

    def _combine(self, n_b: int, mean_b: np.ndarray, m2_b: Optional[np.ndarray]) -> None:
        """Chan et al.'s merge; ``m2_b = None`` means it was already added to ``_m2``."""
        if self.n == 0:
            self.n, self._mean = n_b, mean_b.copy()
            if m2_b is not None:
                self._m2 = np.array(m2_b, dtype=np.float64, order="F", copy=True)
            return
        n = self.n + n_b
        delta = mean_b - self._mean
        if m2_b is not None:
            self._m2 += m2_b
        self._m2 = blas.dsyr(self.n * n_b / n, delta, a=self._m2, overwrite_a=1)
        self._mean += delta * (n_b / n)
        self.n = n

    @property
    def mean(self) -> np.ndarray:
        """Mean feature vector (float64)."""
        self._require(1)
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance matrix (divides by n - 1), float64, exactly symmetric."""
        self._require(2)
        cov = symmetric_from_upper(self._m2)
        cov /= self.n - 1
        return cov

    def scatter_upper(self) -> np.ndarray:
        """The centred scatter ``M2 = sum_i (x_i - mean)(x_i - mean)^T`` as stored:
        a read-only, Fortran-ordered view whose upper triangle is valid (the lower part
        is not kept up to date); ``cov`` is its symmetric completion divided by n - 1."""
        self._require(1)
        view = self._m2.view()
        view.flags.writeable = False
        return view

    def _require(self, k: int) -> None:
        if self.n < k:
            raise ValueError(f"feature statistics need at least {k} samples, have {self.n}")

    def state_dict(self) -> dict:
        """Plain arrays, e.g. for ``np.savez`` (a cache of reference statistics)."""
        self._require(1)
        return {"n": np.int64(self.n), "mean": self._mean.copy(),
                "m2": symmetric_from_upper(self._m2)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "FeatureStats":
        """Inverse of :meth:`state_dict`."""
        mean = np.asarray(state["mean"], dtype=np.float64)
        stats = cls(mean.shape[0])
        stats._combine(int(state["n"]), mean, np.asarray(state["m2"], dtype=np.float64))
        return stats

    @classmethod
    def from_features(cls, x: ArrayLike, batch_size: Optional[int] = None) -> "FeatureStats":
        """Statistics of a whole (n, d) feature matrix, optionally in batches.

        float32 features are read in place (50,000 x 2048 of them would otherwise take
        an 800 MB float64 copy)."""
        return cls._from_checked(check_features(x, min_samples=1, keep_float32=True),
                                 batch_size)

    @classmethod
    def _from_checked(cls, x: np.ndarray, batch_size: Optional[int] = None) -> "FeatureStats":
        """:meth:`from_features` of an array that ``check_features`` has passed."""
        stats = cls(x.shape[1])
        step = batch_size or x.shape[0]
        for i in range(0, x.shape[0], step):
            stats._add(x[i:i + step])
        return stats
