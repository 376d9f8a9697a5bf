"""GAN objectives; importing this package registers them."""
from __future__ import annotations

from ..config import ObjectiveConfig
from ..plugins import build
from ..registry import OBJECTIVES
from . import (  # noqa: F401  (importing registers them; semisup also 'accuracy')
    acgan,
    began,
    feature_matching,
    hinge,
    minimax,
    preference,
    rpgan,
    semisup,
    sinkhorn,
    wgan,
    wgan_gp,
)
from .base import Objective


def build_objective(cfg: ObjectiveConfig) -> Objective:
    return build(OBJECTIVES, "objective", cfg)
