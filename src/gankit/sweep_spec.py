"""A sweep's description and layout on disk: variants, seeds, where each run lives, and
the ``gankit train`` process that starts or resumes one run.

See :mod:`gankit.sweep` for the command; this module only reads and writes the
description (``sweep.json``), finds runs and their last evaluations, and starts a run,
with no torch: an engine's worker (Ray, submitit) imports it to run :func:`run_job`.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .config import ConfigError

SPEC = "sweep.json"


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
        from .checkpoint import atomic_write_bytes  # torch: only where a sweep is described

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
        preset = None if preset == "default" else preset  # the built-in defaults
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
    if not seeds and text.strip().isdigit():  # the count form, N = 0
        raise ConfigError(f"--seeds {text!r} asks for {text.strip()} seeds (N means seeds "
                          f"0..N-1); for seed {text.strip()} alone write "
                          f"{text.strip()}-{text.strip()}")
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


ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def job_command(variant: Variant, seed: int, folder: Path) -> List[str]:
    """The ``gankit train`` command of one run: a new one, or a resume of what is there."""
    run = run_dir_in(folder)
    base = [sys.executable, "-m", "gankit", "train"]
    if run is not None:
        return base + ["--resume", str(run)]
    sets = [f"out_dir='{folder}'", f"seed={seed}", "train.threads=1", *variant.sets]
    return base + ([variant.preset] if variant.preset else []) + \
        [arg for s in sets for arg in ("--set", s)]


def run_job(variant: Variant, seed: int, folder: Path, start=subprocess.Popen) -> int:
    """Run (or resume) one run to its end; its output goes to ``train.log``. ``start``
    makes the process (``subprocess.Popen``'s signature), so that the caller can keep a
    handle on it."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ONE_THREAD}
    with open(folder / "train.log", "a") as log:
        proc = start(job_command(variant, seed, folder), stdout=log,
                     stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        return proc.wait()
