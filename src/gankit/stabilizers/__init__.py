"""Stabilizers composed from the config's ``[[stabilizers]]`` list."""
from __future__ import annotations

from typing import List

from ..config import StabilizerConfig
from ..plugins import build
from ..registry import STABILIZERS
from . import gradient_penalty, historical_averaging, instance_noise, label_smoothing, vbn  # noqa: F401
from .base import Stabilizer


def build_stabilizers(cfgs: List[StabilizerConfig]) -> List[Stabilizer]:
    return [build(STABILIZERS, f"stabilizers[{i}]", cfg) for i, cfg in enumerate(cfgs)]
