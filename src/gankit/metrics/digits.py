"""A small classifier of scikit-learn's 8x8 digits, the offline feature extractor.

Inception features are meaningless on 8x8 handwritten digits, so gankit trains its own
classifier on ``sklearn.datasets.load_digits`` (1,797 images that ship inside
scikit-learn; nothing downloads) and uses its penultimate layer as features for FID/KID
and its logits for the Inception Score, as the MNIST-classifier scores of the GAN
literature do. Images are scaled to [-1, 1] (pixel / 8 - 1), the range of a tanh
generator. A fixed, stratified 75/25 train/test split by seed; the test accuracy is
stored with the weights (safetensors) in ``$GANKIT_CACHE`` or ``~/.cache/gankit``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .classifier import FeatureClassifier, check_signed_images, save_classifier_file

CACHE_ENV = "GANKIT_CACHE"
VERSION = "1"


def cache_dir() -> Path:
    """``$GANKIT_CACHE`` or ``~/.cache/gankit``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gankit")


def load_digits_data(seed: int = 0) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test): images (n, 1, 8, 8) in [-1, 1], labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = (data.images.astype(np.float32) / 8.0 - 1.0)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, data.target, test_size=0.25,
                                          random_state=seed, stratify=data.target)
    return (torch.from_numpy(xtr), torch.from_numpy(ytr).long(),
            torch.from_numpy(xte), torch.from_numpy(yte).long())


def to_digit_images(x: Tensor) -> Tensor:
    """Check and reshape samples to (n, 64) in [-1, 1].

    Accepts (n, 64), (n, H, W) or (n, 1, H, W); other sizes are area-resized to 8 x 8.
    """
    if not torch.is_floating_point(x):
        raise ValueError(f"digits: wrong dtype {x.dtype}; expected float images in [-1, 1]")
    if x.dim() == 2 and x.shape[1] == 64:
        x = x.reshape(-1, 1, 8, 8)
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(f"digits: expected (n, 64), (n, H, W) or (n, 1, H, W) grayscale "
                         f"images, got shape {tuple(x.shape)}")
    check_signed_images(x, "digits")
    if x.shape[-2:] != (8, 8):
        x = F.adaptive_avg_pool2d(x, 8)
    return x.reshape(x.shape[0], 64).float()


class DigitsClassifier(FeatureClassifier):
    """MLP 64 -> 256 -> 128 -> 10; the 128-d hidden layer gives the features."""

    def __init__(self, hidden: int = 256, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, hidden), nn.ReLU(),
                                  nn.Linear(hidden, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, 10)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        feats = self.body(to_digit_images(x))
        return feats, self.head(feats)


@torch.no_grad()
def accuracy(model: DigitsClassifier, x: Tensor, y: Tensor) -> float:
    """Fraction of correctly classified samples."""
    return float((model.logits(x).argmax(1) == y).float().mean())


def _fit(model: DigitsClassifier, x: Tensor, y: Tensor, epochs: int, batch_size: int) -> None:
    """Adam on flattened inputs (validation skipped: the data is known good)."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=1e-4)
    x = x.reshape(len(x), 64)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(batch_size):
            loss = F.cross_entropy(model.head(model.body(x[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def train_classifier(seed: int = 0, epochs: int = 40, batch_size: int = 32) -> DigitsClassifier:
    """Train on the seed's split with Adam; sets ``test_accuracy``. A few seconds on CPU."""
    xtr, ytr, xte, yte = load_digits_data(seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add synchronisation
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = DigitsClassifier()
            _fit(model, xtr, ytr, epochs, batch_size)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.test_accuracy = accuracy(model, xte, yte)
    return model


def _cache_path(seed: int, directory: Optional[Path]) -> Path:
    return Path(directory or cache_dir()) / f"digits_mlp_v{VERSION}_seed{seed}.safetensors"


def save_classifier(model: DigitsClassifier, path: Path, seed: int) -> None:
    """Write weights and test accuracy with safetensors (atomic rename)."""
    save_classifier_file(model, path, {"seed": str(seed), "version": VERSION})


def _load_cached(path: Path) -> DigitsClassifier:
    from safetensors import safe_open
    from safetensors.torch import load_file

    model = DigitsClassifier()
    model.load_state_dict(load_file(str(path)), strict=True)
    with safe_open(str(path), framework="pt") as f:
        model.test_accuracy = float(f.metadata()["test_accuracy"])
    return model.eval()


def load_digits_classifier(seed: int = 0, directory: Optional[Path] = None,
                           retrain: bool = False) -> DigitsClassifier:
    """The cached digits classifier, trained (and cached) on first use."""
    path = _cache_path(seed, directory)
    if path.exists() and not retrain:
        try:
            return _load_cached(path).requires_grad_(False)
        except Exception:  # a stale or corrupt cache file: retrain and overwrite it
            pass
    model = train_classifier(seed)
    save_classifier(model, path, seed)
    return model.requires_grad_(False)
