import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.metrics.features import FeatureStats
from gankit.metrics.fid import fid, fid_from_stats, frechet_distance, trace_sqrt_product


def _spd(d, rng, cond=1.0):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + cond * np.eye(d)


def _sqrtm_fid(mu1, s1, mu2, s2):
    """The pytorch-fid reference: scipy.linalg.sqrtm of the product."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_closed_form_gaussians():
    # N(0, I) vs N(m, 4 I) in d dims: |m|^2 + d (1 + 4 - 2 * 2) = |m|^2 + d
    d = 16
    mu2 = np.full(d, 0.5)
    value = frechet_distance(np.zeros(d), np.eye(d), mu2, 4 * np.eye(d))
    assert value == pytest.approx(d * 0.25 + d, rel=1e-12)


def test_closed_form_commuting_diagonal():
    s1, s2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 0.0])
    expected = (1 + 4 + 9) + (4 + 1 + 0) - 2 * (2 + 2 + 0)
    assert frechet_distance(np.zeros(3), s1, np.zeros(3), s2) == pytest.approx(expected, abs=1e-12)


def test_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(0)
    d = 64
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _spd(d, rng), _spd(d, rng, 0.1)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_sqrtm_fid(mu1, s1, mu2, s2), rel=1e-10)


def test_matches_torchmetrics_compute_fid():
    from torchmetrics.image.fid import _compute_fid

    rng = np.random.default_rng(1)
    d = 32
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _spd(d, rng), _spd(d, rng)
    ref = _compute_fid(*(torch.from_numpy(a) for a in (mu1, s1, mu2, s2))).item()
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-10)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(2).normal(size=(500, 40)) * 3 + 1
    assert 0.0 <= fid(x, x) < 1e-8
    s = FeatureStats.from_features(x)
    assert 0.0 <= fid_from_stats(s, s) < 1e-8


def test_fewer_samples_than_dimensions_uses_cross_product():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 50)), rng.normal(size=(40, 50)) + 0.3
    args = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    # S_P S_Q has rank < d here: the d x d routes take square roots of eigenvalues that
    # are zero up to rounding (1e-15 -> 3e-8 each), so they only agree to ~1e-8; the
    # singular values of the cross-product have no such square-root amplification
    assert fid(x, y) == pytest.approx(frechet_distance(*args), rel=1e-7)
    assert fid(x, y) == pytest.approx(_sqrtm_fid(*args), rel=1e-7)
    assert 0.0 <= fid(x, x) < 1e-8


def test_singular_covariance_falls_back_without_nan():
    rng = np.random.default_rng(4)
    s1 = np.diag([1.0, 2.0, 0.0, 0.0])  # Cholesky fails
    s2 = _spd(4, rng)
    expected = np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum()
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum(), rel=1e-10)
    assert frechet_distance(np.zeros(4), s1, np.zeros(4), s2) == pytest.approx(expected, rel=1e-10)


def test_sample_fid_converges_to_population_value():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20000, 3))
    y = rng.normal(size=(20000, 3)) * 2 + 1
    # population: 3 * 1 + 3 * (1 + 4 - 4) = 6
    assert fid(x, y) == pytest.approx(6.0, rel=0.03)


@pytest.mark.parametrize("args, msg", [
    ((np.zeros(3), np.eye(3), np.zeros(4), np.eye(4)), "mismatched"),
    ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), "expected shape"),
    ((np.zeros(3), np.full((3, 3), np.nan), np.zeros(3), np.eye(3)), "NaN or inf"),
    ((np.array([np.inf, 0, 0]), np.eye(3), np.zeros(3), np.eye(3)), "NaN or inf"),
])
def test_bad_statistics_are_refused(args, msg):
    with pytest.raises(ValueError, match=msg):
        frechet_distance(*args)


def test_bad_features_are_refused():
    with pytest.raises(ValueError, match="mismatched feature dimensions"):
        fid(np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid(np.ones((1, 3)), np.ones((5, 3)))


def _stats_and_moments(n, d, seed, constant_column=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + rng.normal(size=d)
    if constant_column:
        x[:, 7] = 2.5  # singular covariance: Cholesky fails
    return FeatureStats.from_features(x, batch_size=128), (x.mean(0), np.cov(x, rowvar=False))


@pytest.mark.parametrize("d", [40, 300])  # one block of 256 and several
def test_fid_from_stats_upper_triangles_match_full_covariances(d):
    p, (mu1, s1) = _stats_and_moments(700, d, 0)
    q, (mu2, s2) = _stats_and_moments(650, d, 1)
    value = fid_from_stats(p, q)
    assert value == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-12)
    assert value == pytest.approx(_sqrtm_fid(mu1, s1, mu2, s2), rel=1e-9)


def test_fid_from_stats_singular_covariance_falls_back():
    # the fallback mirrors the stored upper triangle; frechet_distance mirrors the lower
    p, (mu1, s1) = _stats_and_moments(400, 60, 2, constant_column=True)
    q, (mu2, s2) = _stats_and_moments(400, 60, 3)
    value = fid_from_stats(p, q)
    assert value == pytest.approx(frechet_distance(mu1, s1, mu2, s2), rel=1e-10)
    ref = np.trace(s1) + np.trace(s2) + ((mu1 - mu2) ** 2).sum() \
        - 2 * np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum()
    assert value == pytest.approx(ref, rel=1e-8)


def test_covariances_are_symmetrised_across_blocks():
    rng = np.random.default_rng(6)
    d = 300
    s1, s2 = _spd(d, rng), _spd(d, rng, 0.2)
    skew = rng.normal(size=(d, d)) * 1e-3
    skew -= skew.T  # (s + skew) averages back to s; either triangle alone would not
    mu = np.zeros(d)
    assert frechet_distance(mu, s1 + skew, mu, s2 - skew) == pytest.approx(
        frechet_distance(mu, s1, mu, s2), rel=1e-13)
    assert trace_sqrt_product(s1 + skew, s2) == pytest.approx(trace_sqrt_product(s1, s2),
                                                              rel=1e-13)


def test_fid_from_stats_refuses_bad_statistics():
    x = np.random.default_rng(7).normal(size=(10, 4))
    with pytest.raises(ValueError, match="mismatched feature dimensions"):
        fid_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(x[:, :3]))
    with pytest.raises(ValueError, match="at least 2"):
        fid_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(x[:1]))
    with pytest.raises(ValueError, match="NaN or inf"):
        fid_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(x * 1e300))


@pytest.mark.parametrize("n", [30, 200])  # n < d: cross-product path; n >= d: covariances
def test_float32_features_give_the_fid_of_their_float64_values(n):
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(n, 50)) + 2).astype(np.float32)
    y = (rng.normal(size=(n + 5, 50)) * 1.5).astype(np.float32)
    wide = fid(x.astype(np.float64), y.astype(np.float64))
    assert fid(x, y) == pytest.approx(wide, rel=1e-13)
    assert fid(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(wide, rel=1e-13)


def test_low_rank_features_with_more_samples_than_dimensions():
    # low-rank features with n >= d (the covariance route). The square roots of the
    # eigensolver's rounding-level "zero" eigenvalues once made FID(x, x) -6e-4 (an
    # error) here, and FID(x, x + 1) 2.2 below its value of d = 1024.
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2100, 3)) @ rng.normal(size=(3, 2048))
    scale = 2 * np.trace(np.cov(x, rowvar=False))
    assert 0.0 <= fid(x, x[rng.permutation(2100)]) < 1e-12 * scale
    y = rng.normal(size=(1100, 20)) @ rng.normal(size=(20, 1024)) * 100
    assert fid(y, y + 1.0) == pytest.approx(1024.0, rel=1e-10)


@pytest.mark.parametrize("collapsed_first", [False, True])
def test_collapsed_generator_matches_the_cross_product_formula(collapsed_first):
    # full-rank real features against rank-5 fake ones, both n >= d; the reference is the
    # singular values of the centred cross-product, which takes no square roots
    rng = np.random.default_rng(12)
    real = rng.normal(size=(1500, 80)) @ rng.normal(size=(80, 80))
    fake = rng.normal(size=(1500, 5)) @ rng.normal(size=(5, 80)) + 0.3
    xc, yc = real - real.mean(0), fake - fake.mean(0)
    nuclear = scipy.linalg.svdvals(xc @ yc.T).sum() / 1499
    expected = (((real.mean(0) - fake.mean(0)) ** 2).sum() + (xc ** 2).sum() / 1499
                + (yc ** 2).sum() / 1499 - 2 * nuclear)
    pair = (fake, real) if collapsed_first else (real, fake)
    assert fid(*pair) == pytest.approx(expected, rel=1e-12)


def test_graded_spectra_keep_their_small_eigenvalues():
    # full rank, eigenvalues 1 .. 1e-10 and 1 .. 1e-8 in random bases: the exact trace
    # term is the nuclear norm of D1^1/2 U^T V D2^1/2 (an SVD, no square roots)
    rng = np.random.default_rng(13)
    d = 200
    u, v = (np.linalg.qr(rng.normal(size=(d, d)))[0] for _ in range(2))
    d1, d2 = np.logspace(0, -10, d), np.logspace(0, -8, d)
    s1, s2 = (u * d1) @ u.T, (v * d2) @ v.T
    exact_sqrt = scipy.linalg.svdvals(np.sqrt(d1)[:, None] * (u.T @ v) * np.sqrt(d2)).sum()
    expected = d1.sum() + d2.sum() - 2 * exact_sqrt
    assert frechet_distance(np.zeros(d), s1, np.zeros(d), s2) == pytest.approx(expected, rel=1e-12)


def test_covariances_that_are_not_psd_are_refused():
    z, eye = np.zeros(2), np.eye(2)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3 and -1, diagonal > 0
    with pytest.raises(ValueError, match="cov1 is not positive semi-definite"):
        frechet_distance(z, -eye, z, eye)
    with pytest.raises(ValueError, match="cov1 is not positive semi-definite"):
        frechet_distance(z, indefinite, z, eye)
    with pytest.raises(ValueError, match="cov2 is not positive semi-definite"):
        frechet_distance(z, eye, z, indefinite)
