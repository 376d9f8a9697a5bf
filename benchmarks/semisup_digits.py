"""Semi-supervised digits: the K+1 GAN vs the same discriminator trained on the labels only.

Salimans et al. (2016), Sec. 5, on the data we have offline: scikit-learn's digits
(8x8), the fixed 1,297 / 500 train / test split of ``data.name = "digits"``, 10 labels
per class drawn from the seed. Both arms use the Improved-GAN discriminator
(nets/improved_gan.py: weight norm, Gaussian noise), Adam lr 0.003 beta1 0.5, batches
of 100, and the same number of discriminator updates on the same labelled subset:

- GAN: ``configs/semisup_digits.toml`` (L_supervised + L_unsupervised, feature-matching G);
- baseline: cross-entropy on the labelled batches alone.

Reports the test error (%) per seed, mean +- std, and the relative reduction, beside
the paper's MNIST figure (93 +- 6.5 errors of 10,000 with 100 labels).

    python benchmarks/semisup_digits.py [--seeds 5] [--steps 600] [--threads 1]
    python benchmarks/semisup_digits.py --baseline-only --baseline-lr 0.001 --baseline-steps 1200
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from gankit.components import load_config
from gankit.objectives.semisup import TestAccuracy
from gankit.train import Trainer, make_optimizer

PRESET = "configs/semisup_digits.toml"


def gan_error(seed: int, steps: int) -> float:
    trainer = Trainer(load_config(PRESET, [f"seed={seed}", f"train.steps={steps}"]))
    for _ in range(steps):
        trainer.train_step()
    return TestAccuracy().from_trainer(trainer, trainer.evaluator)["test_error"]


def baseline_error(seed: int, steps: int, lr: float = 0.0) -> float:
    """The same D (architecture, init seed, optimiser, labels) without the GAN terms;
    ``lr`` > 0 replaces the GAN's learning rate (to check the baseline is not starved)."""
    sets = [f"seed={seed}", f"train.steps={steps}"] + ([f"d_optim.lr={lr}"] if lr else [])
    trainer = Trainer(load_config(PRESET, sets))
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


def baseline_sweep(args: argparse.Namespace) -> None:
    steps = args.baseline_steps or args.steps
    errors = [baseline_error(seed, steps, args.baseline_lr) for seed in range(args.seeds)]
    print(summary(f"labels only, lr {args.baseline_lr or 0.003}, {steps} steps", errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-only", action="store_true",
                        help="run only the labels-only arm (for the sweep below)")
    parser.add_argument("--baseline-lr", type=float, default=0.0,
                        help="baseline learning rate (0 = the GAN's 0.003)")
    parser.add_argument("--baseline-steps", type=int, default=0,
                        help="baseline updates (0 = --steps)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.baseline_only:
        return baseline_sweep(args)
    gan, base = [], []
    t0 = time.time()
    for seed in range(args.seeds):
        gan.append(gan_error(seed, args.steps))
        base.append(baseline_error(seed, args.steps))
        print(f"seed {seed}: GAN {gan[-1]:.1f} %  labels-only {base[-1]:.1f} %  "
              f"({time.time() - t0:.0f} s)", flush=True)
    print(f"\ndigits, 10 labels per class, {args.steps} D updates, {args.seeds} seeds; "
          f"test error % on 500 images (mean +- std, then per seed)")
    print(summary("K+1 GAN (feature matching)", gan))
    print(summary("labels only, same D", base))
    cut = 1 - statistics.mean(gan) / statistics.mean(base)
    print(f"relative error reduction: {100 * cut:.0f} % (goal: >= 30 %)")
    print("paper (Salimans et al. 2016, Table 1), MNIST, 100 labels: 93 +- 6.5 errors "
          "of 10,000 = 0.93 +- 0.065 %")


if __name__ == "__main__":
    main()
