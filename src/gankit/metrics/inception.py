"""Inception-v3 in its FID form, in plain PyTorch (no torchvision, nothing downloads).

This is the network of the TensorFlow FID and Inception Score code (Szegedy et al. 2016,
"Rethinking the Inception Architecture for Computer Vision"; the 2015-12-05 graph used
by Salimans et al. 2016 and Heusel et al. 2017), in the layout of the ported weights
``pt_inception-2015-12-05-6726825d.pth``, so that file loads with ``strict=True``.
Its known differences from the ImageNet Inception-v3 of torchvision: 1008 classes;
the average pools inside the A, C and first E blocks ignore the zero padding
(``count_include_pad=False``); the last E block pools with max instead of average.

Outputs: the 2048-d average-pool features (for FID and KID) and the 1008 logits
(for the Inception Score). Input: float images (N, 3, H, W) in [0, 1] (default,
``input_range="0,1"``) or in [-1, 1] (``input_range="-1,1"``), brought to the network's
299 x 299 in [-1, 1] by one of the reference pipelines of
:mod:`gankit.metrics.inception_input` (``pipeline``: ``ttur`` by default, as Heusel et
al. 2017's TensorFlow code and torch-fidelity; ``pytorch-fid``; ``clean-fid``).

Weights come from a path passed as an argument or from ``GANKIT_INCEPTION_WEIGHTS``,
loaded with ``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .inception_input import DEFAULT_PIPELINE, get_pipeline, resize_tf1  # noqa: F401

WEIGHTS_ENV = "GANKIT_INCEPTION_WEIGHTS"
WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


class Conv(nn.Module):
    """Convolution without bias, batch norm (eps 0.001), ReLU ("BasicConv2d").

    In eval mode the batch norm is folded into the convolution (weight times
    gamma / sqrt(var + eps), bias beta - mean * that scale), recomputed from the current
    parameters on every call, so loading other weights needs no extra step: one
    convolution instead of a convolution and a batch-norm pass over its output.
    """

    def __init__(self, c_in: int, c_out: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return F.relu(self.bn(self.conv(x)))
        bn = self.bn
        scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
        weight = self.conv.weight * scale.view(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        return F.conv2d(x, weight, bias, self.conv.stride, self.conv.padding).relu_()


def _chain(x: Tensor, *layers: nn.Module) -> Tensor:
    for layer in layers:
        x = layer(x)
    return x


def _tf_avg_pool(x: Tensor) -> Tensor:
    """3x3 stride-1 average pool that, like TensorFlow's, ignores the zero padding."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """Mixed_5b/c/d: 1x1, 5x5, double 3x3 and pooled branches (35 x 35 grid)."""

    def __init__(self, c_in: int, pool_features: int):
        super().__init__()
        self.branch1x1 = Conv(c_in, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = Conv(c_in, 48, 1), Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(c_in, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(c_in, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch1x1(x),
            _chain(x, self.branch5x5_1, self.branch5x5_2),
            _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class BlockB(nn.Module):
    """Mixed_6a: grid reduction 35 -> 17."""

    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3 = Conv(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(c_in, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([
            self.branch3x3(x),
            _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockC(nn.Module):
    """Mixed_6b/c/d/e: factorised 7x7 branches (17 x 17 grid)."""

    def __init__(self, c_in: int, c7: int):
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = Conv(c_in, 192, 1)
        self.branch7x7_1 = Conv(c_in, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, **row)
        self.branch7x7_3 = Conv(c7, 192, **col)
        self.branch7x7dbl_1 = Conv(c_in, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, **col)
        self.branch7x7dbl_3 = Conv(c7, c7, **row)
        self.branch7x7dbl_4 = Conv(c7, c7, **col)
        self.branch7x7dbl_5 = Conv(c7, 192, **row)
        self.branch_pool = Conv(c_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        dbl = (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
               self.branch7x7dbl_4, self.branch7x7dbl_5)
        return torch.cat([
            self.branch1x1(x),
            _chain(x, self.branch7x7_1, self.branch7x7_2, self.branch7x7_3),
            _chain(x, *dbl),
            self.branch_pool(_tf_avg_pool(x)),
        ], 1)


class BlockD(nn.Module):
    """Mixed_7a: grid reduction 17 -> 8."""

    def __init__(self, c_in: int):
        super().__init__()
        self.branch3x3_1 = Conv(c_in, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(c_in, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b7 = (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4)
        return torch.cat([
            _chain(x, self.branch3x3_1, self.branch3x3_2),
            _chain(x, *b7),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class BlockE(nn.Module):
    """Mixed_7b/c: expanded filter bank; ``pool`` is "avg" (7b) or "max" (7c)."""

    def __init__(self, c_in: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = Conv(c_in, 320, 1)
        self.branch3x3_1 = Conv(c_in, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(c_in, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(c_in, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        a = self.branch3x3_1(x)
        b = _chain(x, self.branch3x3dbl_1, self.branch3x3dbl_2)
        pooled = _tf_avg_pool(x) if self.pool == "avg" else F.max_pool2d(x, 3, 1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(pooled),
        ], 1)


class InceptionV3FID(nn.Module):
    """Inception-v3 of the TF FID code: ``forward`` gives (2048-d pool3, 1008 logits)."""

    def __init__(self, input_range: str = "0,1", pipeline: str = DEFAULT_PIPELINE):
        super().__init__()
        if input_range not in ("0,1", "-1,1"):
            raise ValueError(f"input_range must be '0,1' or '-1,1', got {input_range!r}")
        self.input_range = input_range
        self.pipeline = get_pipeline(pipeline)
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c = BlockA(192, 32), BlockA(256, 64)
        self.Mixed_5d, self.Mixed_6a = BlockA(288, 64), BlockB(288)
        self.Mixed_6b, self.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b, self.Mixed_7c = BlockE(1280, "avg"), BlockE(2048, "max")
        self.fc = nn.Linear(2048, 1008)
        # channels-last weights and activations for oneDNN's CPU convolutions (timings in
        # pool_features); loading a state dict copies into these tensors and keeps
        # their layout
        self.to(memory_format=torch.channels_last)
        self.eval()

    def preprocess(self, x: Tensor) -> Tensor:
        """Check (N, 3, H, W) float input, then resize to 299 and scale to [-1, 1] as
        the pipeline's reference does (:mod:`gankit.metrics.inception_input`)."""
        check_images(x, self.input_range)
        x = x.float()
        return self.pipeline.prepare(x if self.input_range == "0,1" else (x + 1) / 2)

    def pool_features(self, x: Tensor) -> Tensor:
        """2048-d average-pool features of preprocessed input.

        Computed in the channels-last layout, which with the batch norms folded (see
        :class:`Conv`) nearly doubles the throughput (BENCHMARKS.md, "Metrics"); the
        features agree with the plain layout's to float32 rounding.
        """
        x = x.contiguous(memory_format=torch.channels_last)
        x = _chain(x, self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3)
        x = F.max_pool2d(x, 3, stride=2)
        x = _chain(x, self.Conv2d_3b_1x1, self.Conv2d_4a_3x3)
        x = F.max_pool2d(x, 3, stride=2)
        x = _chain(x, self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                   self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e,
                   self.Mixed_7a, self.Mixed_7b, self.Mixed_7c)
        return x.mean((2, 3))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        feats = self.pool_features(self.preprocess(x))
        return feats, self.fc(feats)

    def features(self, x: Tensor) -> Tensor:
        """2048-d pool features of images (the FID/KID extractor)."""
        return self.pool_features(self.preprocess(x))

    def logits(self, x: Tensor) -> Tensor:
        """1008 class logits of images (the Inception Score extractor)."""
        return self(x)[1]


def check_images(x: Tensor, input_range: str = "0,1") -> None:
    """Raise ``ValueError`` unless x is a float (N, 3, H, W) batch within the range."""
    if not isinstance(x, Tensor) or not torch.is_floating_point(x):
        raise ValueError(f"images: wrong dtype {getattr(x, 'dtype', type(x))}; expected a "
                         "float tensor")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images: expected shape (N, 3, H, W), got {tuple(x.shape)}")
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"images: spatial size {tuple(x.shape[-2:])} is too small")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf")
    low = 0.0 if input_range == "0,1" else -1.0
    lo, hi = float(x.min()), float(x.max())
    if lo < low - 1e-3 or hi > 1.0 + 1e-3:
        raise ValueError(f"images: values span [{lo:.3g}, {hi:.3g}], outside the expected "
                         f"[{input_range}]")


def _describe_mismatch(model: nn.Module, state: Dict[str, Tensor]) -> Optional[str]:
    """None if ``state`` matches the model's keys and shapes, else a message."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [f"{label} ({len(v)}): {', '.join(v[:8])}{' ...' if len(v) > 8 else ''}"
                for label, v in (("missing keys", missing), ("unexpected keys", unexpected),
                                 ("shape mismatches", shapes)) if v]
    return "; ".join(problems) or None


def _read_state(path: str) -> Dict[str, Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"Inception weights not found: {path}") from None
    except Exception as exc:  # a corrupt or non-weights file
        raise ValueError(f"cannot read Inception weights from {path}: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict of tensors")
    return state


def resolve_weights_path(path: Optional[str] = None) -> str:
    """The weights path: the argument, else ``$GANKIT_INCEPTION_WEIGHTS``."""
    path = path or os.environ.get(WEIGHTS_ENV)
    if not path:
        raise ValueError(f"no Inception weights: pass a path to {WEIGHTS_FILE} or set "
                         f"{WEIGHTS_ENV} (gankit never downloads)")
    return os.path.expanduser(path)


def load_inception(path: Optional[str] = None, input_range: str = "0,1",
                   pipeline: str = DEFAULT_PIPELINE) -> InceptionV3FID:
    """The FID Inception network with weights from ``path`` or ``$GANKIT_INCEPTION_WEIGHTS``,
    fed by the input ``pipeline`` (:mod:`gankit.metrics.inception_input`).

    A file whose keys or shapes do not match is refused with a message naming them.
    """
    path = resolve_weights_path(path)
    model = InceptionV3FID(input_range, pipeline)
    state = _read_state(path)
    problem = _describe_mismatch(model, state)
    if problem:
        raise ValueError(f"{path} does not match the FID Inception network: {problem}")
    for key, value in model.state_dict().items():  # older files lack BN step counters
        state.setdefault(key, value) if key.endswith("num_batches_tracked") else None
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)
