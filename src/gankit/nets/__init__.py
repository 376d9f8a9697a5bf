"""Networks; importing this package registers them."""
from __future__ import annotations

from typing import Tuple

from torch import nn

from ..config import NetConfig
from ..plugins import build
from ..registry import NETS
from . import began, conditional, dcgan, improved_gan, mlp  # noqa: F401  (importing registers them)


def build_net(role: str, cfg: NetConfig, shape: Tuple[int, ...],
              num_classes: int = 0) -> nn.Module:
    """Build the ``role`` ("generator" or "discriminator") network for data ``shape``;
    ``num_classes`` K > 0 is the class count of a class-conditional run
    (:mod:`gankit.nets.conditional`), given only then, so a net family without
    conditioning needs no such argument."""
    extra = (num_classes,) if num_classes else ()
    return build(NETS, role, cfg, shape, *extra, make=role)
