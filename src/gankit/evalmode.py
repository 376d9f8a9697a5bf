"""Eval mode for the duration of a ``with`` block, the previous modes restored after."""
from __future__ import annotations

import contextlib
from typing import Iterator, Tuple

from torch import nn


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[Tuple[nn.Module, ...]]:
    """Put ``modules`` in eval mode (batch norm uses its running statistics, dropout and
    noise layers are off); on exit, even by an exception, give each back the mode it had.
    Yields the modules."""
    was = [m.training for m in modules]
    try:
        for m in modules:
            m.eval()
        yield modules
    finally:
        for m, mode in zip(modules, was):
            m.train(mode)
