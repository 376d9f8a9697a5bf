"""GAN objectives; importing this package registers them."""
from __future__ import annotations

from ..config import ObjectiveConfig
from ..plugins import build
from ..registry import OBJECTIVES
from . import minimax  # noqa: F401  (registers minimax, nonsaturating)
from . import began, feature_matching, preference, sinkhorn, wgan, wgan_gp  # noqa: F401
from . import hinge, rpgan  # noqa: F401  (registers hinge, rpgan)
from . import semisup  # noqa: F401  (registers semisup and the 'accuracy' metric)
from .base import Objective


def build_objective(cfg: ObjectiveConfig) -> Objective:
    return build(OBJECTIVES, "objective", cfg)
