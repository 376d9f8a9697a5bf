"""``gankit sweep``: variants x seeds, run in parallel, summarised with intervals.

A variant is a preset (a config file; none = the built-in defaults) with ``--set``
overrides; ``--axis key=v1,v2`` multiplies the variants by the values of one key.
Every (variant, seed) is an ordinary ``gankit train`` run in its own folder of the
sweep directory, started as a separate process with one thread (``--jobs`` at once):
a child of this process (the default), a Ray task (``--engine ray``), or a task of a
SLURM job array through submitit (``--engine slurm``). So a sweep killed at any point
resumes where it stopped, with any engine: finished runs are kept, unfinished ones
continue from their newest checkpoint (exact resume), missing ones start. The table
gives, per variant and metric of the runs' last evaluation, the mean over seeds with a
95% Student t interval, and each variant's paired difference from a baseline variant
(:mod:`gankit.intervals`).

Layout of a sweep directory::

    sweep.json                      the variants, seeds and baseline
    runs/<variant>/seed-<s>/        out_dir of that run (its run directory inside)
    runs/<variant>/seed-<s>/train.log
    table.md, results.json          written at the end
    slurm/                          submitit's job files and logs (--engine slurm)
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, Optional

from .checkpoint import atomic_write_bytes
from .config import ConfigError
from .errors import Terminated
from .html_report import sweep_page
from .sweep_spec import (
    SPEC,
    SweepSpec,
    expand,
    is_finished,
    parse_seeds,
    run_dir_in,
    run_job,
    seed_dir,
)
from .sweep_table import collect, format_table, summarise, sweep_figures

# ---------------------------------------------------------------- running

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


class Children:
    """The runs' processes, so that a sweep that is stopped stops them too: a run left
    going would train on unseen and race the ``--resume`` that finishes the sweep."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: List[subprocess.Popen] = []
        self.stopping = False

    def start(self, command, **kwargs) -> subprocess.Popen:
        with self.lock:
            if self.stopping:
                raise RuntimeError("the sweep is stopping; no new run starts")
            proc = subprocess.Popen(command, **kwargs)
            self.procs.append(proc)
            return proc

    def stop(self) -> int:
        """SIGTERM every run still going (each saves a checkpoint at the end of its step
        and exits) and wait for them; returns how many were stopped."""
        with self.lock:
            self.stopping = True
            live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            proc.wait()
        return len(live)


def run_local(jobs: List[tuple], workers: int, report) -> None:
    """Run jobs as child processes of this one, ``workers`` at a time. A Ctrl-C or a
    SIGTERM of the sweep stops the runs going (at a checkpoint) before it exits."""
    children = Children()

    def terminate(signum, frame):
        raise Terminated()

    claim = (threading.current_thread() is threading.main_thread()
             and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    if claim:
        signal.signal(signal.SIGTERM, terminate)
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(run_job, *job, children.start): job for job in jobs}
        for future, job in futures.items():
            report(job, future.result())
    except (KeyboardInterrupt, Terminated):
        if claim:  # a second SIGTERM must not cut the wait for the runs' checkpoints short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pool.shutdown(wait=False, cancel_futures=True)
        stopped = children.stop()
        print(f"sweep stopped; {stopped} run(s) going were stopped at a checkpoint "
              f"(gankit sweep --resume finishes it)", file=sys.stderr, flush=True)
        raise
    finally:
        pool.shutdown(wait=True)
        if claim:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


# ---------------------------------------------------------------- other engines

ENGINE_NAMES = {"local": "", "ray": ", on Ray", "slurm": ", through submitit"}
ENGINE_MODULES = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}  # module, extra


def import_engine(engine: str):
    """The module behind ``--engine`` (None for local), or one line on how to install it."""
    if engine == "local":
        return None
    module, extra = ENGINE_MODULES[engine]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"--engine {engine} needs {module}, which is not installed: "
                          f"pip install 'gankit[{extra}]'") from None


def run_ray(jobs: List[tuple], workers: int, report, address: Optional[str]) -> None:
    """Each run is a Ray task of one CPU, at most ``workers`` at once. Without an address
    a new local Ray instance of ``workers`` CPUs is started, and shut down at the end."""
    ray = import_engine("ray")
    started = not ray.is_initialized()
    address = address or os.environ.get("RAY_ADDRESS")
    if started and address:
        ray.init(address=address, log_to_driver=False)
    elif started:
        ray.init(address="local", num_cpus=workers, include_dashboard=False,
                 log_to_driver=False)
    task = ray.remote(num_cpus=1)(run_job)
    queue, running = list(jobs), {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                job = queue.pop(0)
                running[task.remote(*job)] = job
            (ref,), _ = ray.wait(list(running), num_returns=1)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                outcome = f"Ray: {type(exc).__name__}"
            report(running.pop(ref), outcome)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def slurm_parameters(args) -> dict:
    """submitit's parameters from the ``--slurm-*`` options: one CPU per run (one thread)."""
    extra = {}
    for item in args.slurm_param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--slurm-param {item!r}: expected KEY=VALUE (an sbatch option)")
        extra[key.strip()] = value.strip()
    if args.slurm_time is not None and args.slurm_time < 1:
        raise ConfigError(f"--slurm-time must be >= 1 minute, got {args.slurm_time}")
    params = {"name": "gankit-sweep", "cpus_per_task": 1, "timeout_min": args.slurm_time or 240,
              "mem_gb": args.slurm_mem, "slurm_partition": args.slurm_partition,
              "slurm_additional_parameters": extra}
    return {k: v for k, v in params.items() if v is not None}


def submit_slurm(jobs: List[tuple], workers: int, folder: Path, params: dict,
                 cluster: str) -> list:
    """Submit the runs as one SLURM job array through submitit, ``workers`` running at
    once; its job files and logs go to ``folder``. submitit's ``local`` and ``debug``
    clusters stand in for SLURM on this machine (they start every run at once, and one
    after another in this process, respectively)."""
    submitit = import_engine("slurm")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    executor.update_parameters(slurm_array_parallelism=workers, **params)
    return executor.map_array(run_job, *zip(*jobs))


def run_submitit(jobs: List[tuple], workers: int, report, folder: Path, params: dict,
                 cluster: str) -> None:
    """Submit the runs (:func:`submit_slurm`) and report each as it ends; on Ctrl-C the
    jobs are cancelled (a SIGKILL of this process leaves them running)."""
    from submitit.core.utils import UncompletedJobError

    submitted = submit_slurm(jobs, workers, folder, params, cluster)
    try:
        for job, sub in zip(jobs, submitted):
            try:
                outcome = sub.result()
            except UncompletedJobError as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                outcome = f"{cluster} job {sub.job_id}: {first[:200]}"
            report(job, outcome)
    except KeyboardInterrupt:
        for sub in submitted:
            sub.cancel(check=False)
        raise


def check_engine(args) -> None:
    """Refuse an engine that cannot run here, or options of another engine, before
    anything is written."""
    import_engine(args.engine)
    slurm_given = (args.slurm_partition or args.slurm_time is not None or args.slurm_mem
                   or args.slurm_param or args.slurm_cluster != "slurm")
    if args.ray_address and args.engine != "ray":
        raise ConfigError(f"--ray-address is for --engine ray, not --engine {args.engine}")
    if slurm_given and args.engine != "slurm":
        raise ConfigError(f"the --slurm-* options are for --engine slurm, not --engine "
                          f"{args.engine}")
    if args.engine == "slurm":
        slurm_parameters(args)
        if args.slurm_cluster == "slurm" and shutil.which("srun") is None:
            raise ConfigError("--engine slurm: no SLURM on this machine (srun not found); "
                              "--slurm-cluster local runs the runs through submitit here")


def run_engine(args, path: Path, jobs: List[tuple], report) -> None:
    """The local process pool (default), a Ray cluster, or SLURM through submitit."""
    if args.engine == "ray":
        run_ray(jobs, args.jobs, report, args.ray_address)
    elif args.engine == "slurm":
        run_submitit(jobs, args.jobs, report, path.resolve() / "slurm", slurm_parameters(args),
                     args.slurm_cluster)
    else:
        run_local(jobs, args.jobs, report)


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
    p.add_argument("--engine", default="local", choices=("local", "ray", "slurm"),
                   help="local: child processes of this one (default); ray: Ray tasks "
                   "(gankit[ray]); slurm: a SLURM job array through submitit (gankit[slurm])")
    g = p.add_argument_group("--engine ray")
    g.add_argument("--ray-address", metavar="ADDRESS", help="the Ray cluster to use "
                   "(default $RAY_ADDRESS; unset: a new local Ray instance of --jobs CPUs)")
    g = p.add_argument_group("--engine slurm (one CPU per run; --jobs runs at once)")
    g.add_argument("--slurm-partition", metavar="NAME", help="the partition to submit to")
    g.add_argument("--slurm-time", type=int, metavar="MINUTES",
                   help="time limit of each run (default 240); a run cut by it continues "
                   "with --resume")
    g.add_argument("--slurm-mem", type=float, metavar="GB", help="memory of each run")
    g.add_argument("--slurm-param", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. account=X, qos=Y (repeatable)")
    g.add_argument("--slurm-cluster", default="slurm", choices=("slurm", "local", "debug"),
                   help="local, debug: submitit's stand-ins that run the jobs on this "
                   "machine (all at once, or one after another in this process)")
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
    check_engine(args)
    if args.resume:
        if args.presets or args.axis or args.set or args.out:
            raise ConfigError("--resume continues a sweep as it was described; give no "
                              "presets, --axis, --set or --out with it")
        path = Path(args.resume)
        spec = SweepSpec.load(path)
    else:
        spec, path = _new_spec(args)
    jobs = pending(spec, path.resolve())  # absolute: an engine's workers may start elsewhere
    total = len(spec.variants) * len(spec.seeds)
    print(f"sweep {path}: {total} runs, {total - len(jobs)} finished, {len(jobs)} to run "
          f"({args.jobs} at a time{ENGINE_NAMES[args.engine]})", flush=True)
    count, failed = [total - len(jobs)], []

    def report(job, outcome):
        """One line per finished run; ``outcome`` is its exit code or the engine's error."""
        count[0] += outcome == 0
        why = f"exit {outcome}" if isinstance(outcome, int) else outcome
        state = "done" if outcome == 0 else f"FAILED ({why}; see {job[2] / 'train.log'})"
        print(f"  [{count[0]}/{total}] {job[0].name} seed {job[1]}: {state}", flush=True)
        if outcome != 0:
            failed.append(job)

    if jobs:
        run_engine(args, path, jobs, report)
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
