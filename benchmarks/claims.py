"""Papers' headline claims, shown on real gankit runs (BENCHMARKS.md, "Papers' claims").

Each subcommand trains with the product (``gankit train``, one thread) and reads the
run's ``metrics.jsonl``:

- ``wgan``: Arjovsky, Chintala & Bottou (2017), Sec. 4.1 and Fig. 3: the critic's
  estimate of the Earth-Mover distance falls as the samples improve, while the
  discriminator loss of the standard GAN says nothing about sample quality (their
  Fig. 4). Over a digits run's evaluations: the Spearman correlation between FID and
  the mean ``em_estimate`` of the training steps before each evaluation, and the same
  for the non-saturating GAN's ``d_loss``.
- ``began``: Berthelot, Schumm & Metz (2017), Sec. 3.4.1 and Fig. 2: M_global falls as
  the samples improve (Spearman with FID over the run's evaluations); Sec. 3.3 and
  Fig. 3: gamma trades diversity for quality (gamma 0.3 / 0.5 / 0.7 against recall and
  coverage, Kynkaenniemi et al. 2019 and Naeem et al. 2020, and precision and FID).
- ``minimax``: Goodfellow et al. (2014), Sec. 3: once D rejects the samples, the
  minimax generator's gradient vanishes and the -log D one's does not (G's gradient
  norm over the first steps of both games from the same D; tests/test_claims.py
  asserts it on a seed).

    python benchmarks/claims.py wgan --steps 2000 --eval-every 100
    python benchmarks/claims.py began --steps 6000 --eval-every 300
    python benchmarks/claims.py minimax
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
GANKIT = [sys.executable, "-m", "gankit"]

# the WGAN paper's algorithm 1 with its defaults (RMSProp 5e-5, clip 0.01, n_critic 5)
WGAN = ["objective.name='wgan'", "objective.clip=0.01", "objective.schedule='constant'",
        "train.d_steps=5", "g_optim.name='rmsprop'", "g_optim.lr=5e-5",
        "d_optim.name='rmsprop'", "d_optim.lr=5e-5"]
# BEGAN on 16 px digits with its own nets and the paper's optimizer (Adam 1e-4)
BEGAN = ["objective.name='began'", "generator.net='began'", "discriminator.net='began'",
         "g_optim.lr=1e-4", "d_optim.lr=1e-4", "g_optim.beta1=0.5", "d_optim.beta1=0.5",
         "train.g_ema=0"]


def train(out: Path, preset: str, sets: List[str]) -> List[dict]:
    """Run ``gankit train`` into the folder ``out`` (a finished run there is reused) and
    return its log."""
    if not (out / "done").exists():
        env = dict(os.environ, OMP_NUM_THREADS="1")
        cmd = GANKIT + ["train", preset, "--set", f"out_dir='{out}'", "--set",
                        "train.threads=1", "--set", "train.tensorboard=false"]
        for s in sets:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        (out / "done").touch()
    log = max(out.glob("*/metrics.jsonl"), key=lambda p: p.stat().st_mtime)
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def paired(log: List[dict], train_key: str, eval_key: str = "fid"
           ) -> Tuple[List[int], List[float], List[float]]:
    """(step, mean of ``train_key`` over the train logs since the previous evaluation,
    ``eval_key`` at the evaluation) for each evaluation after step 0."""
    steps, xs, ys, window = [], [], [], []
    for rec in log:
        if rec["kind"] == "train" and train_key in rec:
            window.append(rec[train_key])
        elif rec["kind"] == "eval" and rec["step"] > 0 and window and eval_key in rec:
            steps.append(rec["step"])
            xs.append(sum(window) / len(window))
            ys.append(rec[eval_key])
            window = []
    return steps, xs, ys


def spearman(x: List[float], y: List[float]) -> float:
    from scipy.stats import spearmanr
    return float(spearmanr(x, y).statistic)


def plot_pairs(path: Path, title: str, series: Dict[str, Tuple[List[int], List[float],
                                                                List[float], str]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.6))
    for ax, (name, (steps, xs, ys, xlabel)) in zip(axes if len(series) > 1 else [axes],
                                                  series.items()):
        ax.plot(steps, ys, "C0-o", ms=3)
        ax.set_yscale("log")
        ax.set_xlabel("generator step")
        ax.set_ylabel("FID (digits features)", color="C0")
        twin = ax.twinx()
        twin.plot(steps, xs, "C3-s", ms=3)
        twin.set_ylabel(xlabel, color="C3")
        ax.set_title(f"{name}: Spearman {spearman(xs, ys):+.2f}")
    fig.suptitle(title)
    fig.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def common(args) -> List[str]:
    return [f"train.steps={args.steps}", f"train.eval_every={args.eval_every}",
            f"train.log_every={max(1, args.eval_every // 4)}",
            f"train.ckpt_every={args.steps}", f"seed={args.seed}"]


def cmd_wgan(args) -> None:
    out = Path(args.out)
    runs = {"WGAN (paper settings)": (train(out / f"wgan-s{args.seed}", "dcgan_digits",
                                            common(args) + WGAN), "em_estimate"),
            "non-saturating GAN": (train(out / f"ns-s{args.seed}", "dcgan_digits",
                                         common(args)), "d_loss")}
    series = {}
    for name, (log, key) in runs.items():
        steps, xs, ys = paired(log, key)
        series[name] = (steps, xs, ys, key)
        print(f"{name:24s} {key:12s} vs FID: Spearman {spearman(xs, ys):+.3f} over "
              f"{len(steps)} evaluations; FID {ys[0]:.1f} -> {ys[-1]:.1f}")
    plot_pairs(FIGURES / "claims_wgan_em_vs_fid.png",
               "Arjovsky et al. 2017: the critic's EM estimate tracks sample quality", series)


def cmd_began(args) -> None:
    out = Path(args.out)
    extra = [f"objective.stall_window={args.stall_window}", "eval.metrics=['fid','prdc']"]
    log = train(out / f"began-s{args.seed}", "dcgan_digits", common(args) + BEGAN + extra)
    steps, xs, ys = paired(log, "M_global")
    print(f"BEGAN gamma 0.5: M_global vs FID: Spearman {spearman(xs, ys):+.3f} over "
          f"{len(steps)} evaluations; FID {ys[0]:.1f} -> {ys[-1]:.1f}; lr scale at the end "
          f"{[r['lr_scale'] for r in log if 'lr_scale' in r][-1]}")
    plot_pairs(FIGURES / "claims_began_mglobal_vs_fid.png",
               "Berthelot et al. 2017: M_global falls as samples improve",
               {"BEGAN, gamma 0.5": (steps, xs, ys, "M_global")})
    print("gamma   FID    precision  recall  density  coverage")
    for gamma in args.gammas:
        if gamma == 0.5:  # the M_global run above
            glog = log
        else:
            glog = train(out / f"began-g{gamma}-s{args.seed}", "dcgan_digits",
                         common(args) + BEGAN + extra + [f"objective.gamma={gamma}"])
        final = [r for r in glog if r["kind"] == "eval"][-1]
        print(f"{gamma:<6} {final['fid']:6.2f} {final['precision']:9.3f} "
              f"{final['recall']:7.3f} {final['density']:8.3f} {final['coverage']:9.3f}")


def cmd_minimax(args) -> None:
    """G's gradient norm per step, both games, after the same D head start."""
    import torch

    from gankit.components import load_config
    from gankit.objectives.minimax import Minimax, NonSaturating
    from gankit.train import Trainer
    torch.set_num_threads(1)
    curves = {}
    optimizers = {"Adam": ["g_optim.name='adam'"],  # the default: Adam 2e-4, beta1 0.5
                  "SGD": ["g_optim.name='sgd'", f"g_optim.lr={args.sgd_lr}"]}
    for (game, loss), (opt, opt_sets) in itertools.product(
            (("minimax", Minimax), ("nonsaturating", NonSaturating)), optimizers.items()):
        t = Trainer(load_config(sets=[f"objective.name='{game}'", f"seed={args.seed}",
                                      "data.batch_size=256"] + opt_sets))
        obj = loss(loss.Options())
        for _ in range(args.head_start):
            t.d_step()
        norms = []
        for _ in range(args.g_steps):
            fake = t.G(t.sample_z(t.cfg.data.batch_size))
            value, _ = obj.g_loss(t.d_view, fake, None)
            grads = torch.autograd.grad(value, list(t.G.parameters()))
            norms.append(float(torch.sqrt(sum((g ** 2).sum() for g in grads))))
            t.train_step()
        curves[f"{game}, G by {opt}"] = norms
        print(f"{game:14s} G by {opt:4s} first steps:",
              " ".join(f"{v:.3g}" for v in norms[:8]))
        print(f"{game:14s} G by {opt:4s} |grad G| first {norms[0]:.3g}, mean of the first 10 "
              f"{sum(norms[:10]) / 10:.3g}, step {args.g_steps}: {norms[-1]:.3g}")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for game, norms in curves.items():
        ax.semilogy(range(len(norms)), norms, label=game)
    ax.set_xlabel(f"generator step (after {args.head_start} D steps)")
    ax.set_ylabel("||grad of G's loss||")
    ax.set_title("Goodfellow et al. 2014: log(1 - D) saturates, -log D does not")
    ax.legend()
    fig.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    fig.savefig(FIGURES / "claims_minimax_gradient.png", dpi=110)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="claim", required=True)
    for name in ("wgan", "began"):
        q = sub.add_parser(name)
        q.add_argument("--steps", type=int, default=2000)
        q.add_argument("--eval-every", type=int, default=100)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--out", default="runs/claims")
    sub.choices["began"].add_argument("--stall-window", type=int, default=1000)
    sub.choices["began"].add_argument("--gammas", type=float, nargs="+",
                                      default=[0.3, 0.5, 0.7])
    q = sub.add_parser("minimax")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--head-start", type=int, default=150)
    q.add_argument("--g-steps", type=int, default=200)
    q.add_argument("--sgd-lr", type=float, default=0.05)
    args = p.parse_args(argv)
    {"wgan": cmd_wgan, "began": cmd_began, "minimax": cmd_minimax}[args.claim](args)


if __name__ == "__main__":
    main()
