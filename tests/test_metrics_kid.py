import numpy as np
import pytest
import torch

from gankit.metrics.kid import kid, kid_values, median_heuristic, mmd2, poly_mmd2, subset_indices


def _gauss(n, d, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_identical_sets_give_about_zero():
    x = _gauss(200, 5)
    assert abs(mmd2(x, x.copy())) < 0.02
    assert abs(mmd2(x, _gauss(200, 5, seed=1))) < 0.02


def test_shifted_sets_give_positive():
    assert mmd2(_gauss(200, 5), _gauss(200, 5, shift=1.0, seed=1)) > 0.1


def test_unbiased_on_average_matches_closed_form():
    # x ~ N(0, I), y ~ N(delta, I) in D dims, k = exp(-|a-b|^2 / 2 s^2):
    # E k(x, x') = (s^2 / (s^2 + 2))^(D/2) = c, E k(x, y) = c exp(-|delta|^2 / (2 (s^2 + 2)))
    d, sigma, delta2 = 2, 1.5, 0.5
    c = (sigma ** 2 / (sigma ** 2 + 2)) ** (d / 2)
    truth = 2 * c * (1 - np.exp(-delta2 / (2 * (sigma ** 2 + 2))))
    rng = np.random.default_rng(0)
    shift = np.array([np.sqrt(delta2), 0.0])
    vals = [mmd2(rng.normal(size=(10, d)), rng.normal(size=(12, d)) + shift, sigma=sigma)
            for _ in range(3000)]
    sem = np.std(vals) / np.sqrt(len(vals))
    assert abs(np.mean(vals) - truth) < 4 * sem
    # the biased V-statistic would sit ~ 2 (1 - c) / 11 = 0.07 above: far outside 4 sem
    assert 4 * sem < 0.02


def test_null_average_is_zero():
    rng = np.random.default_rng(1)
    vals = [mmd2(rng.normal(size=(8, 3)), rng.normal(size=(8, 3)), sigma=1.0) for _ in range(2000)]
    assert abs(np.mean(vals)) < 4 * np.std(vals) / np.sqrt(len(vals))


def test_median_heuristic_is_median_distance():
    x = np.array([[0.0], [1.0]])
    y = np.array([[3.0], [7.0]])
    # pairwise distances: 1, 3, 7, 2, 6, 4 -> median 3.5
    assert median_heuristic(x, y) == pytest.approx(3.5)


def test_kid_matches_torchmetrics_on_same_subsets():
    from torchmetrics.image.kid import poly_mmd

    x, y = _gauss(300, 16), _gauss(250, 16, 0.2, seed=1)
    exact = kid_values(x, y, n_subsets=5, subset_size=100, seed=3, gram_dtype="float64")
    fast = kid_values(x, y, n_subsets=5, subset_size=100, seed=3)  # float32 Gram products
    subsets = subset_indices(300, 250, 5, 100, seed=3)
    ref = [poly_mmd(torch.from_numpy(x[i]), torch.from_numpy(y[j])).item() for i, j in subsets]
    np.testing.assert_allclose(exact, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast, ref, rtol=1e-6)
    assert not np.array_equal(fast, exact)  # the default really takes the float32 path


@pytest.mark.parametrize("degree", [2, 3, 4])
def test_kid_degrees_match_torchmetrics_in_both_dtypes(degree):
    # the symmetric blocks come from syrk's upper triangle with the zero lower triangle
    # accounted for in closed form; that closed form depends on the degree
    from torchmetrics.image.kid import poly_mmd

    x, y = _gauss(90, 12, seed=4), _gauss(70, 12, 0.3, seed=5)
    subsets = list(subset_indices(90, 70, 3, 50, seed=1))
    ref = [poly_mmd(torch.from_numpy(x[i]), torch.from_numpy(y[j]), degree=degree).item()
           for i, j in subsets]
    for gram, rtol in (("float64", 1e-10), ("float32", 1e-5)):
        vals = kid_values(x, y, n_subsets=3, subset_size=50, degree=degree, seed=1,
                          gram_dtype=gram)
        np.testing.assert_allclose(vals, ref, rtol=rtol, atol=1e-12)


def test_float32_gram_error_is_far_below_the_subset_spread():
    # Non-negative, correlated 2048-d features like Inception pool3. The kernel values
    # are ~2 while KID is 1e-4..1e-2, so rounding in the Gram is amplified by
    # cancellation: bound it relative to the kernel scale and to the subset spread.
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(64, 2048)) / 8

    def feats(n, scale):
        return np.maximum(rng.normal(size=(n, 64)) @ mix + 0.3 * rng.normal(size=(n, 2048))
                          + 0.4, 0) * scale

    x = feats(600, 1.0)
    for y, rel in ((feats(600, 1.05), 1e-6), (feats(600, 1.0), None)):
        exact = kid_values(x, y, n_subsets=3, subset_size=500, gram_dtype="float64")
        fast = kid_values(x, y, n_subsets=3, subset_size=500)
        err = np.abs(fast - exact).max()
        assert err < 1e-8 * 2.0 and err < 1e-4 * exact.std()  # kernel values ~2
        if rel:  # a real difference (KID ~1e-2) agrees to 1e-6 relative
            assert exact.mean() > 1e-3
            np.testing.assert_allclose(fast, exact, rtol=rel)


def test_unknown_gram_dtype_is_refused():
    with pytest.raises(ValueError, match="gram_dtype"):
        kid_values(_gauss(10, 2), _gauss(10, 2), gram_dtype="float16")


def test_kid_mean_std_seeded_and_capped():
    x, y = _gauss(80, 8), _gauss(60, 8, 0.5, seed=1)
    with pytest.warns(UserWarning, match="capped at 60"):
        a, b = kid(x, y, n_subsets=20, seed=1), kid(x, y, n_subsets=20, seed=1)
        assert kid(x, y, n_subsets=20, seed=2) != a
    assert a == b and a.mean > 0 and a.std > 0
    # subset size 1000 is capped at 60: one subset equals poly MMD on a 60-point draw
    assert np.isfinite(a.mean)
    full = kid(x[:60], y, n_subsets=1, subset_size=60, gram_dtype="float64")
    assert full.mean == pytest.approx(poly_mmd2(x[:60], y), rel=1e-10) and full.std == 0.0


@pytest.mark.parametrize("x, y, msg", [
    (np.ones((5, 3)), np.ones((5, 4)), "mismatched"),
    (np.ones((1, 3)), np.ones((5, 3)), "at least 2"),
    (np.full((5, 3), np.nan), np.ones((5, 3)), "NaN"),
])
def test_bad_input_is_refused(x, y, msg):
    with pytest.raises(ValueError, match=msg):
        mmd2(x, y, sigma=1.0)
    with pytest.raises(ValueError, match=msg):
        kid(x, y)


def test_duplicate_points_need_explicit_sigma():
    with pytest.raises(ValueError, match="median"):
        mmd2(np.ones((4, 2)), np.ones((4, 2)))


def test_blockwise_mmd_equals_the_full_kernel_matrix(monkeypatch):
    import importlib

    kid_mod = importlib.import_module("gankit.metrics.kid")

    x, y = _gauss(70, 5), _gauss(50, 5, 0.3, seed=1)
    z = np.concatenate([x, y])
    full_gauss = kid_mod.mmd2_from_kernel(kid_mod.gaussian_kernel(z @ z.T, 1.7), 70)
    full_poly = kid_mod.mmd2_from_kernel(kid_mod.polynomial_kernel(z @ z.T, 5), 70)
    monkeypatch.setattr(kid_mod, "_BLOCK_ENTRIES", 7 * 120)  # blocks of 7 rows
    assert mmd2(x, y, sigma=1.7) == pytest.approx(full_gauss, rel=1e-12, abs=1e-15)
    assert poly_mmd2(x, y) == pytest.approx(full_poly, rel=1e-12)


def test_gaussian_mmd_and_median_do_not_depend_on_an_offset():
    # distances of points 1e8 from the origin lose ~all digits to rounding in a raw Gram
    # (the median heuristic used to report "median pairwise distance is 0")
    x, y = _gauss(200, 4), _gauss(200, 4, 0.5, seed=1)
    assert median_heuristic(x + 1e8, y + 1e8) == pytest.approx(median_heuristic(x, y), rel=1e-6)
    assert mmd2(x + 1e8, y + 1e8) == pytest.approx(mmd2(x, y), rel=1e-6)


def test_overflow_and_degenerate_options_are_errors_not_nan():
    x, y = _gauss(50, 4), _gauss(50, 4, 0.5, seed=1)
    with pytest.raises(ValueError, match="overflowed in float32"):
        kid(x * 1e20, y * 1e20, n_subsets=2, subset_size=50)
    with pytest.raises(ValueError, match="overflow"):
        poly_mmd2(x * 1e200, y)
    with pytest.raises(ValueError, match="sigma must be positive"):
        mmd2(x, y, sigma=1e-300)
    with pytest.raises(ValueError, match="subset_size must be >= 2"):
        kid(x, y, subset_size=1)
    with pytest.warns(UserWarning, match="capped at 50"):
        kid(x, y, n_subsets=2)
