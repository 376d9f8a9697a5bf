"""Where the toy recipe's time goes, and what each change of ``configs/ns_r1_ema.toml``
saves: milliseconds a training step of the recipe as it stood (batch 512, MLPs 128 x 3,
R1 on every D step) and with each change applied in turn (batch 256, D width 64, R1 lazy
on one D step in 4), then the preset as it is now (D width 128 again), timed alternately
in one process (so load hits all alike), one thread, on the ring. ``--profile`` adds
torch's operator table for the current preset; ``--levers`` adds the preset with each
of the changes that would cost time (a wider or deeper D, a larger batch).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_recipe_speed.py [--levers]
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Dict, List

import torch
from steptime import per_step

ROOT = Path(__file__).resolve().parents[1]

# each row: the overrides on top of configs/ns_r1_ema.toml that give that recipe
RECIPES: Dict[str, List[str]] = {
    "before: batch 512, D 128, R1 every step": [
        "data.batch_size=512", "discriminator.width=128", "stabilizers.0.every=1"],
    "batch 256": ["data.batch_size=256", "discriminator.width=128", "stabilizers.0.every=1"],
    "+ D width 64": ["data.batch_size=256", "discriminator.width=64", "stabilizers.0.every=1"],
    "+ R1 lazy, one D step in 4 (the preset until D went back to 128)": [
        "data.batch_size=256", "discriminator.width=64", "stabilizers.0.every=4"],
    "D width 128 again, R1 lazy (the preset, with EMA 0.98 and R1 gamma 0.1)": [
        "data.batch_size=256", "discriminator.width=128", "stabilizers.0.every=4"],
}

# the preset (the last row above) with one costly change each
LEVERS: Dict[str, List[str]] = {
    "the preset, D 256 wide": ["discriminator.width=256"],
    "the preset, D 4 layers deep": ["discriminator.depth=4"],
    "the preset, batch 512": ["data.batch_size=512"],
}


def trainer(sets: List[str]):
    from gankit.components import load_config
    from gankit.train import Trainer

    cfg = load_config(ROOT / "configs" / "ns_r1_ema.toml",
                      ["data.name=ring", "train.eval_every=0", "train.steps=100000"] + sets)
    return Trainer(cfg)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=400, help="timed steps a repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--levers", action="store_true", help="also time LEVERS")
    args = ap.parse_args()
    torch.set_num_threads(1)
    recipes = {**RECIPES, **(LEVERS if args.levers else {})}
    trainers = {name: trainer(sets) for name, sets in recipes.items()}
    times: Dict[str, List[float]] = {name: [] for name in recipes}
    for _ in range(args.repeats):
        for name, t in trainers.items():
            times[name].append(per_step(t.train_step, args.steps, warmup=20))
    base = statistics.median(times[next(iter(recipes))])
    print("| recipe | ms / step | x before | 16,000 steps |\n|---|---|---|---|")
    for name, ts in times.items():
        ms = statistics.median(ts) * 1e3
        print(f"| {name} | {ms:.2f} | {base * 1e3 / ms:.2f} | {ms * 16:.0f} s |")
    if args.profile:
        from torch.profiler import profile

        t = trainers[list(RECIPES)[-1]]  # the preset as it is
        with profile() as p:
            for _ in range(100):
                t.train_step()
        print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
