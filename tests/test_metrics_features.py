import numpy as np
import pytest
import torch

from gankit.metrics.features import FeatureStats, check_features, symmetric_from_upper


def _data(n=503, d=7, seed=0, offset=1e4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + offset


@pytest.mark.parametrize("batch", [1, 17, 100, 503])
def test_streamed_stats_match_numpy_for_any_batch_size(batch):
    x = _data()
    stats = FeatureStats.from_features(x, batch_size=batch)
    assert stats.n == len(x)
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-13)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)


def test_merge_equals_one_pass():
    x = _data()
    a = FeatureStats().update(x[:100]).update(x[100:250])
    b = FeatureStats().update(x[250:])
    merged = a.merge(b)
    whole = FeatureStats.from_features(x)
    np.testing.assert_allclose(merged.cov, whole.cov, rtol=1e-10)
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-14)


def test_large_offset_keeps_covariance_accurate():
    # raw float64 sums would lose ~8 digits to cancellation with mean 1e8, std 1
    x = _data(offset=1e8)
    stats = FeatureStats.from_features(x, batch_size=10)
    np.testing.assert_allclose(stats.cov, np.cov(x - 1e8, rowvar=False), rtol=1e-6)


def test_state_dict_round_trip():
    x = _data()
    s = FeatureStats.from_features(x)
    t = FeatureStats.from_state_dict(s.state_dict())
    assert t.n == s.n
    np.testing.assert_array_equal(t.cov, s.cov)


@pytest.mark.parametrize("bad, msg", [
    (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or inf"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or inf"),
    (np.ones((1, 3)), "at least 2 samples"),
    (np.ones(5), "2-D"),
    (np.array([["a", "b"], ["c", "d"]]), "wrong dtype"),
])
def test_bad_features_are_refused(bad, msg):
    with pytest.raises(ValueError, match=msg):
        check_features(bad)


def test_stats_need_two_samples_and_one_dimension():
    s = FeatureStats().update(np.ones((1, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        _ = s.cov
    with pytest.raises(ValueError, match="dimension 4, expected 3"):
        s.update(np.ones((2, 4)))


@pytest.mark.parametrize("d", [3, 256, 300, 513])
def test_symmetric_from_upper_mirrors_exactly_across_blocks(d):
    m = np.random.default_rng(d).normal(size=(d, d))
    full = symmetric_from_upper(np.asfortranarray(m))
    np.testing.assert_array_equal(full, np.triu(m) + np.triu(m, 1).T)
    np.testing.assert_array_equal(symmetric_from_upper(m), full)  # C order in, same answer


@pytest.mark.parametrize("d, batch", [(300, 1), (300, 64), (513, 700)])
def test_covariance_matches_numpy_to_1e12_beyond_one_block(d, batch):
    rng = np.random.default_rng(d + batch)
    x = rng.normal(size=(700, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + 3.0
    stats = FeatureStats.from_features(x, batch_size=batch)
    ref = np.cov(x, rowvar=False)
    np.testing.assert_allclose(stats.cov, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    assert np.array_equal(stats.cov, stats.cov.T)
    scatter = stats.scatter_upper()
    assert scatter.flags.f_contiguous and not scatter.flags.writeable
    np.testing.assert_allclose(np.triu(scatter), np.triu(ref) * 699, rtol=1e-12,
                               atol=1e-12 * 699 * np.abs(ref).max())


def test_float32_features_are_widened_in_place_exactly():
    # float32 rows are centred chunk by chunk in float64 instead of being copied to
    # float64 first: the statistics are those of the exact float64 values, bit for bit
    x32 = _data(n=2600, d=9, offset=3.0).astype(np.float32)  # > one 1024-row chunk
    ref = FeatureStats.from_features(x32.astype(np.float64), batch_size=700)
    for src in (x32, torch.from_numpy(x32)):
        s = FeatureStats.from_features(src, batch_size=700)
        np.testing.assert_array_equal(s.mean, ref.mean)
        np.testing.assert_array_equal(s.scatter_upper(), ref.scatter_upper())
    streamed = FeatureStats()
    for i in range(0, 2600, 1000):
        streamed.update(torch.from_numpy(x32[i:i + 1000]))
    np.testing.assert_allclose(streamed.cov, ref.cov, rtol=1e-12)
    bad = x32.copy()
    bad[2000, 4] = np.inf
    with pytest.raises(ValueError, match="1 sample"):
        FeatureStats.from_features(bad)


def test_float32_features_take_no_float64_copy():
    import tracemalloc

    x32 = np.random.default_rng(0).random((20_000, 64), dtype=np.float32)
    copy_bytes = x32.size * 8
    tracemalloc.start()
    try:
        FeatureStats.from_features(x32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < copy_bytes / 4, f"peak {peak} bytes; a float64 copy is {copy_bytes}"


def test_a_covariance_too_large_for_the_machine_is_an_error(monkeypatch):
    import os

    pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": 100}  # a 400 KB "machine"
    monkeypatch.setattr(os, "sysconf", lambda name: pages[name])
    with pytest.raises(ValueError, match=r"dimension 200 need a 0.0 GB covariance"):
        FeatureStats().update(np.ones((3, 200)))  # 320 KB > half of 400 KB
    FeatureStats().update(np.ones((3, 100)))  # 80 KB fits
