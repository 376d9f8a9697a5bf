"""How far small changes of real digits move FID with the MNIST classifier's features.

The 1,000 mnist5k test digits, each change applied to all of them, scored against the
4,000 training digits (the floor's counts, BENCHMARKS.md "Image quality on MNIST"):
unchanged, Gaussian pixel noise, a 1-pixel shift, binarisation, a 3x3 binomial blur,
thicker strokes (3x3 max filter), and 1,000 training digits instead (what a generator
that memorised its data would score). It says how large an FID gap a generator's small
stroke errors make, i.e. what "within 2x of the floor" asks.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mnist_fid_sensitivity.py
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.data.images import to_unit_range
from gankit.data.mnist5k import mnist5k_split
from gankit.metrics.extract import Needs, make_extractor
from gankit.metrics.fid import fid


def changes(test: torch.Tensor, train: torch.Tensor) -> dict:
    g = torch.Generator().manual_seed(0)
    k = torch.tensor([0.25, 0.5, 0.25])
    blur = (k[:, None] * k[None]).view(1, 1, 3, 3)

    def noisy(std: float) -> torch.Tensor:
        return (test + std * torch.randn(test.shape, generator=g)).clamp(-1, 1)
    return {
        "unchanged (the floor)": test,
        "Gaussian noise, std 0.05": noisy(0.05),
        "Gaussian noise, std 0.2": noisy(0.2),
        "shifted 1 px to the right": torch.roll(test, 1, dims=3),
        "binarised at mid-grey": torch.where(test > 0, 1.0, -1.0),
        "3x3 binomial blur": F.conv2d(test, blur, padding=1).clamp(-1, 1),
        "strokes thickened (3x3 max filter)": F.max_pool2d(test, 3, 1, 1),
        "1,000 training digits instead": train[:1000],
    }


def main() -> None:
    torch.set_num_threads(1)
    # the extractor of `gankit eval --features mnist`, every set read as [-1, 1]
    extract, _ = make_extractor("mnist", 500, needs=Needs(True, False, False),
                                ranges={"real": "-1,1", "fake": "-1,1"})
    train, _, test, _ = mnist5k_split()
    train, test = to_unit_range(train), to_unit_range(test)
    reference = extract(train.numpy(), "real").feats
    print("| the 1,000 test digits | FID vs 4,000 train |\n|---|---|")
    for name, x in changes(test, train).items():
        print(f"| {name} | {fid(reference, extract(x.numpy(), 'fake').feats):.2f} |")


if __name__ == "__main__":
    main()
