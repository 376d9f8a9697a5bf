"""Networks; importing this package registers them."""
from __future__ import annotations

from typing import Tuple

from torch import nn

from ..config import NetConfig
from ..plugins import build
from ..registry import NETS
from . import began, dcgan, improved_gan, mlp  # noqa: F401  (importing registers them)


def build_net(role: str, cfg: NetConfig, shape: Tuple[int, ...]) -> nn.Module:
    """Build the ``role`` ("generator" or "discriminator") network for data ``shape``."""
    return build(NETS, role, cfg, shape, make=role)
