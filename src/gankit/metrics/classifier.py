"""What the small classifiers used as feature extractors share (gankit's digits MLP and
MNIST LeNet, the stand-ins for Inception-v3 on small grey images): the features/logits
interface and an atomic safetensors cache file with metadata."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Tuple

import torch
from torch import Tensor, nn


class FeatureClassifier(nn.Module):
    """A classifier whose ``forward`` returns (penultimate-layer features, class logits);
    ``test_accuracy`` is set when it is trained or loaded."""

    test_accuracy: float = float("nan")

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features (for FID, KID, MMD, precision-recall)."""
        return self(x)[0]

    def logits(self, x: Tensor) -> Tensor:
        """Class logits (for the Inception Score and mode counts)."""
        return self(x)[1]


def check_signed_images(x: Tensor, name: str) -> None:
    """Refuse images (float) that are not finite or not in [-1, 1] (to rounding), naming
    the extractor ``name`` and the values' span."""
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: images contain NaN or inf")
    if x.min() < -1 - 1e-3 or x.max() > 1 + 1e-3:
        raise ValueError(f"{name}: values span [{float(x.min()):.3g}, {float(x.max()):.3g}], "
                         "expected [-1, 1]")


def save_classifier_file(model: FeatureClassifier, path: Path, meta: Dict[str, str]) -> None:
    """Weights and ``meta`` (plus the test accuracy) with safetensors, written to a
    temporary file and renamed, so a crash never leaves a half-written cache."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    meta = {"test_accuracy": repr(model.test_accuracy), **meta}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp), meta)
    os.replace(tmp, path)
