"""Maximum mean discrepancy and the Kernel Inception Distance.

MMD: the unbiased estimator of Gretton et al. (2012, "A Kernel Two-Sample Test",
eq. 3),

    MMD_u^2 = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(n(n-1)) sum_{i != j} k(y_i, y_j)
              - 2/(mn) sum_{i,j} k(x_i, y_j),

with the Gaussian kernel k(x, y) = exp(-||x - y||^2 / (2 sigma^2)), sigma given or set
by the median heuristic (Gretton et al. 2012: the median pairwise distance of the pooled
sample).

KID (Binkowski et al. 2018, "Demystifying MMD GANs", section 4): the same estimator with
the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets
(100 of size 1000 by default), reported as mean and standard deviation.

MMD's three kernel sums are accumulated over row blocks of the Gram matrix of the
stacked sample [x; y], 128 MB of kernel at a time (10,000 + 10,000 points: 256 MB at
the peak, measured) rather than several 3 GB (m + n)^2 matrices; the Gaussian kernel's
distances are taken after centring the pooled sample (they do not change, but their
rounding does when the features have a large offset). KID's subsets use float32 Gram
products by default (see :func:`kid_values`).
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np
from scipy.linalg import blas

from .base import EvalData, Metric, register
from .features import ArrayLike, check_features, check_same_dim
from .isc import MeanStd


def _pair(x: ArrayLike, y: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    x, y = check_features(x, "real features"), check_features(y, "fake features")
    check_same_dim(x, y)
    return x, y


_BLOCK_ENTRIES = 1 << 24  # kernel entries per row block (128 MB of float64)


def _blockwise_mmd2(z: np.ndarray, m: int, kernel: Callable[[np.ndarray, slice], np.ndarray]
                    ) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3) of the stacked sample ``z`` = [x; y]
    (x = its first ``m`` rows), the kernel applied to row blocks of the Gram matrix:
    ``kernel(g, rows)`` maps the block ``g = z[rows] z^T`` to kernel values (it may
    overwrite ``g``)."""
    n_all = z.shape[0]
    n = n_all - m
    if m < 2 or n < 2:
        raise ValueError(f"MMD needs at least 2 samples per set, got {m} and {n}")
    step = max(1, _BLOCK_ENTRIES // n_all)
    sxx = syy = sxy = 0.0
    for i in range(0, n_all, step):
        rows = slice(i, min(i + step, n_all))
        with np.errstate(over="ignore", invalid="ignore"):  # overflow: the error below
            k = kernel(z[rows] @ z.T, rows)
        if not np.isfinite(k).all():
            raise ValueError("MMD: the kernel overflowed (non-finite values); rescale the "
                             "features")
        diag = k[np.arange(k.shape[0]), np.arange(rows.start, rows.stop)]
        in_x = np.arange(rows.start, rows.stop) < m
        to_x, to_y = k[:, :m].sum(axis=1), k[:, m:].sum(axis=1)
        sxx += float(to_x[in_x].sum() - diag[in_x].sum())
        syy += float(to_y[~in_x].sum() - diag[~in_x].sum())
        sxy += float(to_y[in_x].sum())
    value = sxx / (m * (m - 1)) + syy / (n * (n - 1)) - 2.0 * sxy / (m * n)
    if not np.isfinite(value):
        raise ValueError("MMD is not finite; check the features for overflow")
    return float(value)


def mmd2_from_kernel(k: np.ndarray, m: int) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, eq. 3) from the kernel matrix of the stacked [x; y].

    ``k`` is (m + n) x (m + n); its first ``m`` rows/columns belong to x.
    """
    n = k.shape[0] - m
    if m < 2 or n < 2:
        raise ValueError(f"MMD needs at least 2 samples per set, got {m} and {n}")
    diag = np.diagonal(k)
    k_xx = (k[:m, :m].sum() - diag[:m].sum()) / (m * (m - 1))
    k_yy = (k[m:, m:].sum() - diag[m:].sum()) / (n * (n - 1))
    k_xy = k[:m, m:].sum() / (m * n)
    return float(k_xx + k_yy - 2.0 * k_xy)


def polynomial_kernel(gram: np.ndarray, d: int, degree: int = 3, coef: float = 1.0,
                      gamma: Optional[float] = None) -> np.ndarray:
    """(gamma x.y + coef)^degree from a Gram matrix; gamma defaults to 1/d (KID)."""
    k = gram * (1.0 / d if gamma is None else gamma)
    k += coef
    return k ** degree


def _check_sigma(sigma: float) -> float:
    sigma = float(sigma)
    if not (sigma > 0 and sigma ** 2 > 0 and np.isfinite(0.5 / sigma ** 2)):
        raise ValueError(f"sigma must be positive and finite (with 1 / sigma^2 finite), "
                         f"got {sigma}")
    return sigma


def gaussian_kernel(gram: np.ndarray, sigma: float) -> np.ndarray:
    """exp(-||a - b||^2 / (2 sigma^2)) from a Gram matrix of the same points."""
    sigma = _check_sigma(sigma)
    sq = np.diagonal(gram)
    d2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0, None)
    return np.exp(d2 * (-0.5 / sigma ** 2))


def median_heuristic(x: ArrayLike, y: ArrayLike, max_points: int = 1000) -> float:
    """Median pairwise Euclidean distance of the pooled sample (Gretton et al. 2012).

    Uses at most ``max_points // 2`` leading points of each set, so it is deterministic.
    """
    x, y = _pair(x, y)
    half = max(max_points // 2, 2)
    z = np.concatenate([x[:half], y[:half]], axis=0)
    z -= z.mean(axis=0)  # distances are unchanged; their rounding is not, at a large offset
    gram = z @ z.T
    sq = np.diagonal(gram)
    d2 = sq[:, None] + sq[None, :] - 2.0 * gram
    iu = np.triu_indices(z.shape[0], k=1)
    sigma = float(np.median(np.sqrt(np.clip(d2[iu], 0.0, None))))
    if not np.isfinite(sigma):
        raise ValueError("median heuristic: pairwise distances overflow; rescale the features")
    if sigma == 0.0:
        raise ValueError("median heuristic: the median pairwise distance is 0 "
                         "(duplicate samples?); pass sigma explicitly")
    return sigma


def mmd2(x: ArrayLike, y: ArrayLike, sigma: Optional[float] = None) -> float:
    """Unbiased MMD^2 with the Gaussian kernel (Gretton et al. 2012, eq. 3)."""
    x, y = _pair(x, y)
    sigma = _check_sigma(median_heuristic(x, y) if sigma is None else sigma)
    z = np.concatenate([x, y], axis=0)
    z -= z.mean(axis=0)
    sq = np.einsum("ij,ij->i", z, z)
    scale = -0.5 / sigma ** 2

    def kernel(g, rows):
        g *= -2.0
        g += sq[rows, None]
        g += sq[None, :]
        np.maximum(g, 0.0, out=g)
        g *= scale
        return np.exp(g, out=g)

    return _blockwise_mmd2(z, x.shape[0], kernel)


def poly_mmd2(x: ArrayLike, y: ArrayLike, degree: int = 3, coef: float = 1.0,
              gamma: Optional[float] = None) -> float:
    """Unbiased MMD^2 with the polynomial kernel (x.y/d + 1)^3 on all samples."""
    x, y = _pair(x, y)
    d = x.shape[1]
    return _blockwise_mmd2(np.concatenate([x, y], axis=0), x.shape[0],
                           lambda g, rows: polynomial_kernel(g, d, degree, coef, gamma))


def subset_indices(n_x: int, n_y: int, n_subsets: int, size: int,
                   seed: int = 0) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """Index pairs of the random subsets KID averages over (without replacement)."""
    rng = np.random.default_rng(seed)
    for _ in range(n_subsets):
        yield (rng.choice(n_x, size, replace=False), rng.choice(n_y, size, replace=False))


GRAM_DTYPES = {"float32": np.float32, "float64": np.float64}


def _poly_kernel_sums(gram: np.ndarray, degree: int) -> Tuple[float, float]:
    """Sum and trace of (g + 1)^degree over a Gram matrix already scaled by gamma,
    elementwise in its dtype, overwriting it; both accumulated in float64.

    numpy, like the BLAS products before it: handing every subset's kernel to torch's
    thread pool and back to OpenBLAS's left each pool spinning while the other worked
    (BENCHMARKS.md, "Metrics")."""
    np.add(gram, 1.0, out=gram)
    if degree == 3:
        k = np.multiply(gram, gram)
        k *= gram
    else:
        k = np.power(gram, degree, out=gram)
    return float(k.sum(dtype=np.float64)), float(np.trace(k, dtype=np.float64))


def _upper_kernel_offdiag(gram: np.ndarray, degree: int) -> float:
    """Off-diagonal sum of (g + 1)^degree over a symmetric Gram (scaled by gamma) whose
    strict lower triangle is 0 (``syrk`` writes only the upper one): each of those
    n (n - 1) / 2 entries contributes exactly (0 + 1)^degree = 1 to the total."""
    total, diag = _poly_kernel_sums(gram, degree)
    n = gram.shape[0]
    return 2.0 * (total - diag - n * (n - 1) // 2)


def kid_values(x: ArrayLike, y: ArrayLike, n_subsets: int = 100, subset_size: int = 1000,
               degree: int = 3, seed: int = 0, gram_dtype: str = "float32") -> np.ndarray:
    """Per-subset polynomial-kernel MMD^2 (Binkowski et al. 2018); size capped at n.

    The three Gram blocks of a subset are BLAS products in ``gram_dtype`` with the
    kernel's gamma = 1/d as their ``alpha``: ``ssyrk`` into the upper triangle for
    x x^T and y y^T (half the flops of a general product; the untouched zero lower
    triangle is accounted for in closed form) and ``sgemm`` for x y^T, twice the speed
    of float64; the kernel is applied in the same dtype and every sum is accumulated in
    float64. The float32 Grams' effect on KID, orders of magnitude below the spread
    between subsets, is measured in BENCHMARKS.md, "Metrics";
    ``gram_dtype = "float64"`` is double throughout. The products are the cost: 2/3 of
    the flops of three general products, which bounds the speed-up over torchmetrics
    (three general products) at about 1.5x in the same dtype.
    """
    x, y = _pair(x, y)
    if n_subsets < 1:
        raise ValueError(f"n_subsets must be >= 1, got {n_subsets}")
    if gram_dtype not in GRAM_DTYPES:
        raise ValueError(f"gram_dtype must be one of {sorted(GRAM_DTYPES)}, got {gram_dtype!r}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    dtype = GRAM_DTYPES[gram_dtype]
    syrk, gemm = blas.get_blas_funcs(("syrk", "gemm"), dtype=dtype)
    size, d = min(subset_size, x.shape[0], y.shape[0]), x.shape[1]
    if size < subset_size:
        warnings.warn(f"KID: subset size {subset_size} capped at {size} ({x.shape[0]} real, "
                      f"{y.shape[0]} fake samples): subsets that are (nearly) the whole set "
                      "make the std across subsets (nearly) 0, not a measure of the "
                      "estimate's spread", stacklevel=2)
    gamma = 1.0 / d
    xw, yw = x.astype(dtype, copy=False), y.astype(dtype, copy=False)
    xs, ys = np.empty((size, d), dtype), np.empty((size, d), dtype)
    out = np.empty(n_subsets)
    for s, (ix, iy) in enumerate(subset_indices(x.shape[0], y.shape[0], n_subsets, size, seed)):
        np.take(xw, ix, axis=0, out=xs)
        np.take(yw, iy, axis=0, out=ys)
        k_xx, k_yy = (_upper_kernel_offdiag(
            syrk(gamma, a.T, trans=1, c=np.zeros((size, size), dtype, order="F"),
                 overwrite_c=1), degree) for a in (xs, ys))
        k_xy = _poly_kernel_sums(gemm(gamma, xs.T, ys.T, trans_a=1), degree)[0]
        out[s] = (k_xx + k_yy) / (size * (size - 1)) - 2.0 * k_xy / (size * size)
    if not np.isfinite(out).all():
        top = max(float(np.abs(x).max()), float(np.abs(y).max()))
        raise ValueError(f"KID: the cubic kernel overflowed in {gram_dtype} (largest |feature| "
                         f"{top:.3g}); rescale the features"
                         + ("" if gram_dtype == "float64" else " or use gram_dtype='float64'"))
    return out


def kid(x: ArrayLike, y: ArrayLike, n_subsets: int = 100, subset_size: int = 1000,
        degree: int = 3, seed: int = 0, gram_dtype: str = "float32") -> MeanStd:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std over subsets."""
    values = kid_values(x, y, n_subsets, subset_size, degree, seed, gram_dtype)
    return MeanStd(float(values.mean()), float(values.std()))


@register("kid")
class KID(Metric):
    """Kernel Inception Distance (Binkowski et al. 2018): cubic-kernel MMD^2, 100 subsets."""

    matrix = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        mean, std = kid(d.real, d.fake, n_subsets=d.kid_subsets,
                        subset_size=d.kid_subset_size, seed=d.seed)  # warns when capped
        out = {"kid": mean, "kid_std": std}
        if d.details:
            out["kid_subset_size"] = float(min(d.kid_subset_size, len(d.real), len(d.fake)))
        return out


@register("mmd")
class MMD(Metric):
    """Unbiased MMD^2 with a Gaussian kernel, median-heuristic bandwidth (Gretton 2012)."""

    matrix = True
    raw_features = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        return {"mmd2": mmd2(d.real, d.fake)}
