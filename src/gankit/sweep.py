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

import itertools
import json
import math
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .checkpoint import atomic_write_bytes
from .config import ConfigError
from .html_report import sweep_page
from .intervals import format_interval, paired, t_interval
from .metrics.protocol import check_comparable

SPEC = "sweep.json"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


@dataclass
class Variant:
    name: str
    preset: Optional[str] = None
    sets: List[str] = field(default_factory=list)


@dataclass
class SweepSpec:
    variants: List[Variant]
    seeds: List[int]
    baseline: Optional[str] = None

    def save(self, path: Path) -> None:
        atomic_write_bytes(path / SPEC, (json.dumps(asdict(self), indent=1) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> "SweepSpec":
        file = path / SPEC
        if not file.is_file():
            raise ConfigError(f"{str(path)!r} is not a sweep directory (no {SPEC} in it)")
        try:
            raw = json.loads(file.read_text())
            return cls([Variant(**v) for v in raw["variants"]], list(raw["seeds"]),
                       raw.get("baseline"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{file}: not a valid sweep description ({exc})") from None


def parse_axis(text: str) -> List[str]:
    """``key=v1,v2`` -> [``key=v1``, ``key=v2``] (values are TOML, as in ``--set``)."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise ConfigError(f"--axis {text!r}: expected KEY=VALUE1,VALUE2,...")
    return [f"{key.strip()}={v.strip()}" for v in values.split(",") if v.strip()]


def expand(presets: List[Optional[str]], axes: List[str], sets: List[str]) -> List[Variant]:
    """Every preset times every combination of the axes' values."""
    combos = list(itertools.product(*[parse_axis(a) for a in axes])) or [()]
    out = []
    for preset in presets or [None]:
        stem = Path(preset).stem if preset else "default"
        for combo in combos:
            name = ",".join([stem, *combo])
            out.append(Variant(name, preset, [*sets, *combo]))
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"two variants share a name: {names}; give distinct presets")
    return out


def parse_seeds(text: str) -> List[int]:
    """``10`` -> 0..9; ``3-7`` -> 3..7; ``0,4,9`` -> those."""
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",")]
        elif "-" in text.strip("-"):
            lo, hi = (int(s) for s in text.split("-"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected N, A-B or a comma list") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: no seeds, or a seed twice")
    return seeds


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "_", name)


def seed_dir(path: Path, variant: Variant, seed: int) -> Path:
    return path / "runs" / slug(variant.name) / f"seed-{seed}"


def run_dir_in(folder: Path) -> Optional[Path]:
    """The run directory inside a run's out_dir, if it was created."""
    found = sorted(p for p in folder.glob("*") if (p / "config.toml").is_file())
    return found[-1] if found else None


def last_eval(run: Path) -> Optional[Dict[str, Any]]:
    """The last evaluation row of a run's metrics.jsonl (None if it has none)."""
    file = run / "metrics.jsonl"
    if not file.is_file():
        return None
    rows = []
    for line in file.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut by a kill: the run resumes and rewrites it
            continue
    evals = [r for r in rows if r.get("kind") == "eval"]
    return evals[-1] if evals else None


def is_finished(run: Path) -> bool:
    from .config import read_config  # light: no torch

    row = last_eval(run)
    return row is not None and row["step"] >= read_config(run / "config.toml").train.steps


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


# ---------------------------------------------------------------- the table

def collect(spec: SweepSpec, path: Path) -> Dict[str, Dict[int, Dict[str, Any]]]:
    """variant -> seed -> the last evaluation of that run (finished runs only)."""
    out: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for variant in spec.variants:
        for seed in spec.seeds:
            folder = seed_dir(path, variant, seed)
            run = run_dir_in(folder) if folder.is_dir() else None
            if run is not None and is_finished(run):
                out.setdefault(variant.name, {})[seed] = last_eval(run)
    return out


def _values(rows: Dict[int, Dict[str, Any]], key: str) -> Dict[int, float]:
    return {s: float(r[key]) for s, r in rows.items()
            if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])}


def metric_keys(results: Dict[str, Dict[int, Dict[str, Any]]]) -> List[str]:
    keys = []
    for rows in results.values():
        for row in rows.values():
            for k, v in row.items():
                if k not in ("step", "kind", "time") and isinstance(v, (int, float)) \
                        and k not in keys:
                    keys.append(k)
    return keys


def check_protocols(results: Dict[str, Dict[int, Dict[str, Any]]], keys: List[str]) -> None:
    """Refuse a column whose values were measured under different protocols."""
    for key in keys:
        entries = []
        for variant, rows in results.items():
            for seed, row in rows.items():
                name = (row.get("protocol") or {}).get(key)
                if name is not None:
                    details = (row.get("protocol_details") or {}).get(name, {"name": name})
                    entries.append((f"{variant} seed {seed}", details))
        check_comparable(key, entries)


def summarise(spec: SweepSpec, results) -> Dict[str, Any]:
    """Per variant and metric: mean, 95% interval, n; paired differences to the baseline."""
    keys, out = metric_keys(results), {"variants": {}, "baseline": spec.baseline}
    check_protocols(results, keys)
    base_rows = results.get(spec.baseline or "", {})
    for variant in spec.variants:
        rows, entry = results.get(variant.name, {}), {}
        for key in keys:
            values = _values(rows, key)
            if not values:
                continue
            cell = {"interval": t_interval(list(values.values()))._asdict(),
                    "seeds": sorted(values)}
            if spec.baseline and variant.name != spec.baseline:
                cmp = paired(values, _values(base_rows, key))
                if cmp is not None:
                    cell["vs_baseline"] = {"diff": cmp.diff._asdict(), "p": cmp.p_value}
            entry[key] = cell
        out["variants"][variant.name] = entry
    return out


def format_table(summary: Dict[str, Any]) -> str:
    """Markdown: one row per variant, each metric as mean [95% interval]; then the
    paired differences from the baseline."""
    variants = summary["variants"]
    keys = list(dict.fromkeys(k for e in variants.values() for k in e))
    lines = ["| variant | seeds | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for name, entry in variants.items():
        n = max((len(c["seeds"]) for c in entry.values()), default=0)
        cells = [format_interval(_iv(entry[k]["interval"])) if k in entry else "—"
                 for k in keys]
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " |")
    base = summary.get("baseline")
    if base:
        lines += ["", f"Paired by seed, variant - {base} (mean [95% interval], p):", "",
                  "| variant | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for name, entry in variants.items():
            if name == base:
                continue
            cells = [_paired_cell(entry.get(k, {}).get("vs_baseline")) for k in keys]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def sweep_figures(spec: SweepSpec, path: Path) -> Dict[str, Path]:
    """{variant: the sample figure of its first finished seed}."""
    out = {}
    for variant in spec.variants:
        for seed in spec.seeds:
            folder = seed_dir(path, variant, seed)
            run = run_dir_in(folder) if folder.is_dir() else None
            figure = run / "plots" / "samples_evolution.png" if run else None
            if figure is not None and figure.is_file():
                out[variant.name] = figure
                break
    return out


def report_sweep(path: Path) -> Path:
    """Rewrite a finished sweep's table and report page (``gankit report SWEEP``)."""
    spec = SweepSpec.load(path)
    summary = summarise(spec, collect(spec, path))
    atomic_write_bytes(path / "results.json", (json.dumps(summary, indent=1) + "\n").encode())
    atomic_write_bytes(path / "table.md", format_table(summary).encode())
    return sweep_page(path, sweep_figures(spec, path))


def _iv(d: Dict[str, Any]):
    from .intervals import Interval

    return Interval(**d)


def _paired_cell(cmp: Optional[Dict[str, Any]]) -> str:
    if cmp is None:
        return "—"
    p = "" if math.isnan(cmp["p"]) else f", p = {cmp['p']:.2g}"
    return format_interval(_iv(cmp["diff"])) + p


# ---------------------------------------------------------------- command

def add_sweep_parser(subparsers) -> None:
    p = subparsers.add_parser("sweep", help="variants x seeds in parallel, a table with "
                              "95%% intervals and paired comparisons")
    p.add_argument("presets", nargs="*", help="config files (none: the built-in defaults)")
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
