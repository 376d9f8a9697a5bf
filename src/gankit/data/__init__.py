"""Data sets; importing this package registers them."""
from __future__ import annotations

from ..config import DataConfig, build_options
from ..registry import DATASETS
from . import images, toy  # noqa: F401  (registers digits, mnist, ..., ring, grid, spiral)
from .base import Dataset


def build_dataset(cfg: DataConfig, seed: int) -> Dataset:
    cls = DATASETS.get(cfg.name)
    return cls(build_options(cls.Options, cfg, "data"), seed)
