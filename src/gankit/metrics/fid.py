"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium", eq. 6):

    FID(P, Q) = ||mu_P - mu_Q||^2 + Tr(S_P + S_Q - 2 (S_P S_Q)^{1/2}).

The trace term is computed without ``scipy.linalg.sqrtm``: the eigenvalues of
S_P S_Q equal those of the symmetric positive semi-definite L^T S_Q L, where
S_P = L L^T (Cholesky), so Tr (S_P S_Q)^{1/2} = sum_i sqrt(lambda_i(L^T S_Q L)). When
S_P S_Q is singular (low-rank features, a collapsed generator) it is the nuclear norm
||F_P^T F_Q||_* of rank-revealing factors S = F F^T instead, which takes no square roots
of rounding-level eigenvalues. With fewer samples than
dimensions, the same eigenvalues are the squared singular values of the centred
cross-product X_c Y_c^T / sqrt((n-1)(m-1)), a small n x m matrix. Everything is float64.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import scipy.linalg
import scipy.linalg.lapack as lapack
import torch

from .base import EvalData, Metric, register
from .features import ArrayLike, FeatureStats, check_features, check_same_dim, symmetric_from_upper

_BLOCK = 256  # rows per block when symmetrising a covariance


def _check_cov(cov: ArrayLike, d: int, name: str) -> np.ndarray:
    """``(cov + cov^T) / 2`` as a Fortran-ordered array whose lower triangle is valid.

    Only the triangle LAPACK reads is formed, block row by block row (half the
    transposed reads of the full symmetrisation).
    """
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (d, d):
        raise ValueError(f"{name}: expected shape ({d}, {d}), got {cov.shape}")
    if not np.isfinite(cov).all():
        raise ValueError(f"{name}: contains NaN or inf")
    upper = np.zeros((d, d))  # C order: its upper triangle is the lower one of .T
    for i in range(0, d, _BLOCK):
        rows = upper[i:i + _BLOCK, i:]
        np.add(cov[i:i + _BLOCK, i:], cov[i:, i:i + _BLOCK].T, out=rows)
        rows *= 0.5
    return upper.T


def _eigvalsh(m: np.ndarray, lower: bool) -> np.ndarray:
    """Eigenvalues of the symmetric matrix in one triangle of ``m`` (float64).

    torch's ``eigvalsh`` (LAPACK ``syevd`` from the MKL that PyTorch ships): faster than
    scipy's OpenBLAS ``dsyevd`` on one kind of CPU and as fast on the other
    (BENCHMARKS.md, "Metrics"), so it is never the slower choice.
    """
    return torch.linalg.eigvalsh(torch.from_numpy(m), UPLO="L" if lower else "U").numpy()


_EPS = float(np.finfo(np.float64).eps)
_PSD_TOL = 1e-6  # an eigenvalue below -_PSD_TOL x the largest: not a covariance at all


def _psd_factor(full: np.ndarray, name: str) -> np.ndarray:
    """F with F F^T = the symmetric PSD ``full``, rank-revealing: V sqrt(Lambda) over the
    eigenvalues above d eps x the largest (below that an eigensolver returns the zeros of
    a singular matrix as +-rounding, whose square roots would count ~sqrt(eps) each).
    Refuses a matrix with a clearly negative eigenvalue."""
    w, v = scipy.linalg.eigh(full, check_finite=False)
    top = float(np.abs(w).max()) if w.size else 0.0
    if w.size and float(w.min()) < -_PSD_TOL * top:
        raise ValueError(f"{name} is not positive semi-definite (eigenvalue "
                         f"{float(w.min()):.3g}, largest {top:.3g})")
    keep = w > full.shape[0] * _EPS * top
    return v[:, keep] * np.sqrt(w[keep])


def _trace_sqrt_tri(a: np.ndarray, b: np.ndarray, lower: bool) -> float:
    """Tr (A B)^{1/2} for symmetric PSD A, B given by one triangle (``lower`` or upper)
    of Fortran-ordered ``a`` and ``b``, which are not modified.

    With A = L L^T (LAPACK ``dpotrf``), ``dsygst`` forms L^T B L using the symmetry
    (half the flops of two general products); its eigenvalues, those of A B, come from
    :func:`_eigvalsh` (the time of each step is in BENCHMARKS.md, "Metrics").

    A negative eigenvalue of L^T B L is rounding around a zero one, so A B is singular
    (e.g. the features of a collapsed generator), and so is a failed ``dpotrf``: the
    square roots of the other rounding-level eigenvalues would then add up to a visible
    error (rank-3 features in 2048 dimensions made FID(x, x) -6e-4). Such pairs take the
    rank-revealing route instead: F_A, F_B from :func:`_psd_factor` and
    Tr (A B)^{1/2} = ||F_A^T F_B||_* (singular values, which carry no square root of
    rounding). A matrix that is not PSD is refused.
    """
    d = a.shape[0]
    for name, diag in (("cov1", np.diagonal(a)), ("cov2", np.diagonal(b))):
        if d and float(diag.min()) < 0.0:
            raise ValueError(f"{name} is not positive semi-definite (negative variance "
                             f"{float(diag.min()):.3g} on its diagonal)")
    chol, info = lapack.dpotrf(a, lower=lower, clean=0)
    if info < 0:
        raise ValueError(f"dpotrf failed (LAPACK info {info})")
    if info == 0:
        m, info = lapack.dsygst(b, chol, itype=2, lower=lower)
        if info != 0:
            raise ValueError(f"dsygst failed (LAPACK info {info})")
        eig = _eigvalsh(m, lower)
        if not eig.size or float(eig.min()) >= 0.0:
            return float(np.sqrt(eig).sum())
    fa, fb = (_psd_factor(symmetric_from_upper(t.T if lower else t), name)
              for t, name in ((a, "cov1"), (b, "cov2")))
    if fa.shape[1] == 0 or fb.shape[1] == 0:
        return 0.0
    return float(scipy.linalg.svdvals(fa.T @ fb, check_finite=False).sum())


def trace_sqrt_product(cov1: ArrayLike, cov2: ArrayLike) -> float:
    """Tr (cov1 cov2)^{1/2} for symmetric PSD matrices, in float64.

    The eigenvalues of cov1 cov2 equal those of L^T cov2 L with cov1 = L L^T; see
    :func:`_trace_sqrt_tri`. The inputs are symmetrised first.
    """
    c1 = np.asarray(cov1, dtype=np.float64)
    d = c1.shape[0] if c1.ndim else 0
    return _trace_sqrt_tri(_check_cov(c1, d, "cov1"), _check_cov(cov2, d, "cov2"), lower=True)


def _finish(mean_term: float, tr1: float, tr2: float, tr_sqrt: float) -> float:
    """Assemble FID; rounding may leave a tiny negative, which is clamped to 0."""
    value = mean_term + tr1 + tr2 - 2.0 * tr_sqrt
    scale = mean_term + tr1 + tr2
    if not np.isfinite(value):
        raise ValueError("FID is not finite; check the features for overflow")
    if value < -1e-8 * max(scale, 1.0):
        raise ValueError(f"FID came out negative ({value:.3g}) beyond rounding "
                         f"({1e-8 * max(scale, 1.0):.3g}); the two sets of statistics are "
                         "inconsistent (e.g. a covariance that is not PSD)")
    return max(value, 0.0)


def frechet_distance(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike) -> float:
    """Squared Frechet distance between N(mu1, cov1) and N(mu2, cov2) (Heusel et al. 2017)."""
    mu1 = np.asarray(mu1, dtype=np.float64).ravel()
    mu2 = np.asarray(mu2, dtype=np.float64).ravel()
    if mu1.shape != mu2.shape:
        raise ValueError(f"mismatched feature dimensions: {mu1.shape[0]} vs {mu2.shape[0]}")
    if not (np.isfinite(mu1).all() and np.isfinite(mu2).all()):
        raise ValueError("means contain NaN or inf")
    d = mu1.shape[0]
    cov1, cov2 = _check_cov(cov1, d, "cov1"), _check_cov(cov2, d, "cov2")
    diff = mu1 - mu2
    tr_sqrt = _trace_sqrt_tri(cov1, cov2, lower=True)
    return _finish(float(diff @ diff), float(np.trace(cov1)), float(np.trace(cov2)), tr_sqrt)


def fid_from_stats(p: FeatureStats, q: FeatureStats) -> float:
    """FID between two streamed :class:`FeatureStats`.

    Works on the stored scatter matrices M2 = (n - 1) S directly (their upper
    triangles; no symmetric copies, no scaling passes): the eigenvalues of S_P S_Q are
    those of M2_P M2_Q divided by (n_P - 1)(n_Q - 1).
    """
    p._require(2)
    q._require(2)
    if p.dim != q.dim:
        raise ValueError(f"mismatched feature dimensions: {p.dim} (real) vs {q.dim} (fake)")
    a, b = p.scatter_upper(), q.scatter_upper()
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("feature statistics contain NaN or inf (overflow?)")
    dof_p, dof_q = p.n - 1, q.n - 1
    tr_sqrt = _trace_sqrt_tri(a, b, lower=False) / np.sqrt(float(dof_p) * dof_q)
    diff = p.mean - q.mean
    tr_p, tr_q = float(np.trace(a)) / dof_p, float(np.trace(b)) / dof_q
    return _finish(float(diff @ diff), tr_p, tr_q, tr_sqrt)


def _fid_small_n(x: np.ndarray, y: np.ndarray) -> float:
    """FID when n or m < d: singular values of the centred cross-product (n x m)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    nx, ny = x.shape[0] - 1, y.shape[0] - 1
    sv = scipy.linalg.svdvals(xc @ yc.T, check_finite=False) / np.sqrt(nx * ny)
    diff = x.mean(0) - y.mean(0)
    tr1, tr2 = float((xc * xc).sum() / nx), float((yc * yc).sum() / ny)
    return _finish(float(diff @ diff), tr1, tr2, float(sv.sum()))


def fid(real: ArrayLike, fake: ArrayLike) -> float:
    """FID between two (n, d) feature matrices (Heusel et al. 2017), float64.

    Uses the n x m cross-product when either set has fewer samples than dimensions,
    the d x d covariances otherwise.
    """
    x = check_features(real, "real features", keep_float32=True)
    y = check_features(fake, "fake features", keep_float32=True)
    check_same_dim(x, y)
    if min(x.shape[0], y.shape[0]) < x.shape[1]:
        return _fid_small_n(x.astype(np.float64, copy=False), y.astype(np.float64, copy=False))
    return fid_from_stats(FeatureStats._from_checked(x), FeatureStats._from_checked(y))


@register("fid")
class FID(Metric):
    """Frechet Inception Distance (Heusel et al. 2017) between real and fake features."""

    accepts_stats = True

    def from_features(self, d: EvalData) -> Dict[str, float]:
        if d.real is not None and d.fake is not None:
            return {"fid": fid(d.real, d.fake)}
        return {"fid": frechet_distance(*d.mean_cov("real"), *d.mean_cov("fake"))}
