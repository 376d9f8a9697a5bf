"""Parallel efficiency of gankit sweep on this machine: the same sweep with --jobs 1 and
with --jobs 2 (one thread per run either way), wall time and speed-up.

    python benchmarks/sweep_scaling.py --runs 4 --steps 2000

Also times two runs side by side with torch's default threads (each process as many
threads as cores) against one thread each, the oversubscription the sweep avoids.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def sweep(out: str, jobs: int, runs: int, steps: int) -> float:
    cmd = [sys.executable, "-m", "gankit", "sweep", "--seeds", str(runs), "--jobs", str(jobs),
           "--out", out, "--set", f"train.steps={steps}", "--set", "train.tensorboard=false"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def side_by_side(tmp: str, steps: int, threads: str) -> float:
    """Two gankit train runs at once, each with OMP_NUM_THREADS = threads ('' = default)."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    if threads:
        env["OMP_NUM_THREADS"] = threads
    cmd = [sys.executable, "-m", "gankit", "train", "--set", f"train.steps={steps}",
           "--set", "train.tensorboard=false"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd + ["--set", f"out_dir='{tmp}/t{threads or 'd'}{i}'"],
                              env=env, stdout=subprocess.DEVNULL) for i in range(2)]
    for p in procs:
        p.wait()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=4, help="seeds in the sweep")
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} at start")
    with tempfile.TemporaryDirectory() as tmp:
        one = sweep(f"{tmp}/j1", 1, args.runs, args.steps)
        two = sweep(f"{tmp}/j2", 2, args.runs, args.steps)
        print(f"sweep of {args.runs} runs x {args.steps} steps: --jobs 1 {one:.1f} s, "
              f"--jobs 2 {two:.1f} s, speed-up {one / two:.2f}x")
        pinned = side_by_side(tmp, args.steps, "1")
        default = side_by_side(tmp, args.steps, "")
        print(f"two runs side by side: one thread each {pinned:.1f} s, torch's default "
              f"threads {default:.1f} s ({default / pinned:.2f}x)")


if __name__ == "__main__":
    main()
