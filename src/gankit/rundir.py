"""The run directory: resolved config, metrics.jsonl, TensorBoard, snapshots, plots.

Layout of ``runs/<name>-<YYYYmmdd-HHMMSS>/``::

    config.toml          the resolved config (every default filled in)
    metrics.jsonl        one JSON object per log or evaluation row
    tb/                  TensorBoard event files
    snapshots/           generated samples at each evaluation (2D data), for the plots
    samples/             PNG grids of generated images from a fixed z at each evaluation
    checkpoints/         full-state checkpoints and the ``latest`` pointer
    plots/               PNG figures written at the end (``gankit report`` rewrites them)
"""
from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from .config import ConfigError, RunConfig, read_config, save_config
from .errors import RunDirError
from .grids import save_grid, step_of


class RunDir:
    def __init__(self, path: str | Path, tensorboard: bool = True):
        self.path = Path(path)
        self._tb_enabled = tensorboard
        self._tb = None

    @classmethod
    def create(cls, cfg: RunConfig, tensorboard: bool = True) -> "RunDir":
        """A new ``<out_dir>/<name>-<stamp>`` holding config.toml; if it cannot be
        written, nothing is left behind and the error names out_dir."""
        name = cfg.run_name()
        if "/" in name or "\\" in name or name in (".", ".."):
            raise ConfigError(f"name = {name!r}: a run name cannot contain '/' or '\\' "
                              "(it names one folder inside out_dir)")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = Path(cfg.out_dir) / f"{name}-{stamp}"
        path, i = base, 1
        while path.exists():
            path, i = Path(f"{base}-{i}"), i + 1
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(f"out_dir = {cfg.out_dir!r}: cannot create the run directory "
                              f"{path} ({exc.strerror or exc})") from exc
        try:
            save_config(cfg, path / "config.toml")
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, tensorboard)

    @classmethod
    def open(cls, path: str | Path, tensorboard: bool = True) -> "RunDir":
        path = Path(path)
        if not (path / "config.toml").is_file():
            raise ConfigError(f"{str(path)!r} is not a gankit run directory "
                              "(no config.toml in it)")
        return cls(path, tensorboard)

    def config(self, sets: Optional[List[str]] = None) -> RunConfig:
        """The run's config.toml (written resolved) with ``sets`` applied, unresolved:
        :func:`gankit.components.resolve_config` checks and completes it."""
        return read_config(self.path / "config.toml", sets)

    # ------------------------------------------------------------------ metrics
    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    def log(self, step: int, kind: str, values: Dict[str, Any]) -> None:
        row = {"step": step, "kind": kind, "time": round(time.time(), 3), **values}
        with open(self.metrics_file, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        self._tensorboard(step, kind, values)

    def _tensorboard(self, step: int, kind: str, values: Dict[str, Any]) -> None:
        if not self._tb_enabled:
            return
        if self._tb is None:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.path / "tb"))
        for key, value in values.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._tb.add_scalar(f"{kind}/{key}", value, step)

    def read_metrics(self) -> List[Dict[str, Any]]:
        if not self.metrics_file.is_file():
            return []
        rows = []
        with open(self.metrics_file, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    rows.append(_metrics_row(line, f"{self.metrics_file}, line {number}"))
        return rows

    def truncate_after(self, step: int) -> None:
        """Drop rows logged after ``step`` (a resumed run logs them again; from step 0
        it re-evaluates the initial generator too)."""
        rows = [r for r in self.read_metrics() if r["step"] <= step and step > 0]
        self.metrics_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
        for snap in self.snapshot_files() + self.grid_files():
            if step_of(snap) > step or step == 0:
                snap.unlink()

    # ------------------------------------------------------------------ snapshots
    def save_snapshot(self, step: int, samples: torch.Tensor) -> None:
        folder = self.path / "snapshots"
        folder.mkdir(exist_ok=True)
        np.save(folder / f"step-{step:09d}.npy", samples.detach().cpu().numpy())

    @staticmethod
    def read_snapshot(path: Path) -> np.ndarray:
        """The (n, 2) samples of one snapshot file; a damaged file is an error naming it."""
        try:
            samples = np.load(path, allow_pickle=False)
        except (OSError, EOFError, ValueError) as exc:
            raise RunDirError(f"{path}: damaged snapshot ({exc}); delete it and run "
                              "gankit report again") from None
        if not isinstance(samples, np.ndarray) or samples.ndim != 2:
            raise RunDirError(f"{path}: not a snapshot of 2D samples")
        return samples

    def snapshot_files(self) -> List[Path]:
        folder = self.path / "snapshots"
        return sorted(folder.glob("step-*.npy")) if folder.is_dir() else []

    def save_grid(self, step: int, images: torch.Tensor, cols: Optional[int] = None) -> Path:
        """The sample grid of ``step``, ``cols`` images a row (None: a square)."""
        return save_grid(images, self.path / "samples" / f"step-{step:09d}.png", cols)

    def grid_files(self) -> List[Path]:
        folder = self.path / "samples"
        return sorted(folder.glob("step-*.png"), key=step_of) if folder.is_dir() else []

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _metrics_row(line: str, where: str) -> Dict[str, Any]:
    """One metrics.jsonl row: a JSON object with an integer ``step`` and a ``kind``."""
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise RunDirError(f"{where}: not a JSON row ({exc})") from None
    if not isinstance(row, dict) or not isinstance(row.get("step"), int) \
            or not isinstance(row.get("kind"), str):
        raise RunDirError(f"{where}: expected a JSON object with 'step' and 'kind', got "
                          f"{line.strip()[:60]!r}")
    return row
