"""Figures of a run: 2D sample evolution, loss curves, mode metrics over time.

The evolution figure is the classic picture of mode collapse (Metz et al., 2017,
Fig. 1): generated samples at several training steps over the real data, mode centres
marked, so a generator hopping from mode to mode, or covering them all, is visible.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np

from .grids import stack_grids, step_of
from .html_report import run_page
from .rundir import RunDir


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pick_evenly(items: List[Any], k: int) -> List[Any]:
    """``k`` items spread evenly over ``items``, always keeping the first and the last."""
    if len(items) <= k:
        return list(items)
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, k)).astype(int))
    return [items[i] for i in idx]


def plot_evolution(snapshots: List[Path], real: np.ndarray, centres, path: Path,
                   max_panels: int = 8) -> None:
    plt = _pyplot()
    chosen = pick_evenly(snapshots, max_panels)
    fig, axes = plt.subplots(1, len(chosen), figsize=(2.6 * len(chosen), 2.8),
                             squeeze=False, sharex=True, sharey=True)
    lim = _limits(real)
    for ax, snap in zip(axes[0], chosen):
        fake = RunDir.read_snapshot(snap)
        ax.scatter(real[:, 0], real[:, 1], s=2, c="0.75", lw=0)
        ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:blue", lw=0, alpha=0.6)
        if centres is not None:
            ax.scatter(centres[:, 0], centres[:, 1], marker="x", c="tab:red", s=25, lw=1)
        ax.set_title(f"step {step_of(snap)}", fontsize=9)
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    fig.suptitle("generated samples (blue) over real data (grey); x = mode centres",
                 fontsize=9)
    _fixed_layout(fig)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fixed_layout(fig, wspace: float = 0.15) -> None:
    """Fixed margins (matplotlib's tight_layout is slow), in inches as a one-row figure
    has them, whatever the number of rows (``hspace`` matters only with several)."""
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.45 / height,
                        top=1 - 0.5 / height, wspace=wspace, hspace=0.55)


def _limits(real: np.ndarray):
    span = np.abs(real).max() * 1.3 + 1e-6
    return -span, span


def spans_decades(values: List[float], ratio: float = 100.0) -> bool:
    """Positive values whose largest is over ``ratio`` times the smallest (FID from
    ~700 at step 0 to ~6): plotted on a log scale, or the end of training is flat."""
    vals = [v for v in values if isinstance(v, (int, float))]
    return bool(vals) and min(vals) > 0 and max(vals) > ratio * min(vals)


#: loss and metric panels a row of a figure before it wraps
PANELS_PER_ROW = 5


def plot_curves(rows: List[Dict[str, Any]], kind: str, path: Path, title: str) -> bool:
    """One panel per logged quantity of rows of ``kind``; False if there is nothing."""
    rows = [r for r in rows if r.get("kind") == kind]
    keys = sorted({k for r in rows for k, v in r.items()
                   if k not in ("step", "kind", "time") and isinstance(v, (int, float))})
    if not keys:
        return False
    plt = _pyplot()
    cols = min(len(keys), PANELS_PER_ROW)
    nrows = -(-len(keys) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 0.4 + 2.4 * nrows),
                             squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        ys = [p[1] for p in pts]
        ax.plot([p[0] for p in pts], ys, lw=1, marker="." if kind == "eval" else None)
        if spans_decades(ys):
            ax.set_yscale("log")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    _fixed_layout(fig, wspace=0.35)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def make_report(run: RunDir, dataset=None) -> List[Path]:
    """Write the run's figures to ``<run>/plots``; return the files written."""
    out = run.path / "plots"
    out.mkdir(exist_ok=True)
    written: List[Path] = []
    rows = run.read_metrics()
    if plot_curves(rows, "train", out / "losses.png", "training losses"):
        written.append(out / "losses.png")
    if plot_curves(rows, "eval", out / "eval_metrics.png", "evaluation metrics"):
        written.append(out / "eval_metrics.png")
    snaps = run.snapshot_files()
    if snaps and dataset is not None:
        real = dataset.reference(2000).numpy()
        info = dataset.describe() or {}
        centres = info.get("centres")
        plot_evolution(snaps, real, None if centres is None else centres.numpy(),
                       out / "samples_evolution.png")
        written.append(out / "samples_evolution.png")
    grids = run.grid_files()
    if grids:  # image runs: the fixed-z grids of up to 6 steps side by side
        written.append(stack_grids(pick_evenly(grids, 6), out / "samples_evolution.png"))
    written.append(run_page(run.path, rows, written))
    return written
