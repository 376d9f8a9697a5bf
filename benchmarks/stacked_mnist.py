"""StackedMNIST mode-collapse benchmark (Metz et al. 2017; the VEEGAN / PacGAN protocol).

Each variant is a preset from ``configs/``; every (variant, seed) run trains from
scratch on ``stacked_mnist`` for at most ``--minutes`` of wall time (or its
``train.steps``), one run at a time, then draws 26,000 samples from G (its EMA copy when
the preset keeps one) and reports the modes covered of 1,000 and the KL divergence of
the samples' mode histogram to uniform, a sample's mode being the MNIST classifier's
three digits on its channels (:mod:`gankit.metrics.stacked`). The real data scored the
same way is the first row: its KL is what the classifier's errors and the 26,000-sample
histogram leave (a perfect generator with a perfect classifier: 1,000 modes, KL 0.019).
Published numbers beside ours; PacGAN's D is smaller than ours, so their DCGAN row is
the collapse of a weaker net.

    OMP_NUM_THREADS=1 python benchmarks/stacked_mnist.py \\
        --variants dcgan_stacked_mnist,stacked_mnist_r1_ema --seeds 3 --minutes 19
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]

# modes of 1000, KL; Lin et al. (2018), Table 2 (ALI, Unrolled GAN, VEEGAN as they
# report them after Srivastava et al. 2017, Table 2), and Huang et al. (2024), Table 2.
PUBLISHED = [
    ("DCGAN (PacGAN paper, Table 2)", 99, 3.40),
    ("ALI", 16, 5.40),
    ("Unrolled GAN", 48.7, 4.32),
    ("VEEGAN", 150, 2.95),
    ("PacDCGAN2", 1000, 0.06),
    ("RpGAN + R1 + R2 (Huang et al. 2024)", 1000, 0.078),
]


def preset_path(variant: str) -> Path:
    path = Path(variant) if variant.endswith(".toml") else ROOT / "configs" / f"{variant}.toml"
    if not path.is_file():
        raise SystemExit(f"no preset {variant!r}: {path} does not exist")
    return path


def score(samples, dataset) -> Dict[str, Any]:
    """stacked_modes of ``samples`` through the metric protocol."""
    from gankit.metrics.base import get

    return get("stacked_modes").from_samples(samples, SimpleNamespace(dataset=dataset))


def run_one(variant: str, seed: int, minutes: float, n: int, sets: List[str]) -> Dict[str, Any]:
    """Train one (variant, seed) within the time budget, then score ``n`` samples."""
    from gankit.components import load_config
    from gankit.train import Trainer

    trainer = Trainer(load_config(preset_path(variant), [f"seed={seed}"] + sets))
    t0 = time.perf_counter()
    while trainer.step < trainer.cfg.train.steps and time.perf_counter() - t0 < 60 * minutes:
        trainer.train_step()
    seconds = time.perf_counter() - t0
    result = score(trainer.generate(n), trainer.data)
    return {"variant": variant, "seed": seed, "steps": trainer.step, "seconds": seconds,
            **result}


def real_row(n: int) -> Dict[str, Any]:
    """The real StackedMNIST images scored like a generator's samples."""
    from gankit.config import DataConfig
    from gankit.data import build_dataset

    data = build_dataset(DataConfig(name="stacked_mnist"), 0)
    return {"variant": "real data", "seed": 0, "steps": 0, "seconds": 0.0,
            **score(data.reference(n), data)}


def mean_se(values: List[float], digits: int) -> str:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.{digits}f} ± {se:.{digits}f}" if len(values) > 1 else f"{m:.{digits}f}"


def table(rows: List[Dict[str, Any]]) -> List[str]:
    lines = ["| model | seeds | modes of 1000 | KL | steps | min / run |",
             "|---|---|---|---|---|---|"]
    groups: Dict[str, List[Dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["variant"], []).append(r)
    for variant, rs in groups.items():
        lines.append(f"| {variant} | {len(rs)} | {mean_se([r['stacked_modes'] for r in rs], 1)} "
                     f"| {mean_se([r['stacked_kl'] for r in rs], 3)} "
                     f"| {statistics.fmean(r['steps'] for r in rs):.0f} "
                     f"| {statistics.fmean(r['seconds'] for r in rs) / 60:.1f} |")
    lines += ["", "| published | modes of 1000 | KL |", "|---|---|---|"]
    lines += [f"| {name} | {modes} | {kl} |" for name, modes, kl in PUBLISHED]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="dcgan_stacked_mnist,stacked_mnist_r1_ema",
                    help="comma-separated presets from configs/")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=19.0,
                    help="training time per run (19: with sampling and scoring, a run takes 20)")
    ap.add_argument("--n", type=int, default=26_000, help="samples scored per run")
    ap.add_argument("--set", action="append", default=[], help="extra config override")
    ap.add_argument("--no-real", action="store_true", help="skip the real-data row")
    ap.add_argument("--json", help="also write every run's result to this file")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    variants = args.variants.split(",")
    for v in variants:
        preset_path(v)  # fail before training anything
    rows = [] if args.no_real else [real_row(args.n)]
    for v in variants:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = run_one(v, seed, args.minutes, args.n, args.set)
            rows.append(r)
            print(f"  {v} seed {seed}: modes={r['stacked_modes']} kl={r['stacked_kl']:.4f} "
                  f"steps={r['steps']} ({r['seconds']:.0f} s)", flush=True)
    accuracy = rows[-1]["mnist_test_accuracy"] if rows else float("nan")
    print("\n".join(table(rows)))
    print(f"\nMNIST classifier test accuracy {accuracy:.4f}; {args.n} samples per run")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
