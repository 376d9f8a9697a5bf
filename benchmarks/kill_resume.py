"""Kill -9 at random steps, resume, and check the run ends bit-identical.

For each scenario (the ring toy, and digits with DCGAN nets) one uninterrupted reference
run is made; then each trial starts the same run in a child process that SIGKILLs
itself either at a random training step or in the middle of writing a random
checkpoint (after the temporary file is written, before the rename), resumes it with
``gankit train --resume`` and compares every tensor of the final checkpoint (weights,
optimizer state) with the reference. The reference run also measures the cost of
checkpointing as a fraction of training time.

    python benchmarks/kill_resume.py [--trials 20] [--steps 200] [--ckpt-every 20]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

import torch

from gankit.checkpoint import load_checkpoint

SCENARIOS = {
    "ring": [],
    # configs/dcgan_digits.toml's settings, EMA of G included
    "digits": ["data.name='digits'", "data.size=16", "data.batch_size=64",
               "generator.net='dcgan'", "generator.width=32", "generator.z_dim=64",
               "discriminator.net='dcgan'", "discriminator.width=32",
               "g_optim.lr=2e-4", "d_optim.lr=2e-4", "train.g_ema=0.999"],
}

# Child process: run gankit's CLI in-process, SIGKILL itself at the chosen point, and
# (reference runs) report the time spent saving checkpoints.
CHILD = r"""
import json, os, signal, sys, time
import gankit.checkpoint as ck
import gankit.train as tr
mode, at = sys.argv[1], int(sys.argv[2])
if mode == "save":
    real_replace = ck.os.replace
    def replace(src, dst):
        if str(dst).endswith(f"ckpt-{at:09d}.safetensors"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)
    ck.os.replace = replace
if mode == "step":
    real_step = tr.Trainer.train_step
    def step(self):
        if self.step == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_step(self)
    tr.Trainer.train_step = step
spent = [0.0]
real_save = ck.CheckpointManager.save
def save(self, *a, **k):
    t0 = time.perf_counter()
    try:
        return real_save(self, *a, **k)
    finally:
        spent[0] += time.perf_counter() - t0
ck.CheckpointManager.save = save
t0 = time.perf_counter()
from gankit.cli import main
code = main(sys.argv[3:])
print("TIMING " + json.dumps({"total": time.perf_counter() - t0, "save": spent[0]}))
sys.exit(code)
"""

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def train_args(out: Path, steps: int, every: int, extra: List[str]) -> List[str]:
    sets = [f"out_dir='{out}'", f"train.steps={steps}", f"train.ckpt_every={every}",
            "train.keep_ckpts=3", "train.eval_every=0", "train.tensorboard=false",
            "train.log_every=50"] + extra
    return ["train"] + sum([["--set", s] for s in sets], [])


def child(mode: str, at: int, args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, mode, str(at)] + args, env=ENV,
                          capture_output=True, text=True)


def final(run: Path, steps: int) -> Dict:
    return load_checkpoint(run / "checkpoints" / f"ckpt-{steps:09d}.safetensors")


def flat(state: Dict) -> torch.Tensor:
    parts = []

    def walk(obj):
        if isinstance(obj, torch.Tensor):
            parts.append(obj.reshape(-1).double())
        elif isinstance(obj, dict):
            for key in sorted(obj, key=str):
                walk(obj[key])
        elif isinstance(obj, (list, tuple)):
            for v in obj:
                walk(v)

    for key in ("G", "D", "g_opt", "d_opt", "G_ema", "objective", "stabilizers", "rng"):
        walk(state.get(key))
    return torch.cat(parts)


def trial(name: str, extra: List[str], ref: torch.Tensor, args, rng, tmp: Path) -> Dict:
    out = tmp / f"{name}-{rng.random():.9f}"
    mode = rng.choice(["step", "save"])
    at = (rng.randrange(1, args.steps // args.ckpt_every) * args.ckpt_every if mode == "save"
          else rng.randrange(1, args.steps))
    killed = child(mode, at, train_args(out, args.steps, args.ckpt_every, extra))
    (run,) = list(out.iterdir())
    resumed = subprocess.run([sys.executable, "-m", "gankit", "train", "--resume", str(run)],
                             env=ENV, capture_output=True, text=True)
    ok = (killed.returncode == -9 and resumed.returncode == 0
          and torch.equal(flat(final(run, args.steps)), ref))
    return {"scenario": name, "kill": mode, "at": at, "identical": bool(ok),
            "error": "" if resumed.returncode == 0 else resumed.stderr[-300:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20, help="per scenario")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=20)
    ap.add_argument("--scenarios", default="ring,digits")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios.split(","):
            extra = SCENARIOS[name]
            ref_out = Path(tmp) / f"{name}-ref"
            proc = child("none", -1, train_args(ref_out, args.steps, args.ckpt_every, extra))
            assert proc.returncode == 0, proc.stderr[-2000:]
            timing = json.loads(proc.stdout.rsplit("TIMING ", 1)[1])
            ref = flat(final(next(ref_out.iterdir()), args.steps))
            rows = [trial(name, extra, ref, args, rng, Path(tmp)) for _ in range(args.trials)]
            results += rows
            same = sum(r["identical"] for r in rows)
            saves = sum(r["kill"] == "save" for r in rows)
            print(f"{name}: {same}/{len(rows)} bit-identical after kill -9 + resume "
                  f"({saves} killed during a checkpoint write); checkpointing every "
                  f"{args.ckpt_every} steps cost {100 * timing['save'] / timing['total']:.2f}% "
                  f"of the run's time ({timing['save']:.2f} s of {timing['total']:.1f} s)",
                  flush=True)
            for r in rows:
                if not r["identical"]:
                    print("  differs:", r)


if __name__ == "__main__":
    main()
