"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium", eq. 6; seed 004):

    FID(P, Q) = ||mu_P - mu_Q||^2 + Tr(S_P + S_Q - 2 (S_P S_Q)^{1/2}).

The trace term is computed without ``scipy.linalg.sqrtm``: the eigenvalues of
S_P S_Q equal those of the symmetric positive semi-definite L^T S_Q L, where
S_P = L L^T (Cholesky; an eigendecomposition S_P^{1/2} when S_P is singular), so
Tr (S_P S_Q)^{1/2} = sum_i sqrt(lambda_i(L^T S_Q L)). With fewer samples than
dimensions, the same eigenvalues are the squared singular values of the centred
cross-product X_c Y_c^T / sqrt((n-1)(m-1)), a small n x m matrix. Everything is float64.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import torch

from .features import ArrayLike, FeatureStats, check_features, check_same_dim


def _check_cov(cov: ArrayLike, d: int, name: str) -> np.ndarray:
    cov = np.asarray(cov, dtype=np.float64)
    if cov.shape != (d, d):
        raise ValueError(f"{name}: expected shape ({d}, {d}), got {cov.shape}")
    if not np.isfinite(cov).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return (cov + cov.T) * 0.5


def trace_sqrt_product(cov1: ArrayLike, cov2: ArrayLike) -> float:
    """Tr (cov1 cov2)^{1/2} for symmetric PSD matrices, in float64.

    With cov1 = L L^T (Cholesky), LAPACK ``dsygst`` forms L^T cov2 L using the symmetry
    (half the flops of two general products) and its eigenvalues, those of cov1 cov2,
    come from a symmetric solver. torch's LAPACK (MKL in the CPU wheels) does the
    Cholesky factor and the eigenvalues, where it beats scipy's OpenBLAS build about 2x
    on our machines; scipy provides ``dsygst``, which torch lacks. A singular cov1 falls
    back to F = V sqrt(Lambda) from its eigendecomposition and F^T cov2 F.
    Rounding-level negative eigenvalues are clamped to zero.
    """
    c1 = torch.as_tensor(np.asarray(cov1, dtype=np.float64))
    c2 = np.asarray(cov2, dtype=np.float64)
    chol, info = torch.linalg.cholesky_ex(c1)
    if int(info) == 0:
        m, info = scipy.linalg.lapack.dsygst(c2, np.asfortranarray(chol.numpy()), itype=2,
                                             lower=1)
        if info != 0:
            raise ValueError(f"dsygst failed (LAPACK info {info})")
        m = torch.from_numpy(m)  # lower triangle holds L^T cov2 L
    else:
        w, v = torch.linalg.eigh(c1)
        f = v * w.clamp(min=0.0).sqrt()
        m = f.T @ (torch.from_numpy(c2) @ f)
    eig = torch.linalg.eigvalsh(m, UPLO="L")
    return float(eig.clamp(min=0.0).sqrt().sum())


def _finish(mean_term: float, tr1: float, tr2: float, tr_sqrt: float) -> float:
    """Assemble FID; rounding may leave a tiny negative, which is clamped to 0."""
    value = mean_term + tr1 + tr2 - 2.0 * tr_sqrt
    scale = mean_term + tr1 + tr2
    if not np.isfinite(value):
        raise ValueError("FID is not finite; check the features for overflow")
    if value < -1e-8 * max(scale, 1.0):
        raise ValueError(f"FID came out negative ({value:.3g}): the covariances are not "
                         "positive semi-definite")
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
    tr_sqrt = trace_sqrt_product(cov1, cov2)
    return _finish(float(diff @ diff), float(np.trace(cov1)), float(np.trace(cov2)), tr_sqrt)


def fid_from_stats(p: FeatureStats, q: FeatureStats) -> float:
    """FID between two streamed :class:`FeatureStats`."""
    return frechet_distance(p.mean, p.cov, q.mean, q.cov)


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
    x, y = check_features(real, "real features"), check_features(fake, "fake features")
    check_same_dim(x, y)
    if min(x.shape[0], y.shape[0]) < x.shape[1]:
        return _fid_small_n(x, y)
    return fid_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(y))
