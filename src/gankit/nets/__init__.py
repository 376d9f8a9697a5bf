"""Networks; importing this package registers them."""
from __future__ import annotations

from typing import Tuple

from torch import nn

from ..config import NetConfig, build_options
from ..registry import NETS
from . import began, mlp  # noqa: F401  (registers began, mlp)
from . import dcgan, improved_gan  # noqa: F401  (registers dcgan, improved_gan)


def build_net(role: str, cfg: NetConfig, shape: Tuple[int, ...]) -> nn.Module:
    """Build the ``role`` ("generator" or "discriminator") network for data ``shape``."""
    family = NETS.get(cfg.net)
    opts = build_options(family.Options, cfg, role)
    return getattr(family, role)(opts, shape)
