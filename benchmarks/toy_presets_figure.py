"""Figure of the configs/toy presets: for each preset and toy, 2,500 samples of G from
the run of median HQ among a sweep's seeds, over 2,500 points of the data
(BENCHMARKS.md, "Every objective on the toys").

    python benchmarks/toy_presets_figure.py SWEEP_DIR [SWEEP_DIR ...] \\
        --out benchmarks/figures/toy_presets.png

Each SWEEP_DIR is a finished ``gankit sweep`` of toy presets on one data set.
"""
from __future__ import annotations

import argparse
from pathlib import Path

VARIANTS = ["ns_toy", "minimax_toy", "hinge_toy", "rpgan_toy", "preference_toy",
            "feature_matching_toy"]


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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweeps", nargs="+", type=Path)
    ap.add_argument("--out", default="benchmarks/figures/toy_presets.png")
    args = ap.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.train import Trainer

    fig, axes = plt.subplots(2, len(VARIANTS), figsize=(3 * len(VARIANTS), 6.2))
    for row, data in enumerate(["ring", "grid"]):
        for col, variant in enumerate(VARIANTS):
            ax = axes[row, col]
            found = median_run(args.sweeps, data, variant)
            if found is None:
                ax.set_axis_off()
                continue
            run, m = found
            trainer = Trainer.from_run_dir(run)
            x = trainer.generate(2500).numpy()
            ref = trainer.data.reference(2500).numpy()
            ax.scatter(ref[:, 0], ref[:, 1], s=1, c="tab:blue", alpha=0.3)
            ax.scatter(x[:, 0], x[:, 1], s=1, c="tab:red", alpha=0.5)
            seed = run.parent.name.split("-")[1]
            ax.set_title(f"{variant} {data}, seed {seed}\n{m['modes']} modes, HQ "
                         f"{m['hq']:.1f} %, spread {m['spread']:.2f}", fontsize=8)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("configs/toy presets: 2,500 samples of G (red) over the data (blue), "
                 "the median-HQ seed of each sweep", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
