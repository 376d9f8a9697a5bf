"""The input pipelines of the FID Inception-v3: resize to 299 x 299, then pixel scaling.

The network is the same everywhere (the 2015-12-05 graph of Szegedy et al. 2016), but
the reference implementations feed it differently, and Parmar et al. 2022 ("On Aliased
Resizing and Surprising Subtleties in GAN Evaluation") show that the resize
alone moves FID by several points. Each pipeline below reproduces one reference's
preprocessing; all take float images (N, 3, H, W) in [0, 1]:

* ``ttur`` (the default): Heusel et al. 2017's TensorFlow code (TTUR ``fid.py``), which
  feeds float 0..255 images to the graph's ``ExpandDims`` input, where TF1's
  ``resize_bilinear`` (``align_corners=False``: source = destination * in / out, no
  half-pixel centres) resizes them to 299 and ``(v - 128) / 128`` scales them.
  torch-fidelity does the same in the same order (uint8 -> float, resize, scale), and
  clean-fid's ``legacy_tensorflow`` mode and StyleGAN2-ADA's PyTorch metrics are meant
  to reproduce it. It is the default because it is what GAN papers report: TTUR's
  published statistics and scores, and those of the papers that used its code.
* ``pytorch-fid``: pytorch-fid's ``InceptionV3.forward``: ``F.interpolate(x, (299,
  299), mode='bilinear', align_corners=False)`` of [0, 1] images, then ``2x - 1``.
* ``clean-fid``: Parmar et al. 2022's ``clean`` mode: each channel of the 0..255 image
  resized as a float32 PIL image (mode ``F``) with PIL's bicubic filter (Keys' cubic,
  a = -0.5, widened by the downscale factor, so it antialiases), clipped to [0, 255],
  then ``(v - 128) / 128``.

The TF1 and PIL resizes are separable weight matrices built once per size from the
reference's formula (two matrix products per batch, 7x faster than gathering pixels);
an image already 299 px goes through every resize unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Dict

import torch
import torch.nn.functional as F
from torch import Tensor

SIZE = 299


@lru_cache(maxsize=32)
def tf1_bilinear_matrix(n_in: int, n_out: int) -> Tensor:
    """(n_out, n_in) float64 weights of TF1's bilinear resize along one axis
    (``resize_bilinear_op.cc``, legacy scaler): source = destination * (in / out) in
    float32 as TF computes it, lower = floor, upper = min(lower + 1, in - 1), weights
    1 - lerp and lerp."""
    src = torch.arange(n_out, dtype=torch.float32) * torch.tensor(n_in / n_out,
                                                                 dtype=torch.float32)
    lo = src.floor().long().clamp(max=n_in - 1)
    hi = (lo + 1).clamp(max=n_in - 1)
    lerp = (src - lo).double()
    w = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    w.index_put_((rows, lo), 1 - lerp, accumulate=True)
    w.index_put_((rows, hi), lerp, accumulate=True)
    return w


def _separable(x: Tensor, wy: Tensor, wx: Tensor) -> Tensor:
    """wy @ x @ wx^T on the last two axes: the horizontal pass first, as PIL does; the
    weights in x's dtype (zero weights add nothing, so each output rounds only over
    its few taps)."""
    rows = x @ wx.to(x.device, x.dtype).T
    return wy.to(x.device, x.dtype) @ rows


def resize_tf1(x: Tensor, size: int = SIZE) -> Tensor:
    """Bilinear resize as TF1's ``tf.image.resize_bilinear(align_corners=False)``."""
    if x.shape[-2:] == (size, size):
        return x
    return _separable(x, tf1_bilinear_matrix(x.shape[-2], size),
                      tf1_bilinear_matrix(x.shape[-1], size))


def resize_torch_bilinear(x: Tensor, size: int = SIZE) -> Tensor:
    """PyTorch's bilinear resize with half-pixel centres, as pytorch-fid calls it."""
    if x.shape[-2:] == (size, size):
        return x  # F.interpolate at scale 1 is the identity too
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def _bicubic(t: Tensor, a: float = -0.5) -> Tensor:
    """Keys' cubic convolution kernel with PIL's a = -0.5 (support 2)."""
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = (((t - 5) * t + 8) * t - 4) * a
    return torch.where(t < 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


@lru_cache(maxsize=32)
def pil_bicubic_matrix(n_in: int, n_out: int) -> Tensor:
    """(n_out, n_in) float64 weights of PIL's bicubic resample along one axis
    (``precompute_coeffs`` of Pillow's Resample.c): output pixel o has centre
    (o + 0.5) * s with s = n_in / n_out, the kernel is stretched by max(s, 1), and
    each row is normalised to sum 1 over the pixels inside the image."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    centre = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale
    src = torch.arange(n_in, dtype=torch.float64) + 0.5
    w = _bicubic((src[None, :] - centre[:, None]) / stretch)
    return w / w.sum(1, keepdim=True)


def resize_pil_bicubic(x: Tensor, size: int = SIZE) -> Tensor:
    """PIL's ``Image.resize(..., BICUBIC)`` of each (H, W) plane as a mode-``F`` image
    (horizontal pass first, then vertical)."""
    if x.shape[-2:] == (size, size):
        return x
    return _separable(x, pil_bicubic_matrix(x.shape[-2], size),
                      pil_bicubic_matrix(x.shape[-1], size))


def _ttur(x: Tensor) -> Tensor:
    return (resize_tf1(x * 255) - 128) / 128


def _pytorch_fid(x: Tensor) -> Tensor:
    return 2 * resize_torch_bilinear(x) - 1


def _clean_fid(x: Tensor) -> Tensor:
    return (resize_pil_bicubic(x * 255).clamp(0, 255) - 128) / 128


@dataclass(frozen=True)
class Pipeline:
    """One reference's preprocessing: ``prepare`` maps [0, 1] images to the network's
    input; ``resize`` and ``scaling`` describe it in evaluation protocols; ``suffix``
    ends the protocol names of its numbers ("" for the default)."""

    name: str
    prepare: Callable[[Tensor], Tensor]
    resize: str
    scaling: str
    suffix: str


DEFAULT_PIPELINE = "ttur"
PIPELINES: Dict[str, Pipeline] = {p.name: p for p in (
    Pipeline("ttur", _ttur,
             "ttur: bilinear to 299x299 as TensorFlow 1 (align_corners=False, no half-pixel "
             "centres) on 0..255 values", "ttur: (v - 128) / 128 of 0..255 values", ""),
    Pipeline("pytorch-fid", _pytorch_fid,
             "pytorch-fid: torch bilinear to 299x299 (align_corners=False, half-pixel "
             "centres, no antialias) on [0, 1] values", "pytorch-fid: 2v - 1 of [0, 1] values",
             "pytorchfid"),
    Pipeline("clean-fid", _clean_fid,
             "clean-fid: PIL bicubic to 299x299 of each channel as a float32 image "
             "(mode F), clipped to [0, 255]", "clean-fid: (v - 128) / 128 of 0..255 values",
             "cleanfid"),
)}


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called ``name``; an error listing the valid names otherwise."""
    if name not in PIPELINES:
        raise ValueError(f"unknown Inception pipeline {name!r}; valid: {', '.join(PIPELINES)}")
    return PIPELINES[name]
