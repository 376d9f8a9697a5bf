"""Figure of the configs/toy presets: for each preset and toy, 2,500 samples of G from
the run of median HQ among a sweep's seeds, over 2,500 points of the data
(BENCHMARKS.md, "Every objective on the toys").

    python benchmarks/toy_presets_figure.py SWEEP_DIR [SWEEP_DIR ...] \\
        --out benchmarks/figures/toy_presets.png

Each SWEEP_DIR is a finished ``gankit sweep`` of toy presets on one data set. With
``--runs``, the arguments are single run directories instead (a search's best probes),
one panel each, titled LABEL when given as LABEL=RUN_DIR:

    python benchmarks/toy_presets_figure.py --runs "WGAN, clip 0.1=RUN_DIR" ... \\
        --out benchmarks/figures/toy_searches.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

VARIANTS = ["ns_toy", "minimax_toy", "hinge_toy", "rpgan_toy", "preference_toy",
            "feature_matching_toy", "wgan_gp_toy"]


def median_run(sweeps, data: str, variant: str):
    """(run directory, its last evaluation) of median HQ, or None."""
    from gankit.components import load_config
    from gankit.sweep_spec import last_eval

    runs = []
    for sweep in sweeps:
        for metrics in sorted(sweep.glob(f"runs/{variant}/seed-*/*/metrics.jsonl")):
            run = metrics.parent
            row = last_eval(run)
            if row is not None and "hq" in row \
                    and load_config(run / "config.toml").data.name == data:
                runs.append((row["hq"], run, row))
    if not runs:
        return None
    runs.sort(key=lambda t: t[0])
    return runs[len(runs) // 2][1:]


def draw(ax, run: Path, m: dict, title: str) -> None:
    """2,500 samples of the run's G (red) over 2,500 points of its data (blue)."""
    from gankit.train import Trainer

    trainer = Trainer.from_run_dir(run)
    x = trainer.generate(2500).numpy()
    ref = trainer.data.reference(2500).numpy()
    ax.scatter(ref[:, 0], ref[:, 1], s=1, c="tab:blue", alpha=0.3)
    ax.scatter(x[:, 0], x[:, 1], s=1, c="tab:red", alpha=0.5)
    hq = "" if not m.get("modes") else f", HQ {m['hq']:.1f} %, spread {m['spread']:.2f}"
    ax.set_title(f"{title}\n{m.get('modes', 0)} modes{hq}", fontsize=8)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="sweep directories (with --runs: run "
                    "directories, each optionally LABEL=DIR)")
    ap.add_argument("--runs", action="store_true", help="the arguments are run directories")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated presets, one column each")
    ap.add_argument("--out", default="benchmarks/figures/toy_presets.png")
    ap.add_argument("--title", default="the best each search reached",
                    help="with --runs: the figure's title, before the line on what it shows")
    args = ap.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if args.runs:
        from gankit.components import load_config
        from gankit.sweep_spec import last_eval

        fig, axes = plt.subplots(1, len(args.dirs), figsize=(3 * len(args.dirs), 3.4),
                                 squeeze=False)
        for ax, arg in zip(axes[0], args.dirs):
            label, _, path = arg.rpartition("=")
            run = Path(path)
            cfg = load_config(run / "config.toml")
            draw(ax, run, last_eval(run) or {},
                 f"{label or cfg.objective.name} ({cfg.data.name})")
        fig.suptitle(args.title + ":"
                     + ("\n" if len(args.dirs) < 4 else " ")
                     + "2,500 samples of G (red) over the data (blue)", fontsize=9)
        fig.tight_layout(rect=(0, 0, 1, 0.92))
    else:
        variants = args.variants.split(",")
        fig, axes = plt.subplots(2, len(variants), figsize=(max(3 * len(variants), 4.5), 6.2),
                                 squeeze=False)
        for row, data in enumerate(["ring", "grid"]):
            for col, variant in enumerate(variants):
                found = median_run([Path(d) for d in args.dirs], data, variant)
                if found is None:
                    axes[row, col].set_axis_off()
                    continue
                run, m = found
                seed = run.parent.name.split("-")[1]
                draw(axes[row, col], run, m, f"{variant} {data}, seed {seed}")
        fig.suptitle("configs/toy presets: 2,500 samples of G (red) over the data (blue),"
                     + ("\n" if len(variants) < 4 else " ") + "the median-HQ seed of each sweep",
                     fontsize=10 if len(variants) >= 4 else 8)
        fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
