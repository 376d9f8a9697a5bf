"""Time gankit's metrics against the references a user would pick instead.

One process, same inputs for everyone, printed ratios (reference time / gankit time):
  * FID from 10,000 x 2048 features: pytorch-fid's way (np.cov + scipy.linalg.sqrtm of
    the product) and torchmetrics' (double X^T X sums + eigvals of the product);
  * KID (100 subsets of 1000) vs torchmetrics' poly_mmd on the very same subsets;
  * Sinkhorn, n = 1000 (2-D, 64-d), 300 (8-d) and 256, eps absolute and relative to the
    mean cost, vs POT ot.sinkhorn2 plain and log-domain and gankit's own log path; the
    eval metric's divergence call; eps = 1e-3 x mean cost; the Sinkhorn loss's training
    step against a non-saturating step (batch 256, ring and grid); unbalanced
    transport (rho 1) on grid batches of 256 and 384 vs POT's sinkhorn_unbalanced;
    balanced transport on the same batches in float32 and float64, with and without
    the kernel's floor, vs POT's sinkhorn_log;
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

from gankit.data.toy import Grid
from gankit.metrics.features import FeatureStats
from gankit.metrics.fid import fid_from_stats
from gankit.metrics.inception import InceptionV3FID
from gankit.metrics.kid import kid_values, subset_indices
from gankit.ot import cost_matrix, sinkhorn_divergence_solve, sinkhorn_solve

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
    from torchmetrics.image.fid import _compute_fid

    from gankit.metrics.fid import frechet_distance

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
    pairs = subset_indices(len(x), len(y), n_subsets, size, seed)
    vals = [poly_mmd(xt[i], yt[j]) for i, j in pairs]
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


def _pot(method, C, eps, tol, n_iters, plan=False):
    """POT's Sinkhorn on uniform marginals: sinkhorn2's value, or the plan."""
    import ot

    n, m = C.shape
    fn = ot.sinkhorn if plan else ot.sinkhorn2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(np.full(n, 1 / n), np.full(m, 1 / m), C, eps, method=method,
                 numItermax=n_iters, stopThr=tol)
    return (out if plan else float(out)), caught


def _l1_marginals(P):
    """L1 error of both marginals of a plan on uniform marginals."""
    P = np.asarray(P)
    n, m = P.shape
    return np.abs(P.sum(1) - 1 / n).sum() + np.abs(P.sum(0) - 1 / m).sum()


def _clouds(n, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, torch.randn(n, d, generator=g, dtype=torch.float64) * 0.5 + 1


def sinkhorn_row(label, C, eps, tol, n_iters=100_000, log_path=True, pot_log=True):
    """One problem: gankit's fast path, its log path (the solver before the fast path),
    POT plain sinkhorn2 and POT sinkhorn_log, same tolerance; L1 errors of both
    marginals of the plans; ratios are reference time / gankit time."""
    r, t_fast = timed(sinkhorn_solve, C, eps, n_iters, tol)
    Cn = C.numpy()
    (plain, caught), t_plain = timed(_pot, "sinkhorn", Cn, eps, tol, n_iters)
    pot_plan, _ = _pot("sinkhorn", Cn, eps, tol, n_iters, plan=True)
    line = (f"Sinkhorn {label}: gankit {t_fast * 1e3:.1f} ms ({r.n_iters} it, err "
            f"{_l1_marginals(r.plan):.1e}); POT plain {t_plain * 1e3:.1f} ms (err "
            f"{_l1_marginals(pot_plan):.1e}, {len(caught)} warnings) = {t_plain / t_fast:.2f}x")
    if log_path:
        rl, t_log = timed(sinkhorn_solve, C, eps, n_iters, tol, method="log")
        line += (f"; gankit log path {t_log * 1e3:.1f} ms ({rl.n_iters} it) = "
                 f"{t_log / t_fast:.1f}x")
    if pot_log:
        (_, _), t_plog = timed(_pot, "sinkhorn_log", Cn, eps, tol, n_iters)
        line += f"; POT sinkhorn_log {t_plog * 1e3:.1f} ms = {t_plog / t_fast:.1f}x"
    rel = abs(plain - r.cost.item()) / abs(r.cost.item())
    print(line + f"; rel diff to POT plain {rel:.1e}", flush=True)


def bench_sinkhorn(quick):
    """Absolute eps on 2-D clouds (tol 1e-9), then eps relative to the mean cost on the
    cases of the fast-path goal (tol 1e-6): 2-D, 8-d, 64-d and a training batch."""
    n = 300 if quick else 1000
    x, y = _clouds(n, 2)
    C = cost_matrix(x, y)
    for eps in (1.0, 0.3, 0.1):
        sinkhorn_row(f"n={n} 2-d eps={eps:g} tol 1e-9", C, eps, 1e-9)
    for m, d, rel in ((n, 2, 0.1), (n, 2, 0.02), (300, 8, 0.02), (n, 64, 0.02),
                      (256, 2, 0.02)):
        C = cost_matrix(*_clouds(m, d))
        sinkhorn_row(f"n={m} {d}-d eps={rel:g} x mean cost tol 1e-6", C,
                     rel * C.mean().item(), 1e-6)


def bench_sinkhorn_metric():
    """The eval metric's call: the debiased divergence of 300 + 300 points in 8-d from
    one distribution, eps = 0.05 x mean cost, 1000 iterations, tol 1e-6."""
    from functools import partial

    x, y = _clouds(300, 8)
    y = (y - 1) * 2  # the same distribution as x
    eps = 0.05 * cost_matrix(x, y).mean().item()
    fast, t_fast = timed(sinkhorn_divergence_solve, x, y, eps, 1000, 1e-6)
    log, t_log = timed(partial(sinkhorn_divergence_solve, method="log"), x, y, eps, 1000, 1e-6)
    print(f"Sinkhorn metric call (300 + 300, 8-d, eps 0.05 x mean, 1000 it, tol 1e-6): "
          f"gankit {t_fast * 1e3:.1f} ms (err {fast.err:.1e}); log path (before) "
          f"{t_log * 1e3:.1f} ms (err {log.err:.1e}) = {t_log / t_fast:.1f}x; values "
          f"{fast.value.item():.6g} / {log.value.item():.6g}", flush=True)


def bench_sinkhorn_small_eps(n):
    """eps = 1e-3 x mean cost: POT's plain Sinkhorn overflows; ours after 200 and 1000
    iterations, and the log path's cold start after as many."""
    x, y = _clouds(n, 2)
    C = cost_matrix(x, y)
    eps = 1e-3 * C.mean().item()
    plain, caught = _pot("sinkhorn", C.numpy(), eps, 1e-6, 1000)
    msgs = sorted({str(w.message).split("\n")[0][:40] for w in caught})
    for it in (200, 1000):
        r, t = timed(sinkhorn_solve, C, eps, it, 1e-9)
        rl = sinkhorn_solve(C, eps, it, 1e-9, method="log")
        print(f"Sinkhorn n={n} eps=1e-3 x mean cost, {it} it: gankit {r.cost.item():.6g} "
              f"(err {r.err:.1e}, {t * 1e3:.0f} ms); log path {rl.cost.item():.6g} (err "
              f"{rl.err:.1e}); POT plain -> {plain:.3g} (warnings: {msgs})", flush=True)


def bench_sinkhorn_loss(steps):
    """One training step of the Sinkhorn loss (defaults: eps 0.05, L = 100, debiased,
    envelope) against a non-saturating step, batch 256, toy data, alternated in one
    process; 'before' runs the loss on the log path, the solver it had before."""
    import statistics
    from functools import partial

    import gankit.objectives.sinkhorn as obj
    from gankit.components import load_config
    from gankit.ot import sinkhorn_divergence
    from gankit.train import Trainer

    def step_time(t, n):
        t.train_step()
        start = time.perf_counter()
        for _ in range(n):
            t.train_step()
        return (time.perf_counter() - start) / n

    for data in ("ring", "grid"):
        sets = ["data.batch_size=256", f"data.name='{data}'"]
        ns = Trainer(load_config(sets=sets + ["objective.name='nonsaturating'"]))
        sk = Trainer(load_config(sets=sets + ["objective.name='sinkhorn'"]))
        times = {"ns": [], "fast": [], "log": []}
        for _ in range(max(REPEAT, 3)):
            times["ns"].append(step_time(ns, steps))
            times["fast"].append(step_time(sk, steps))
            obj.sinkhorn_divergence = partial(sinkhorn_divergence, method="log")
            times["log"].append(step_time(sk, max(steps // 10, 2)))
            obj.sinkhorn_divergence = sinkhorn_divergence
        best = {k: min(v) for k, v in times.items()}
        print(f"Sinkhorn loss step, {data}, batch 256: {best['fast'] * 1e3:.1f} ms = "
              f"{best['fast'] / best['ns']:.2f}x a non-saturating step "
              f"({best['ns'] * 1e3:.1f} ms); log path (before) {best['log'] * 1e3:.0f} ms = "
              f"{best['log'] / best['ns']:.1f}x; median fast "
              f"{statistics.median(times['fast']) * 1e3:.1f} ms", flush=True)


def _grid_batches(n, seed):
    """A generated and a data batch of the grid data set (25 modes 2 apart, std 0.05),
    the generated one with its modes 1.6x as wide and a tenth of its points anywhere
    in the square."""
    grid = Grid(Grid.Options(), seed)
    real = grid.sample(n)
    x, mode = grid.sample_with_labels(n - n // 10)
    centres = grid.centres[mode]
    stray = 8 * torch.rand(n // 10, 2, generator=grid.rng) - 4
    return torch.cat([centres + 1.6 * (x - centres), stray]), real


def bench_sinkhorn_unbalanced(quick):
    """Unbalanced transport (rho 1) on a grid batch pair, the Sinkhorn toy loss's call:
    gankit's solver against POT's ot.unbalanced.sinkhorn_unbalanced (its log-stabilised
    method, the one that holds eps 1e-4 on these costs) at the same budget and
    tolerance; plans compared with a converged float64 solve of gankit's."""
    import ot

    for n in ((256,) if quick else (256, 384)):
        fake, real = _grid_batches(n, 0)
        C = cost_matrix(fake, real)
        a = np.full(n, 1 / n)
        for eps in (1e-4, 2.5e-3):
            ref = sinkhorn_solve(C.double(), eps, 200_000, 1e-13, rho=1.0, grad="envelope").plan
            for its in (100, 1000):
                ours, t_ours = timed(sinkhorn_solve, C, eps, its, 1e-6, rho=1.0,
                                     grad="envelope")
                with warnings.catch_warnings(record=True):
                    warnings.simplefilter("always")
                    pot, t_pot = timed(ot.unbalanced.sinkhorn_unbalanced, a, a,
                                       C.double().numpy(), eps, 1.0,
                                       method="sinkhorn_stabilized", numItermax=its,
                                       stopThr=1e-6)
                mass = float(ref.sum())
                d_ours = float((ours.plan.double() - ref).abs().sum()) / mass
                d_pot = float(np.abs(pot - ref.numpy()).sum()) / mass
                print(f"Unbalanced Sinkhorn n={n} eps={eps:g} rho=1, {its} it, tol 1e-6: "
                      f"gankit {t_ours * 1e3:.1f} ms (L1 to converged {d_ours:.1e}); POT "
                      f"sinkhorn_stabilized {t_pot * 1e3:.1f} ms ({d_pot:.1e}) = "
                      f"{t_pot / t_ours:.1f}x", flush=True)


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


def bench_sinkhorn_floor(quick):
    """Balanced transport on grid batch pairs (the Sinkhorn toy loss's call without rho)
    in float32 and float64: gankit's scaling path with its kernel floor, the same path
    with the floor off (the solver before it), and POT's sinkhorn_log, at the same
    budget and tolerance; plans compared with a converged float64 solve."""
    from gankit.ot import scaling

    floor = scaling._kernel_floor
    for n in ((256,) if quick else (256, 384)):
        fake, real = _grid_batches(n, 0)
        C64 = cost_matrix(fake, real).double()
        for eps in (1e-4, 2.5e-3, 0.05):
            ref = sinkhorn_solve(C64, eps, 50_000, 1e-12, grad="envelope").plan
            for dtype in (torch.float32, torch.float64):
                C = C64.to(dtype)
                for its in (100, 1000):
                    ours, t_ours = timed(sinkhorn_solve, C, eps, its, 1e-6, grad="envelope")
                    scaling._kernel_floor = lambda dtype: -float("inf")  # noqa: E731
                    try:
                        old, t_old = timed(sinkhorn_solve, C, eps, its, 1e-6, grad="envelope")
                    finally:
                        scaling._kernel_floor = floor
                    pot, t_pot = timed(_pot, "sinkhorn_log", C64.numpy(), eps, 1e-6, its,
                                       plan=True)
                    d = [float((p.double() - ref).abs().sum()) for p in (ours.plan, old.plan)]
                    d_pot = float(np.abs(pot[0] - ref.numpy()).sum())
                    print(f"Balanced Sinkhorn n={n} eps={eps:g} {str(dtype)[6:]}, {its} it, "
                          f"tol 1e-6: gankit {t_ours * 1e3:.1f} ms (L1 to converged "
                          f"{d[0]:.1e}); without the floor {t_old * 1e3:.1f} ms ({d[1]:.1e}) "
                          f"= {t_old / t_ours:.1f}x; POT sinkhorn_log (float64) "
                          f"{t_pot * 1e3:.1f} ms ({d_pot:.1e}) = {t_pot / t_ours:.1f}x",
                          flush=True)


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
        bench_sinkhorn(args.quick)
        bench_sinkhorn_metric()
        bench_sinkhorn_small_eps(300 if args.quick else 1000)
        bench_sinkhorn_loss(5 if args.quick else 50)
        bench_sinkhorn_unbalanced(args.quick)
        bench_sinkhorn_floor(args.quick)
    if run("inception"):
        bench_inception(16, 1 if args.quick else 4)
    if run("memory"):
        bench_memory(args.quick)


if __name__ == "__main__":
    main()
