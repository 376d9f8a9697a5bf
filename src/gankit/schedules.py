"""Hyper-parameters that follow a schedule over training steps: the one cosine that the
R1/R2 weight gamma (``r1.gamma_steps``) and the optimizers' learning rate and Adam beta2
(``lr_decay = "cosine"``) share.

Huang, Gokaslan, Kuleshov & Tompkin (2024), "The GAN is dead; long live the GAN! A
Modern GAN Baseline" (R3GAN), their training code's ``cosine_decay_with_warmup`` (used
without warm-up): every scheduled value moves from its start to its final value along
half a cosine over one span (2e7 images on CIFAR-10: the learning rate 2e-4 -> 5e-5,
Adam's beta2 0.9 -> 0.99, gamma 0.05 -> 0.005), then stays at the final value.
"""
from __future__ import annotations

import math


def cosine(start: float, final: float, t: float, span: float) -> float:
    """The value at step ``t`` of a half cosine from ``start`` (t = 0) to ``final``
    (t >= ``span``), constant afterwards:
    start + (1 - (1 + cos(pi t / span)) / 2) (final - start)."""
    if t >= span:
        return final
    done = 1 - 0.5 * (1 + math.cos(math.pi * t / span))
    return start + done * (final - start)
