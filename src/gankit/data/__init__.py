"""Data sets; importing this package registers them."""
from __future__ import annotations

from ..config import DataConfig
from ..plugins import build
from ..registry import DATASETS
from . import files, formats, images, mnist5k, toy  # noqa: F401  (registers the data sets)
from .base import Dataset


def build_dataset(cfg: DataConfig, seed: int) -> Dataset:
    return build(DATASETS, "data", cfg, seed)
