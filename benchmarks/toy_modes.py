"""Mode-collapse benchmark on the 2D ring and grid (VEEGAN / PacGAN protocol), as a sweep.

Each variant is a preset (``default`` = gankit's built-in defaults), run on each data set
with each seed by ``gankit sweep`` (one thread per run, ``--jobs`` at once); every run's
last evaluation draws 2,500 samples (protocol ``modes2500``) and reports modes covered,
% high-quality samples (within 3 std of a mode), the KL divergence of the HQ samples'
mode distribution to uniform, and their spread around the mode relative to the data's
(1 = the data's width). The sweep's table gives means with 95% intervals over seeds and
paired differences from the first variant; the published numbers are printed beside.
A killed benchmark resumes with ``--resume SWEEP_DIR``.

    python benchmarks/toy_modes.py --variants nonsaturating,ns_r1_ema --data ring,grid --seeds 10
"""
from __future__ import annotations

import argparse
import sys
import time

from gankit.cli import main as gankit

# Published results with the same protocol (modes / HQ % / KL); None: not reported.
PUBLISHED = [
    ("GAN (PacGAN paper, Lin et al. 2018)", "ring", 6.3, 98.2, 0.45),
    ("PacGAN4 (Lin et al. 2018)", "ring", 7.8, 95.9, 0.07),
    ("VEEGAN (Srivastava et al. 2017)", "ring", 8.0, 52.9, None),
    ("GAN (VEEGAN paper, Srivastava et al. 2017)", "ring", 1.0, None, None),
    ("GAN (PacGAN paper, Lin et al. 2018)", "grid", 17.3, 94.8, 0.70),
    ("PacGAN4 (Lin et al. 2018)", "grid", 24.8, 93.6, 0.04),
    ("VEEGAN (Srivastava et al. 2017)", "grid", 24.6, 40.0, None),
]


def published(datasets) -> str:
    lines = ["| published | data | modes | HQ % | KL |", "|---|---|---|---|---|"]
    for name, data, modes, hq, kl in PUBLISHED:
        if data in datasets:
            cells = ["—" if v is None else str(v) for v in (modes, hq, kl)]
            lines.append(f"| {name} | {data} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_args(args) -> list:
    variants = args.variants.split(",")
    argv = ["sweep", *variants, "--axis", f"data.name={args.data}", "--seeds", str(args.seeds),
            "--jobs", str(args.jobs), "--baseline", f"{variants[0]},data.name="
            f"{args.data.split(',')[0]}",
            "--out", args.out or f"sweeps/toy_modes-{time.strftime('%Y%m%d-%H%M%S')}"]
    sets = list(args.set) + ([f"train.steps={args.steps}"] if args.steps else [])
    return argv + [a for s in sets for a in ("--set", s)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="default,minimax",
                    help="comma-separated presets ('default' = built-ins); the first is the "
                    "baseline of the paired comparisons")
    ap.add_argument("--data", default="ring,grid")
    ap.add_argument("--seeds", default="5", help="N, A-B or a comma list (gankit sweep --seeds)")
    ap.add_argument("--steps", type=int, default=0, help="override train.steps (0 = preset)")
    ap.add_argument("--set", action="append", default=[], help="extra config override")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", help="sweep directory (default sweeps/toy_modes-<time>)")
    ap.add_argument("--resume", metavar="SWEEP_DIR", help="finish a killed benchmark")
    args = ap.parse_args()
    t0 = time.time()
    code = gankit(["sweep", "--resume", args.resume, "--jobs", str(args.jobs)] if args.resume
                  else sweep_args(args))
    print("\n" + published(args.data.split(",")))
    print(f"\nwall time {time.time() - t0:.0f} s with {args.jobs} processes")
    return code


if __name__ == "__main__":
    sys.exit(main())
