"""The reference batch of virtual batch normalisation, Salimans et al. (2016), Sec. 3.4.

VBN normalises each example with the statistics of a reference batch "chosen once and
fixed at the start of training" plus the example itself. The nets hold the reference
batch as a buffer (so checkpoints carry it); this stabilizer chooses it: at setup it
draws a batch of z from the run's noise stream for a generator with VBN and a batch of
real data for a discriminator with VBN, and hands each to its net.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..plugins import SetupContext
from ..registry import STABILIZERS
from .base import Stabilizer


def _vbn_size(net: torch.nn.Module) -> int:
    return int(getattr(net, "vbn_size", 0) or 0)


@STABILIZERS.register("vbn")
class VirtualBatchNormReference(Stabilizer):
    """Fixes the VBN reference batch of every net with vbn = true (Salimans et al. 3.4)."""

    @dataclass
    class Options:
        pass

    def setup(self, ctx: SetupContext) -> None:
        if not (_vbn_size(ctx.G) or _vbn_size(ctx.D)):
            raise ValueError("stabilizer 'vbn' sets the reference batch of virtual batch "
                             "norm, but neither net has it: set generator.vbn = true "
                             "and/or discriminator.vbn = true")
        with torch.no_grad():
            if _vbn_size(ctx.G):
                ctx.G.set_reference(ctx.sample_z(_vbn_size(ctx.G)))
            if _vbn_size(ctx.D):
                ctx.D.set_reference(ctx.real_examples(_vbn_size(ctx.D)))
