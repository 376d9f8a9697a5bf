"""GPU options: mixed precision and ``torch.compile``, each with a clean CPU fallback.

``train.precision`` = ``bf16`` runs forward passes and losses under ``torch.autocast``
(bfloat16 keeps float32's exponent range, so no loss scaling is needed; it works on the
CPU too). ``fp16`` also scales each player's loss with its own ``GradScaler`` so small
gradients do not underflow; float16 autocast is a CUDA feature, so on the CPU gankit
warns and trains in float32. ``train.compile`` compiles G's and D's forward passes; if
compilation fails (no compiler, an unsupported op) gankit warns and runs eagerly.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Dict, Optional

import torch
from torch import nn

from .evalmode import eval_mode

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    def __init__(self, name: str, device: torch.device):
        if name == "fp16" and device.type != "cuda":
            warnings.warn("train.precision = 'fp16' needs CUDA; training in float32 on "
                          f"{device.type} (use 'bf16' for mixed precision on the CPU)")
            name = "fp32"
        self.name, self.device = name, device
        self.dtype: Optional[torch.dtype] = DTYPES[name]
        self.scalers: Dict[str, Any] = ({role: torch.amp.GradScaler(device.type)
                                         for role in ("generator", "discriminator")}
                                        if name == "fp16" else {})

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, role: str, loss: torch.Tensor, opt: torch.optim.Optimizer,
             sync: Callable[[], None]) -> None:
        """backward, gradient sync across ranks, optimizer step (scaled for fp16)."""
        scaler = self.scalers.get(role)
        if scaler is None:
            loss.backward()
            sync()
            opt.step()
            return
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        sync()
        scaler.step(opt)
        scaler.update()

    def state_dict(self) -> Dict[str, Any]:
        return {role: s.state_dict() for role, s in self.scalers.items()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for role, s in self.scalers.items():
            if role in state:
                s.load_state_dict(state[role])


def compiled(net: nn.Module, enabled: bool, example: torch.Tensor) -> Callable:
    """``torch.compile(net)``, compiled now on ``example``; ``net`` itself if disabled or
    if compilation fails (with a warning saying why)."""
    if not enabled:
        return net
    try:
        fn = torch.compile(net)
        # eval mode: the trial call must not touch batch-norm running statistics
        with eval_mode(net), torch.no_grad():
            fn(example)
        return fn
    except Exception as exc:  # noqa: BLE001 - any compiler failure falls back
        warnings.warn(f"train.compile: torch.compile failed ({type(exc).__name__}: "
                      f"{str(exc)[:200]}); running eagerly")
        return net
