"""``gankit sweep``: variants x seeds, run in parallel, summarised with intervals.

A variant is a preset (a config file; none = the built-in defaults) with ``--set``
overrides; ``--axis key=v1,v2`` multiplies the variants by the values of one key.
Every (variant, seed) is an ordinary ``gankit train`` run in its own folder of the
sweep directory, started as a separate process with one thread (``--jobs`` at once),
so a sweep killed at any point resumes where it stopped: finished runs are kept,
unfinished ones continue from their newest checkpoint (exact resume), missing ones
start. The table gives, per variant and metric of the runs' last evaluation, the mean
over seeds with a 95% Student t interval, and each variant's paired difference from a
baseline variant (:mod:`gankit.intervals`).

Layout of a sweep directory::

    sweep.json                      the variants, seeds and baseline
    runs/<variant>/seed-<s>/        out_dir of that run (its run directory inside)
    runs/<variant>/seed-<s>/train.log
    table.md, results.json          written at the end
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List

from .checkpoint import atomic_write_bytes
from .config import ConfigError
from .html_report import sweep_page
from .sweep_spec import (
    SPEC,
    SweepSpec,
    Variant,
    expand,
    is_finished,
    parse_seeds,
    run_dir_in,
    seed_dir,
)
from .sweep_table import collect, format_table, summarise, sweep_figures

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ---------------------------------------------------------------- running

def job_command(variant: Variant, seed: int, folder: Path) -> List[str]:
    """The ``gankit train`` command of one run: a new one, or a resume of what is there."""
    run = run_dir_in(folder)
    base = [sys.executable, "-m", "gankit", "train"]
    if run is not None:
        return base + ["--resume", str(run)]
    sets = [f"out_dir='{folder}'", f"seed={seed}", "train.threads=1", *variant.sets]
    return base + ([variant.preset] if variant.preset else []) + \
        [arg for s in sets for arg in ("--set", s)]


def run_job(variant: Variant, seed: int, folder: Path) -> int:
    """Run (or resume) one run to its end; its output goes to ``train.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ONE_THREAD}
    with open(folder / "train.log", "a") as log:
        done = subprocess.run(job_command(variant, seed, folder), stdout=log,
                              stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    return done.returncode


def pending(spec: SweepSpec, path: Path) -> List[tuple]:
    """(variant, seed, folder) of every run that has not finished."""
    out = []
    for variant in spec.variants:
        for seed in spec.seeds:
            folder = seed_dir(path, variant, seed)
            run = run_dir_in(folder) if folder.is_dir() else None
            if run is None or not is_finished(run):
                out.append((variant, seed, folder))
    return out


def run_local(jobs: List[tuple], workers: int, report) -> List[tuple]:
    """Run jobs as child processes, ``workers`` at a time; returns the failed ones."""
    failed = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_job, *job): job for job in jobs}
        for future, job in futures.items():
            code = future.result()
            report(job, code)
            if code != 0:
                failed.append(job)
    return failed


def run_engine(engine: str, jobs: List[tuple], workers: int, report) -> List[tuple]:
    """The local process pool (default), a Ray cluster or SLURM through submitit."""
    if engine == "local":
        return run_local(jobs, workers, report)
    if engine == "ray":
        try:
            import ray
        except ImportError:
            raise ConfigError("--engine ray needs Ray: pip install 'gankit[ray]'") from None
        ray.init(ignore_reinit_error=True)
        remote = ray.remote(num_cpus=1)(run_job)
        codes = ray.get([remote.remote(*job) for job in jobs])
    elif engine == "slurm":
        try:
            import submitit
        except ImportError:
            raise ConfigError("--engine slurm needs submitit: pip install submitit") from None
        executor = submitit.AutoExecutor(folder=str(jobs[0][2].parents[2] / "slurm"))
        executor.update_parameters(cpus_per_task=1, timeout_min=24 * 60)
        codes = [j.result() for j in executor.map_array(run_job, *zip(*jobs))]
    else:
        raise ConfigError(f"unknown engine {engine!r}; valid: local, ray, slurm")
    for job, code in zip(jobs, codes):
        report(job, code)
    return [job for job, code in zip(jobs, codes) if code != 0]


# ---------------------------------------------------------------- command

def add_sweep_parser(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="variants x seeds in parallel, a table with "
                              "95%% intervals and paired comparisons")
    p.add_argument("presets", nargs="*", help="presets or config files ('default' or none: "
                   "the built-in defaults)")
    p.add_argument("--axis", action="append", default=[], metavar="KEY=V1,V2",
                   help="multiply the variants by these values of KEY (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every variant (repeatable)")
    p.add_argument("--seeds", default="3", help="N (0..N-1), A-B, or a comma list")
    p.add_argument("--baseline", help="variant to compare the others with, paired by seed")
    p.add_argument("--out", help="sweep directory (default sweeps/<time>)")
    p.add_argument("--resume", metavar="SWEEP_DIR", help="finish a killed sweep")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="runs at once, one thread each")
    p.add_argument("--engine", default="local", choices=("local", "ray", "slurm"))
    p.set_defaults(func=cmd_sweep)


def _new_spec(args) -> tuple:
    from .components import load_config  # checks every variant's keys and values

    variants = expand(args.presets, args.axis, args.set)
    spec = SweepSpec(variants, parse_seeds(args.seeds), args.baseline)
    for v in variants:
        load_config(v.preset, [*v.sets, f"seed={spec.seeds[0]}"])
    if args.baseline and args.baseline not in [v.name for v in variants]:
        raise ConfigError(f"--baseline {args.baseline!r} is not a variant; variants: "
                          + ", ".join(v.name for v in variants))
    import time

    path = Path(args.out or f"sweeps/{time.strftime('%Y%m%d-%H%M%S')}")
    if (path / SPEC).exists():
        raise ConfigError(f"{path} already holds a sweep; continue it with --resume {path}")
    if path.exists() and any(path.iterdir()):
        raise ConfigError(f"--out {path}: exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)
    spec.save(path)
    return spec, path


def cmd_sweep(args) -> int:
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {args.jobs}")
    if args.resume:
        if args.presets or args.axis or args.set or args.out:
            raise ConfigError("--resume continues a sweep as it was described; give no "
                              "presets, --axis, --set or --out with it")
        path = Path(args.resume)
        spec = SweepSpec.load(path)
    else:
        spec, path = _new_spec(args)
    jobs = pending(spec, path)
    total = len(spec.variants) * len(spec.seeds)
    print(f"sweep {path}: {total} runs, {total - len(jobs)} finished, {len(jobs)} to run "
          f"({args.jobs} at a time)", flush=True)
    count = [total - len(jobs)]

    def report(job, code):
        count[0] += code == 0
        state = "done" if code == 0 else f"FAILED (exit {code}; see {job[2] / 'train.log'})"
        print(f"  [{count[0]}/{total}] {job[0].name} seed {job[1]}: {state}", flush=True)

    failed = run_engine(args.engine, jobs, args.jobs, report) if jobs else []
    summary = summarise(spec, collect(spec, path))
    table = format_table(summary)
    atomic_write_bytes(path / "results.json", (json.dumps(summary, indent=1) + "\n").encode())
    atomic_write_bytes(path / "table.md", table.encode())
    page = sweep_page(path, sweep_figures(spec, path))
    print(table + f"\nwritten: {path / 'table.md'}, {path / 'results.json'}\n"
          f"report: {page}")
    if failed:
        print(f"error: {len(failed)} run(s) failed; fix the cause and run "
              f"gankit sweep --resume {path}", file=sys.stderr)
        return 1
    return 0
