"""gankit's training step vs a hand-written PyTorch loop of the same nets and losses.

Both train the non-saturating GAN on the 8-Gaussian ring with the same MLPs (width 128,
depth 3, ReLU), batch size, Adam settings and mixture sampling; the hand loop runs once
with torch's fused Adam (what gankit uses) and once with torch's default Adam. Timings
alternate between the two in one process; the median of the repeats is reported.

    python benchmarks/loop_overhead.py [--steps 500] [--repeats 7] [--threads 1]
"""
from __future__ import annotations

import argparse
import math

import torch
from steptime import hand_step, race  # benchmarks/steptime.py
from torch import nn

from gankit.components import load_config
from gankit.train import Trainer


def mlp(d_in: int, width: int, depth: int, d_out: int) -> nn.Sequential:
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return nn.Sequential(*layers, nn.Linear(d, d_out))


class HandLoop:
    """What a user would write without gankit."""

    def __init__(self, batch: int, z_dim: int = 16, width: int = 128, depth: int = 3,
                 fused: bool = False):
        torch.manual_seed(0)
        self.G, self.D = mlp(z_dim, width, depth, 2), mlp(2, width, depth, 1)
        kw = {"fused": True} if fused else {}  # default: torch's for-loop Adam on the CPU
        self.g_opt = torch.optim.Adam(self.G.parameters(), 1e-3, betas=(0.5, 0.999), **kw)
        self.d_opt = torch.optim.Adam(self.D.parameters(), 1e-3, betas=(0.5, 0.999), **kw)
        angles = torch.arange(8) * (2 * math.pi / 8)
        self.centres = torch.stack([angles.cos(), angles.sin()], 1)
        self.rng = torch.Generator().manual_seed(0)
        self.batch, self.z_dim = batch, z_dim

    def real(self) -> torch.Tensor:
        idx = torch.randint(8, (self.batch,), generator=self.rng)
        return self.centres[idx] + 0.01 * torch.randn(self.batch, 2, generator=self.rng)

    def noise(self) -> torch.Tensor:
        return torch.randn(self.batch, self.z_dim, generator=self.rng)

    def step(self) -> None:
        hand_step(self.G, self.D, self.D, self.g_opt, self.d_opt, self.real, self.noise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    trainer = Trainer(load_config(sets=[f"data.batch_size={args.batch}", "seed=0"]))
    print(f"batch {args.batch}, {args.threads} thread(s), median of {args.repeats} x "
          f"{args.steps} steps")
    # gankit uses torch's fused Adam (optim.fused = true). Against the same optimizer in
    # the hand loop the difference is gankit's plumbing; against torch's default Adam it
    # is what a user gains or loses by switching to gankit.
    for label, fused in (("fused Adam", True), ("default Adam", False)):
        hand = HandLoop(args.batch, fused=fused)
        o, h = race(trainer.train_step, hand.step, args.steps, args.repeats, warmup=20)
        print(f"hand-written loop, {label}: {h * 1e3:.3f} ms/step ({1 / h:.0f} steps/s); "
              f"gankit Trainer: {o * 1e3:.3f} ms/step ({1 / o:.0f} steps/s); "
              f"gankit/hand = {o / h:.3f} ({100 * (o / h - 1):+.1f}%)")


if __name__ == "__main__":
    main()
