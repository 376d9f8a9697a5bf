"""DCGAN on digits: images per second through gankit's Trainer vs a hand-written loop.

Both train the non-saturating GAN with the same DCGAN nets (built by gankit's
``dcgan`` family, so the architectures and initial weights are identical), the same
batch size, Adam settings and 16x16 digits held in memory. The hand-written loop is
what a user would write without gankit: a random permutation per epoch, one D step on
BCE(real, 1) + BCE(fake, 0), one G step on BCE(D(G(z)), 1) with D frozen. Timings
alternate between the two in one process; the median of the repeats is reported.
Images per second count the real and generated images of both steps (4 x batch).

    python benchmarks/image_throughput.py [--steps 60] [--repeats 5] [--threads 1]
"""
from __future__ import annotations

import argparse

import torch
from steptime import hand_step, race  # benchmarks/steptime.py

from gankit.components import load_config
from gankit.data.images import to_unit_range
from gankit.nets import build_net
from gankit.train import Trainer

PRESET = "configs/dcgan_digits.toml"


class HandLoop:
    """The same nets, trained by plain PyTorch."""

    def __init__(self, trainer: Trainer):
        cfg = trainer.cfg
        torch.manual_seed(0)
        self.G = build_net("generator", cfg.generator, trainer.data.shape)
        self.D = build_net("discriminator", cfg.discriminator, trainer.data.shape)
        adam = dict(lr=cfg.g_optim.lr, betas=(cfg.g_optim.beta1, cfg.g_optim.beta2))
        self.g_opt = torch.optim.Adam(self.G.parameters(), **adam)
        self.d_opt = torch.optim.Adam(self.D.parameters(), **adam)
        self.images = trainer.data.images.clone()
        self.batch, self.z_dim = cfg.data.batch_size, self.G.z_dim
        self.rng = torch.Generator().manual_seed(0)
        self.perm, self.pos = torch.randperm(len(self.images), generator=self.rng), 0

    def real(self) -> torch.Tensor:
        if self.pos + self.batch > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.images), generator=self.rng), 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return to_unit_range(self.images[idx])

    def noise(self) -> torch.Tensor:
        return torch.randn(self.batch, self.z_dim, generator=self.rng)

    def step(self) -> None:
        hand_step(self.G, self.D, lambda x: self.D(x)[0], self.g_opt, self.d_opt,
                  self.real, self.noise)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ema", type=float, default=0.0, help="train.g_ema for gankit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    trainer = Trainer(load_config(PRESET, ["seed=0", f"train.g_ema={args.ema}"]))
    hand = HandLoop(trainer)
    o, h = race(trainer.train_step, hand.step, args.steps, args.repeats, warmup=5)
    images = 4 * trainer.cfg.data.batch_size
    print(f"DCGAN width {trainer.cfg.generator.options['width']}, "
          f"{trainer.data.shape[1]} px digits, batch {trainer.cfg.data.batch_size}, "
          f"{args.threads} thread(s), g_ema {args.ema}, median of {args.repeats} x "
          f"{args.steps} steps")
    print(f"hand-written loop: {h * 1e3:.1f} ms/step ({images / h:.0f} images/s)")
    print(f"gankit Trainer:    {o * 1e3:.1f} ms/step ({images / o:.0f} images/s)")
    print(f"overhead: {100 * (o / h - 1):+.1f}%  (ratio gankit/hand = {o / h:.3f}; "
          "goal <= 5 %)")


if __name__ == "__main__":
    main()
