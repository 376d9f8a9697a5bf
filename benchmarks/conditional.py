"""Class-conditional GANs: the real data's own scores, and per-class tables of runs.

``floor``: the class metrics of real images, the held-out test split standing for a
generator's samples (each test image "asked for" its own label), next to the
unconditional FID / KID / IS of the same images; the best a conditional generator can
score under the same protocol (as many samples a class as a run's evaluation).

``classes``: the per-class values (class_hq, class_acc or intra_fid ``_by_class``) of
the last evaluation of every run under a folder (a sweep's), mean and min over seeds.

    .venv/bin/python benchmarks/conditional.py floor --data digits --size 16
    .venv/bin/python benchmarks/conditional.py floor --data mnist5k --per-class 100
    .venv/bin/python benchmarks/conditional.py classes runs/cond_grid --key class_hq
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from gankit.components import load_config
from gankit.data import build_dataset
from gankit.metrics.training import Evaluator
from gankit.nets.conditional import requested_classes


class _Asked:
    """A trainer stand-in: sample i was asked for class i mod K."""

    def __init__(self, k: int):
        self.k = k

    def sample_classes(self, n: int) -> torch.Tensor:
        return requested_classes(n, self.k)


def interleaved_test_images(data, per_class: int) -> torch.Tensor:
    """``per_class`` test images of each class (0: as many as the smallest class has),
    image i of class i mod K."""
    x, y = data.test_set()
    k = data.num_classes
    per_class = per_class or int(torch.bincount(y, minlength=k).min())
    parts = []
    for c in range(k):
        idx = (y == c).nonzero().flatten()
        if len(idx) < per_class:
            raise SystemExit(f"class {c} has {len(idx)} test images, fewer than {per_class}")
        parts.append(x[idx[:per_class]])
    return torch.stack(parts, 1).reshape(k * per_class, *x.shape[1:])


def floor(args) -> None:
    sets = [f"data.name='{args.data}'"] + ([f"data.size={args.size}"] if args.size else [])
    data = build_dataset(load_config(sets=sets).data, seed=0)
    samples = interleaved_test_images(data, args.per_class)
    names = ["fid", "kid", "is", "class_acc", "intra_fid"]
    result = Evaluator(names, data).evaluate(_Asked(data.num_classes), samples)
    print(f"{args.data}: test split, {len(samples) // data.num_classes} a class "
          f"({len(samples)} images)")
    for key, value in result.items():
        print(f"  {key} = {value if isinstance(value, list) else round(value, 3)}")


def last_evals(folder: Path) -> List[Dict]:
    rows = []
    for path in sorted(folder.rglob("metrics.jsonl")):
        evals = [json.loads(line) for line in path.read_text().splitlines()
                 if '"kind": "eval"' in line]
        if evals:
            rows.append({**evals[-1], "run": str(path.parent)})
    return rows


def classes(args) -> None:
    rows = [r for r in last_evals(Path(args.folder)) if f"{args.key}_by_class" in r]
    groups: Dict[str, List[Dict]] = {}
    for row in rows:  # group by the variant folder (the parent of seed-N)
        variant = str(Path(row["run"]).parent.parent)
        groups.setdefault(variant, []).append(row)
    for variant, group in sorted(groups.items()):
        table = np.array([r[f"{args.key}_by_class"] for r in group])
        overall = np.array([r[args.key] for r in group])
        print(f"{variant}: {len(group)} runs; {args.key} mean {overall.mean():.2f}, min over "
              f"runs {overall.min():.2f}; worst class of a run: {table.min():.2f}")
        print("  per class, mean over runs: " + ", ".join(f"{v:.1f}" for v in table.mean(0)))
        print("  per class, min over runs:  " + ", ".join(f"{v:.1f}" for v in table.min(0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("floor")
    f.add_argument("--data", default="digits")
    f.add_argument("--size", type=int, default=0)
    f.add_argument("--per-class", type=int, default=0,
                   help="test images a class (default: the smallest class's count)")
    f.set_defaults(func=floor)
    c = sub.add_parser("classes")
    c.add_argument("folder")
    c.add_argument("--key", default="class_hq")
    c.set_defaults(func=classes)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.func(args)


if __name__ == "__main__":
    main()
