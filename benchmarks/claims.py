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
  Fig. 3: gamma trades diversity for quality (gamma 0.3 / 0.5 / 0.7 / 1 against recall
  and coverage, Kynkaenniemi et al. 2019 and Naeem et al. 2020, and precision and FID;
  a figure of each gamma's samples beside them).
- ``minimax``: Goodfellow et al. (2014), Sec. 3: once D rejects the samples, the
  minimax generator's gradient vanishes and the -log D one's does not (G's gradient
  norm over the first steps of both games from the same D; tests/test_claims.py
  asserts it on a seed).
- ``vanishing``: Arjovsky & Bottou (2017), "Towards Principled Methods for Training
  GANs": when the data and the samples lie on disjoint low-dimensional supports, D
  trained against a fixed G becomes perfect and the minimax generator's gradient
  vanishes (Sec. 2.2, Theorem 2.4; their Fig. 2); instance noise on D's inputs makes
  the two distributions overlap and keeps it (Sec. 3, Theorem 3.2). D alone is trained
  from scratch against fixed generators, with and without the ``instance_noise``
  stabilizer, and G's gradient norms, D's input gradient at G(z) and D's accuracy are
  probed at log-spaced D steps (tests/test_claims.py asserts it on a seed).

    python benchmarks/claims.py wgan --steps 2000 --eval-every 100
    python benchmarks/claims.py began --steps 3000 --eval-every 250
    python benchmarks/claims.py minimax
    python benchmarks/claims.py vanishing
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

HERE = Path(__file__).resolve().parent
FIGURES = HERE / "figures"
GANKIT = [sys.executable, "-m", "gankit"]

# the WGAN paper's algorithm 1 with its defaults (RMSProp 5e-5, clip 0.01, n_critic 5)
WGAN = ["objective.name='wgan'", "objective.clip=0.01", "objective.schedule='constant'",
        "train.d_steps=5", "g_optim.name='rmsprop'", "g_optim.lr=5e-5",
        "d_optim.name='rmsprop'", "d_optim.lr=5e-5"]
# BEGAN on 16 px digits: configs/digits/began_ema_digits.toml, scored on the trained G
# itself (no EMA), whose M_global the run logs, with the paper's k_t control (no floor
# on k_t: the claims are the paper's), and the paper's L1 error (eta 1) with the common
# BEGAN code's Adam beta (0.5, 0.999), where the preset tuned both for FID; G at the
# recipe's width of 32, with which the claims were shown (the preset widens it to 128)
BEGAN_PRESET = "began_ema_digits"
# Arjovsky & Bottou's setting on the ring: 8 modes of std 1e-4 (a 0-dimensional support
# at the scale of the nets) and z of dimension 1, so G's support is a curve in the plane
VANISHING = ["data.name='ring'", "data.std=0.0001", "generator.z_dim=1"]


def run_dir_of(out: Path) -> Path:
    """The run folder ``train`` left under ``out`` (the latest, whose log ``train`` reads)."""
    return max(out.glob("*/metrics.jsonl"), key=lambda p: p.stat().st_mtime).parent


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
    log = run_dir_of(out) / "metrics.jsonl"
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


def plot_gammas(path: Path, seed: int, rows: List[Tuple[float, dict, Path]]) -> None:
    """Berthelot et al.'s Fig. 3 on digits: 64 samples of each gamma's G from one fixed
    noise (left to right, gamma rising), and beside them precision, recall, density and
    coverage of the last evaluation against gamma."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from gankit.grids import tile
    from gankit.sample import generate, load_generator
    fig, axes = plt.subplots(1, len(rows) + 1, figsize=(3.2 * (len(rows) + 1), 3.6))
    for ax, (gamma, final, run) in zip(axes, rows):
        G, _, _ = load_generator(str(run), raw=True)
        x = generate(G, 64, torch.Generator().manual_seed(0), "cpu", 64, None, None)
        ax.imshow(tile(x.cpu(), nrow=8), cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"gamma {gamma:g}: FID {final['fid']:.1f}\n"
                     f"precision {final['precision']:.2f}, recall {final['recall']:.2f}",
                     fontsize=9)
        ax.axis("off")
    ax = axes[-1]
    gammas = [g for g, _, _ in rows]
    for key, style in (("precision", "C3-o"), ("recall", "C0-s"), ("density", "C1--^"),
                       ("coverage", "C2--v")):
        ax.plot(gammas, [f[key] for _, f, _ in rows], style, ms=4, label=key)
    ax.set_xlabel("gamma")
    ax.set_xticks(gammas)
    ax.set_ylim(0, max(1.05, max(f["density"] for _, f, _ in rows) * 1.05))  # density can pass 1
    ax.legend(fontsize=8)
    ax.set_title("last evaluation, digits features", fontsize=9)
    fig.suptitle(f"Berthelot et al. 2017: gamma trades diversity for quality (seed {seed})")
    fig.tight_layout()
    FIGURES.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_began(args) -> None:
    from gankit.components import load_config
    out = Path(args.out)
    preset_gamma = load_config(BEGAN_PRESET, sets=args.set).objective.options["gamma"]
    extra = [f"objective.stall_window={args.stall_window}", "eval.metrics=['fid','prdc']",
             "train.g_ema=0", "objective.k_min=0", "objective.eta=1",
             "g_optim.beta1=0.5", "g_optim.beta2=0.999", "d_optim.beta1=0.5",
             "d_optim.beta2=0.999", "generator.width=32"] + args.set
    suffix = "" if args.seed == 0 else f"_s{args.seed}"
    first = out / f"began-s{args.seed}"
    log = train(first, BEGAN_PRESET, common(args) + extra)
    steps, xs, ys = paired(log, "M_global")
    print(f"BEGAN gamma {preset_gamma}: M_global vs FID: Spearman {spearman(xs, ys):+.3f} "
          f"over {len(steps)} evaluations; FID {ys[0]:.1f} -> {ys[-1]:.1f}")
    plot_pairs(FIGURES / f"claims_began_mglobal_vs_fid{suffix}.png",
               "Berthelot et al. 2017: M_global falls as samples improve",
               {f"BEGAN, gamma {preset_gamma}": (steps, xs, ys, "M_global")})
    print("gamma   FID    precision  recall  density  coverage")
    rows = []
    for gamma in sorted(args.gammas):
        if gamma == preset_gamma:  # the M_global run above
            glog, gout = log, first
        else:
            gout = out / f"began-g{gamma}-s{args.seed}"
            glog = train(gout, BEGAN_PRESET, common(args) + extra + [f"objective.gamma={gamma}"])
        final = [r for r in glog if r["kind"] == "eval"][-1]
        rows.append((gamma, final, run_dir_of(gout)))
        print(f"{gamma:<6} {final['fid']:6.2f} {final['precision']:9.3f} "
              f"{final['recall']:7.3f} {final['density']:8.3f} {final['coverage']:9.3f}")
    if len(rows) > 1:
        plot_gammas(FIGURES / f"claims_began_gamma{suffix}.png", args.seed, rows)


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


def fixed_generator(sets: List[str], g_steps: int) -> Dict[str, Any]:
    """G's weights after ``g_steps`` steps of the game of ``sets`` (0: G at initialisation)."""
    from gankit.components import load_config
    from gankit.train import Trainer
    t = Trainer(load_config(sets=sets))
    for _ in range(g_steps):
        t.train_step()
    return {k: v.clone() for k, v in t.G.state_dict().items()}


def norm_of(tensors) -> float:
    return float(sum((g.double() ** 2).sum() for g in tensors) ** 0.5)


def probe(t, z, real) -> Dict[str, float]:
    """What G would get from D now, for the fixed z and real batches, through D as the loop
    sees it (instance noise included): ||grad_theta|| of E log(1 - D(G(z))) (minimax) and
    of -E log D(G(z)), the mean over G(z) of ||grad_x D(x)|| and of ||grad_x logit D(x)||,
    D(G(z)), and D's accuracy on the real and generated batch (threshold 1/2). The
    stabilizers' RNG is restored afterwards, so probing does not change the run."""
    import torch

    from gankit.objectives.base import single_logit
    from gankit.objectives.minimax import Minimax, NonSaturating
    states = [s.state_dict() for s in t.stabilizers]
    fake = t.G(z)
    out = {}
    for key, game in (("g_minimax", Minimax), ("g_logd", NonSaturating)):
        loss, _ = game(game.Options()).g_loss(t.d_view, fake, None)
        out[key] = norm_of(torch.autograd.grad(loss, list(t.G.parameters()), retain_graph=True))
    x = fake.detach().requires_grad_(True)
    logit = single_logit(t.d_view(x)[0])
    dx = torch.autograd.grad(logit.sum(), [x])[0].norm(dim=1)  # per sample: D has no batch coupling
    d = logit.detach().sigmoid()
    real_logit = single_logit(t.d_view(real)[0]).detach()
    out.update(dx_D=float((d * (1 - d) * dx).mean()), dx_logit=float(dx.mean()),
               d_fake=float(d.mean()),
               acc=float(((real_logit > 0).float().mean() + (d < 0.5).float().mean()) / 2))
    for s, state in zip(t.stabilizers, states):
        s.load_state_dict(state)
    return out


def train_d_alone(sets: List[str], g_state, sigma: float, points: Sequence[int],
                  n_probe: int = 2048) -> List[Dict[str, float]]:
    """D trained from scratch (the game's D loss, Adam as configured) against the fixed G
    ``g_state``, with instance noise of fixed std ``sigma`` on D's inputs (0: none; no G
    step is taken, so the stabilizer's annealing never starts); a :func:`probe` at each
    D step count in ``points``, on one fixed batch of ``n_probe`` z and real examples.
    ``gap`` is the mean distance from a sample G(z) to the nearest real example."""
    import torch

    from gankit.components import load_config
    from gankit.train import Trainer
    noise = ([f"stabilizers=[{{name='instance_noise', sigma0={sigma}, steps=1000000000}}]"]
             if sigma > 0 else [])
    t = Trainer(load_config(sets=sets + ["objective.name='minimax'"] + noise))
    t.G.load_state_dict(g_state)
    z = torch.randn(n_probe, t.G.z_dim, generator=torch.Generator().manual_seed(t.cfg.seed))
    real = t.data.sample(n_probe)
    with torch.no_grad():  # how far G's samples are from the data: the gap noise must bridge
        gap = float(torch.cdist(t.G(z), real).min(dim=1).values.mean())
    records, done = [], 0
    for n in sorted(points):
        for _ in range(n - done):
            t.d_step()
        done = n
        records.append(dict(d_steps=n, gap=gap, **probe(t, z, real)))
    return records


def log_points(last: int) -> List[int]:
    """0 and 1, 3, 10, 30, ... up to ``last`` (included)."""
    points = [0] + [m * 10 ** e for e in range(9) for m in (1, 3) if m * 10 ** e < last]
    return points + [last]


def fall(records: List[Dict[str, float]], key: str = "g_minimax") -> Tuple[float, int, float]:
    """(largest value over the probes, the D step where it was, largest / last)."""
    top = max(records, key=lambda r: r[key])
    return top[key], top["d_steps"], top[key] / records[-1][key]


def plot_vanishing(path: Path, runs: Dict[Tuple[int, float], List[Dict[str, float]]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = (("g_minimax", "||grad_theta E log(1 - D(G(z)))||"),
              ("g_logd", "||grad_theta -E log D(G(z))||"),
              ("dx_D", "mean ||grad_x D(x)|| at G(z)"), ("acc", "D's accuracy"))
    g_list, sigmas = sorted({g for g, _ in runs}), sorted({s for _, s in runs})
    styles = ("-", "--", ":", "-.")
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    for ax, (key, label) in zip(axes.flat, panels):
        for (g, sigma), recs in runs.items():
            ax.plot([r["d_steps"] for r in recs], [r[key] for r in recs],
                    color=f"C{g_list.index(g)}", ls=styles[sigmas.index(sigma) % 4], marker=".",
                    label=f"G after {g} steps, " + (f"noise {sigma}" if sigma else "no noise"))
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("linear" if key == "acc" else "log")
        ax.set_xlabel("D steps against the fixed G")
        ax.set_ylabel(label)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(g_list), fontsize=8)
    fig.suptitle("Arjovsky & Bottou 2017: a perfect D leaves G no gradient; "
                 "instance noise keeps it")
    fig.tight_layout(rect=(0, 0.04 * len(sigmas), 1, 1))
    FIGURES.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_vanishing(args) -> None:
    """D alone against fixed generators, with and without instance noise."""
    import torch
    torch.set_num_threads(1)
    points, runs = log_points(args.d_steps), {}
    print("seed  G steps  noise  D steps  acc    D(G(z))  |g minimax|  |g -log D|  "
          "|dD/dx|   |dlogit/dx|")
    for seed in args.seeds:
        sets = VANISHING + [f"seed={seed}", f"out_dir='{args.out}'", "train.tensorboard=false"]
        for g_steps in args.g_steps:
            g_state = fixed_generator(sets, g_steps)
            for sigma in args.sigmas:
                recs = train_d_alone(sets, g_state, sigma, points)
                runs[seed, g_steps, sigma] = recs
                for r in recs:
                    print(f"{seed:<5} {g_steps:<8} {sigma:<6} {r['d_steps']:<8} "
                          f"{r['acc']:.3f}  {r['d_fake']:.2e} {r['g_minimax']:11.3g} "
                          f"{r['g_logd']:11.3g} {r['dx_D']:9.3g} {r['dx_logit']:11.3g}")
    print("\nminimax |grad G|: at D step 0, largest (at D step), last, largest / last; "
          "mean distance of G(z) to the nearest real example")
    for (seed, g_steps, sigma), recs in runs.items():
        top, at, ratio = fall(recs)
        print(f"seed {seed} G {g_steps:<5} noise {sigma:<4} {recs[0]['g_minimax']:.3g}  "
              f"{top:.3g} ({at})  {recs[-1]['g_minimax']:.3g}  {ratio:.3g}x  "
              f"gap {recs[0]['gap']:.3f}")
    if args.figure:
        plot_vanishing(FIGURES / args.figure,
                       {(g, s): r for (seed, g, s), r in runs.items() if seed == args.seeds[0]})


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="claim", required=True)
    for name in ("wgan", "began"):
        q = sub.add_parser(name)
        q.add_argument("--steps", type=int, default=2000)
        q.add_argument("--eval-every", type=int, default=100)
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--out", default="runs/claims")
    sub.choices["began"].add_argument("--stall-window", type=int, default=0,
                                      help="halve the rates when M_global stalls over this "
                                      "many steps (0: the preset's cosine alone)")
    sub.choices["began"].add_argument("--set", action="append", default=[],
                                      help="a further config override of every run")
    sub.choices["began"].add_argument("--gammas", type=float, nargs="+",
                                      default=[0.3, 0.5, 0.7, 1.0])
    q = sub.add_parser("minimax")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--head-start", type=int, default=150)
    q.add_argument("--g-steps", type=int, default=200)
    q.add_argument("--sgd-lr", type=float, default=0.05)
    q = sub.add_parser("vanishing", help="Arjovsky & Bottou 2017: D alone against fixed "
                       "generators on disjoint low-dimensional supports, with and without "
                       "instance noise")
    q.add_argument("--seeds", type=int, nargs="+", default=[0])
    q.add_argument("--g-steps", type=int, nargs="+", default=[0, 300, 1000],
                   help="the fixed generators: G after this many steps of the default game")
    q.add_argument("--sigmas", type=float, nargs="+", default=[0.0, 0.1, 0.5],
                   help="instance noise std on D's inputs, fixed (0: none)")
    q.add_argument("--d-steps", type=int, default=3000)
    q.add_argument("--figure", default="claims_vanishing_gradient.png",
                   help="file in benchmarks/figures, drawn for the first seed ('': none)")
    q.add_argument("--out", default="runs/claims")
    args = p.parse_args(argv)
    {"wgan": cmd_wgan, "began": cmd_began, "minimax": cmd_minimax,
     "vanishing": cmd_vanishing}[args.claim](args)


if __name__ == "__main__":
    main()
