"""Time gankit's metrics against the references a user would pick instead.

One process, same inputs for everyone, printed ratios (reference time / gankit time):
  * FID from 10,000 x 2048 features: pytorch-fid's way (np.cov + scipy.linalg.sqrtm of
    the product) and torchmetrics' (double X^T X sums + eigvals of the product);
  * KID (100 subsets of 1000) vs torchmetrics' poly_mmd on the very same subsets;
  * Sinkhorn, n = 1000, several eps, vs POT ot.sinkhorn2(method="sinkhorn_log");
  * Inception-v3 (random weights) feature extraction, images/s on the CPU;
  * memory: FeatureStats on float32 features, Gaussian MMD (tracemalloc peaks).

Run (one thread, pinned to one core):
    taskset -c 0 env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        .venv/bin/python benchmarks/metrics.py [--quick] [--only fid] [--repeat 3]
``--threads N`` (default 1) sets torch's intra-op threads; numpy/scipy's OpenBLAS and
torch's MKL read their thread counts from the environment at start-up, so set
OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS to the same N (the script
prints them and warns on a mismatch). The same thread count for every library matters:
on a busy machine torch's spinning intra-op threads otherwise dominate the small
Sinkhorn kernels. ``--repeat R`` reports the best of R runs of each method.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import scipy.linalg
import torch

from gankit.metrics.features import FeatureStats
from gankit.metrics.fid import fid_from_stats
from gankit.metrics.inception import InceptionV3FID
from gankit.metrics.kid import kid_values, subset_indices
from gankit.ot import cost_matrix, sinkhorn_solve


REPEAT = 1  # runs per timed call (--repeat); the best time is reported
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def timed(fn, *args, **kw):
    best = float("inf")
    for _ in range(REPEAT):
        t = time.perf_counter()
        out = fn(*args, **kw)
        best = min(best, time.perf_counter() - t)
    return out, best


def fake_features(n, d, seed):
    """Non-negative, correlated, full-rank features shaped like Inception pool3."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(256, d)) / 16
    z = rng.normal(size=(n, 256)) @ mix + 0.3 * rng.normal(size=(n, d)) + 0.4
    return np.maximum(z, 0.0)


def pytorch_fid_way(x, y):
    mu1, s1 = x.mean(0), np.cov(x, rowvar=False)
    mu2, s2 = y.mean(0), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2)).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def torchmetrics_way(x, y):
    from torchmetrics.image.fid import _compute_fid

    def stats(f):
        f = torch.from_numpy(f)
        n, s, ss = f.shape[0], f.sum(0), f.t().mm(f)  # its update(): double sums
        mean = (s / n).unsqueeze(0)
        return mean.squeeze(0), (ss - n * mean.t().mm(mean)) / (n - 1)

    return float(_compute_fid(*stats(x), *stats(y)))


def gankit_way(x, y):
    return fid_from_stats(FeatureStats.from_features(x, 1000), FeatureStats.from_features(y, 1000))


def bench_fid(n):
    x, y = fake_features(n, 2048, 0), fake_features(n, 2048, 1) * 1.05
    ours, t_ours = timed(gankit_way, x, y)
    tm, t_tm = timed(torchmetrics_way, x, y)
    pf, t_pf = timed(pytorch_fid_way, x, y)
    print(f"FID {n}x2048: gankit {t_ours:.2f}s  pytorch-fid {t_pf:.2f}s ({t_pf / t_ours:.1f}x)  "
          f"torchmetrics {t_tm:.2f}s ({t_tm / t_ours:.1f}x)")
    print(f"    value {ours:.10g}; rel diff vs pytorch-fid {abs(pf - ours) / ours:.1e}, "
          f"vs torchmetrics {abs(tm - ours) / ours:.1e}")
    bench_fid_from_stats(x, y)
    bench_fid_cached(x, y)
    return x, y


def bench_fid_cached(x, y):
    """FID of a new fake set against reference statistics computed once (gankit's
    --save-stats, pytorch-fid's --save-stats, torchmetrics' reset_real_features=False):
    the fake set's statistics and the trace term are what each method pays per call."""
    from torchmetrics.image.fid import _compute_fid

    ref = FeatureStats.from_features(x, 1000)
    mu_x, cov_x = x.mean(0), np.cov(x, rowvar=False)
    tm_ref = tuple(torch.from_numpy(a) for a in (mu_x, cov_x))

    def ours():
        return fid_from_stats(ref, FeatureStats.from_features(y, 1000))

    def pytorch_fid():
        mu, s = y.mean(0), np.cov(y, rowvar=False)
        covmean = scipy.linalg.sqrtm(cov_x.dot(s)).real
        return float(((mu_x - mu) ** 2).sum() + np.trace(cov_x) + np.trace(s)
                     - 2 * np.trace(covmean))

    def torchmetrics():
        f = torch.from_numpy(y)
        n, sm, ss = f.shape[0], f.sum(0), f.t().mm(f)
        mean = (sm / n).unsqueeze(0)
        return float(_compute_fid(*tm_ref, mean.squeeze(0), (ss - n * mean.t().mm(mean)) / (n - 1)))

    v, t_ours = timed(ours)
    _, t_pf = timed(pytorch_fid)
    _, t_tm = timed(torchmetrics)
    print(f"    against cached reference stats: gankit {t_ours:.2f}s  pytorch-fid {t_pf:.2f}s "
          f"({t_pf / t_ours:.1f}x)  torchmetrics {t_tm:.2f}s ({t_tm / t_ours:.1f}x)")


def bench_fid_from_stats(x, y):
    """The stage where the methods differ: mean/cov -> number (covariances precomputed)."""
    from gankit.metrics.fid import frechet_distance
    from torchmetrics.image.fid import _compute_fid

    args = (x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    ours, t_ours = timed(frechet_distance, *args)
    p, q = FeatureStats.from_features(x, 1000), FeatureStats.from_features(y, 1000)
    _, t_stats = timed(fid_from_stats, p, q)
    mu1, s1, mu2, s2 = args
    _, t_pf = timed(lambda: scipy.linalg.sqrtm(s1.dot(s2)).real)
    _, t_tm = timed(_compute_fid, *(torch.from_numpy(a) for a in args))
    print(f"    stats -> number only: gankit {t_ours:.2f}s  sqrtm {t_pf:.2f}s "
          f"({t_pf / t_ours:.1f}x)  torchmetrics {t_tm:.2f}s ({t_tm / t_ours:.1f}x); "
          f"gankit from FeatureStats (no symmetrisation) {t_stats:.2f}s")


def torchmetrics_kid(x, y, n_subsets, size, seed):
    """torchmetrics' poly_mmd on our subsets, in the dtype of the features given."""
    from torchmetrics.image.kid import poly_mmd

    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    vals = [poly_mmd(xt[i], yt[j]) for i, j in subset_indices(len(x), len(y), n_subsets, size, seed)]
    return torch.stack(vals).double().numpy()


def bench_kid(x, y, n_subsets):
    """Ours (float32 Gram products, float64 kernel sums; and all-float64) against
    torchmetrics in float64 (the same-accuracy comparison) and in float32 (what it
    computes on Inception's float32 features). Differences are to torchmetrics float64."""
    ref, t_ref = timed(torchmetrics_kid, x, y, n_subsets, 1000, 0)
    ref32, t_ref32 = timed(torchmetrics_kid, x.astype(np.float32), y.astype(np.float32),
                           n_subsets, 1000, 0)
    for gram in ("float32", "float64"):
        ours, t_ours = timed(kid_values, x, y, n_subsets, 1000, seed=0, gram_dtype=gram)
        diff = abs(ours.mean() - ref.mean())
        print(f"KID {n_subsets} subsets of 1000, gankit gram_dtype={gram}: {t_ours:.2f}s; "
              f"torchmetrics float64 {t_ref:.2f}s ({t_ref / t_ours:.1f}x), float32 "
              f"{t_ref32:.2f}s ({t_ref32 / t_ours:.1f}x); KID {ours.mean():.6e}, rel diff "
              f"{diff / abs(ref.mean()):.1e}")
    print(f"    torchmetrics float32 vs float64: rel diff "
          f"{abs(ref32.mean() - ref.mean()) / abs(ref.mean()):.1e}")


def pot_sinkhorn(C, eps, tol, n_iters):
    import ot

    n, m = C.shape
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = ot.sinkhorn2(np.full(n, 1 / n), np.full(m, 1 / m), C, eps,
                             method="sinkhorn_log", numItermax=n_iters, stopThr=tol)
    return float(value), caught


def bench_sinkhorn(n, eps_list, tol):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64) * 0.5 + 1
    C = cost_matrix(x, y)
    for eps in eps_list:
        r, t_ours = timed(sinkhorn_solve, C, eps, 100_000, tol)
        (ref, caught), t_pot = timed(pot_sinkhorn, C.numpy(), eps, tol, 100_000)
        rel = abs(ref - r.cost.item()) / r.cost.item()
        print(f"Sinkhorn n={n} eps={eps:g} tol={tol:g}: gankit {t_ours:.2f}s ({r.n_iters} it) "
              f"POT sinkhorn_log {t_pot:.2f}s ({t_pot / t_ours:.1f}x); rel diff {rel:.1e}; "
              f"POT warnings: {len(caught)}")


def bench_sinkhorn_small_eps(n):
    import ot

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(n, 2, generator=g, dtype=torch.float64), torch.randn(n, 2, generator=g, dtype=torch.float64) + 1
    C = cost_matrix(x, y)
    eps = 1e-3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain = ot.sinkhorn2(np.full(n, 1 / n), np.full(n, 1 / n), C.numpy(), eps, numItermax=200)
    r = sinkhorn_solve(C, eps, 200, tol=0)
    msgs = sorted({str(w.message).split("\n")[0][:60] for w in caught})
    print(f"Sinkhorn n={n} eps={eps:g}, 200 iterations: POT plain sinkhorn -> {plain:.3g} "
          f"(warnings: {msgs}); gankit log-domain -> {r.cost.item():.6g} (finite)")


def bench_inception(batch, n_batches):
    torch.manual_seed(0)
    net = InceptionV3FID().eval()
    x = torch.rand(batch, 3, 32, 32)
    with torch.no_grad():
        net(x)
        t = time.perf_counter()
        for _ in range(n_batches):
            net(x)
        dt = time.perf_counter() - t
    print(f"Inception-v3 FID features (random weights, 32x32 -> 299, batch {batch}): "
          f"{batch * n_batches / dt:.1f} images/s on {torch.get_num_threads()} threads")


def _peak_mb(fn, *args):
    """(result, seconds, peak MB of numpy/Python allocations) of one call (tracemalloc)."""
    import tracemalloc

    tracemalloc.start()
    try:
        t = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, dt, peak / 2**20


def bench_memory(quick):
    """Peak memory of the streamed statistics on float32 features, and of Gaussian MMD."""
    from gankit.metrics.kid import mmd2

    n = 10_000 if quick else 50_000
    x = np.random.default_rng(0).random((n, 2048), dtype=np.float32)
    _, dt, peak = _peak_mb(FeatureStats.from_features, x)
    print(f"FeatureStats of {n}x2048 float32: {dt:.2f}s, peak extra {peak:.0f} MB "
          f"(a float64 copy alone: {x.size * 8 / 2**20:.0f} MB)")
    m = 2000 if quick else 10_000
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(m, 2)), rng.normal(size=(m, 2)) + 0.1
    _, dt, peak = _peak_mb(mmd2, a, b)
    print(f"Gaussian MMD {m}+{m} points in 2-D: {dt:.2f}s, peak extra {peak:.0f} MB "
          f"(one full (m+n)^2 kernel matrix: {(2 * m) ** 2 * 8 / 2**20:.0f} MB)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    ap.add_argument("--only", choices=("fid", "kid", "sinkhorn", "inception", "memory"),
                    default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads; set OMP/OPENBLAS/MKL_NUM_THREADS to match")
    ap.add_argument("--repeat", type=int, default=1, help="runs per method, best reported")
    args = ap.parse_args()
    global REPEAT
    REPEAT = max(args.repeat, 1)
    torch.set_num_threads(args.threads)
    env = {v: os.environ.get(v, "unset") for v in _THREAD_VARS}
    print(f"threads {args.threads} (torch {torch.get_num_threads()}; "
          + ", ".join(f"{k}={v}" for k, v in env.items())
          + f"), cpus {os.cpu_count()}, usable {len(os.sched_getaffinity(0))}, "
          f"load average {os.getloadavg()[0]:.1f}, best of {REPEAT}")
    if any(v != str(args.threads) for v in env.values()):
        print(f"WARNING: the BLAS thread variables do not all equal --threads {args.threads}")
    run = lambda name: args.only in (None, name)  # noqa: E731
    if run("fid") or run("kid"):
        x, y = bench_fid(2000 if args.quick else 10_000)
    if run("kid"):
        bench_kid(x, y, 5 if args.quick else 100)
    if run("sinkhorn"):
        bench_sinkhorn(300 if args.quick else 1000, (1.0, 0.3, 0.1), 1e-9)
        bench_sinkhorn_small_eps(300 if args.quick else 1000)
    if run("inception"):
        bench_inception(16, 1 if args.quick else 4)
    if run("memory"):
        bench_memory(args.quick)


if __name__ == "__main__":
    main()
