"""Mode-collapse benchmark on the 2D ring and grid (VEEGAN / PacGAN protocol).

Each variant is a preset from ``configs/`` (``default`` = gankit's built-in defaults).
Every (variant, data set, seed) run trains from scratch, then draws 2,500 samples and
reports modes covered, % high-quality samples (within 3 std of a mode), the KL
divergence of the HQ samples' mode distribution to uniform, and the HQ samples' spread
around their mode relative to the data's (1 = the data's width, below 1 = narrower).
The table gives mean +- standard error over seeds and the wall time per run, beside the
published numbers.

    python benchmarks/toy_modes.py --variants default,minimax --data ring,grid --seeds 5
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]

# Published results with the same protocol (modes / HQ % / KL).
# None: not reported there.
PUBLISHED = [
    ("GAN (PacGAN paper, Lin et al. 2018)", "ring", 6.3, 98.2, 0.45),
    ("PacGAN4 (Lin et al. 2018)", "ring", 7.8, 95.9, 0.07),
    ("VEEGAN (Srivastava et al. 2017)", "ring", 8.0, 52.9, None),
    ("GAN (VEEGAN paper, Srivastava et al. 2017)", "ring", 1.0, None, None),
    ("GAN (PacGAN paper, Lin et al. 2018)", "grid", 17.3, 94.8, 0.70),
    ("PacGAN4 (Lin et al. 2018)", "grid", 24.8, 93.6, 0.04),
    ("VEEGAN (Srivastava et al. 2017)", "grid", 24.6, 40.0, None),
]


def preset_path(variant: str) -> Optional[Path]:
    if variant == "default":
        return None
    path = Path(variant)
    if path.suffix != ".toml":
        path = ROOT / "configs" / f"{variant}.toml"
    if not path.is_file():
        raise SystemExit(f"no preset {variant!r}: {path} does not exist")
    return path


def run_one(job: Dict[str, Any]) -> Dict[str, Any]:
    """Train one (variant, data, seed) and evaluate it; runs in a worker process."""
    import torch

    from gankit.components import load_config
    from gankit.train import Trainer

    torch.set_num_threads(1)
    sets = [f"data.name='{job['data']}'", f"seed={job['seed']}"] + job["sets"]
    if job["steps"]:
        sets.append(f"train.steps={job['steps']}")
    trainer = Trainer(load_config(preset_path(job["variant"]), sets))
    t0 = time.perf_counter()
    while trainer.step < trainer.cfg.train.steps:
        trainer.train_step()
    seconds = time.perf_counter() - t0
    result, _ = trainer.evaluate()
    return {**job, **result, "seconds": seconds, "steps_run": trainer.step}


def mean_se(values: List[float], digits: int = 2) -> str:
    if not values:
        return "n/a"
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def summarise(rows: List[Dict[str, Any]]) -> List[str]:
    lines = ["| variant | data | seeds | modes | HQ % | KL | spread | s / run |",
             "|---|---|---|---|---|---|---|---|"]
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["variant"], r["data"]), []).append(r)
    for (variant, data), rs in groups.items():
        kls = [r["kl"] for r in rs if r["kl"] is not None]
        missing = len(rs) - len(kls)
        kl = mean_se(kls, 4) + (f" ({missing} run(s) without HQ samples)" if missing else "")
        spread = mean_se([r["spread"] for r in rs if r.get("spread") is not None])
        lines.append(f"| {variant} | {data} | {len(rs)} | {mean_se([r['modes'] for r in rs])} "
                     f"| {mean_se([r['hq'] for r in rs])} | {kl} | {spread} "
                     f"| {statistics.fmean(r['seconds'] for r in rs):.1f} |")
    return lines


def published(datasets: List[str]) -> List[str]:
    lines = ["", "| published | data | modes | HQ % | KL |", "|---|---|---|---|---|"]
    for name, data, modes, hq, kl in PUBLISHED:
        if data in datasets:
            cells = ["—" if v is None else str(v) for v in (modes, hq, kl)]
            lines.append(f"| {name} | {data} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="default,minimax",
                    help="comma-separated presets from configs/ ('default' = built-ins)")
    ap.add_argument("--data", default="ring,grid")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="override train.steps (0 = preset)")
    ap.add_argument("--set", action="append", default=[], help="extra config override")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write every run's result to this file")
    args = ap.parse_args()
    datasets = args.data.split(",")
    jobs = [{"variant": v, "data": d, "seed": s, "steps": args.steps, "sets": args.set}
            for v in args.variants.split(",") for d in datasets for s in range(args.seeds)]
    for job in jobs:
        preset_path(job["variant"])  # fail before starting any run
    t0 = time.time()
    with mp.get_context("spawn").Pool(args.jobs) as pool:
        rows = []
        for r in pool.imap(run_one, jobs):
            rows.append(r)
            print(f"  {r['variant']} {r['data']} seed {r['seed']}: modes={r['modes']} "
                  f"hq={r['hq']:.1f} kl={r['kl']} spread={r['spread']} ({r['seconds']:.0f}s)",
                  flush=True)
    print("\n".join(summarise(rows) + published(datasets)))
    print(f"\n{len(rows)} runs in {time.time() - t0:.0f} s with {args.jobs} processes")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
