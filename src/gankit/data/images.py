"""Image data sets held in memory (:class:`ImageData`), their common options, and
scikit-learn's digits (built in). The readers of files are in :mod:`.formats` (MNIST
idx, CIFAR-10 pickles, SVHN .mat) and :mod:`.files` (an image folder, an .npz).

Every set yields channels-first float images ``(C, H, W)`` in [-1, 1] (the range of the
DCGAN generator's tanh output, Radford et al. 2016, Sec. 4) and keeps its class labels
for the semi-supervised setting of Salimans et al. (2016), Sec. 5. Nothing downloads:
the readers take a folder the user gives (``data.path``) holding the files in their
published layout, and refuse a missing or malformed file with an error naming the file
and the layout expected.

Training batches walk through seeded random permutations of the training split (one
per epoch), drawn from ``self.rng``; the permutation and the position in it are part of
``state_dict()``, so a resumed run sees the same batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.nn import functional as F

from ..config import opt
from ..errors import DataFileError
from ..registry import DATASETS
from .base import Dataset, Tensor, check_labels

__all__ = ["DataFileError", "ImageData", "CommonOptions", "Split", "build", "data_folder",
           "find_file", "to_unit_range", "to_gray", "resize", "Digits", "digits_arrays"]

Split = Tuple[Tensor, Optional[Tensor]]  # images (N, C, H, W), labels (N,) or None


# ----------------------------------------------------------------------------- the data set
class ImageData(Dataset):
    """Images held in memory (uint8 0..255 or float in [-1, 1]), optional labels/test split."""

    default_metrics: List[str] = []

    def __init__(self, train: Split, test: Optional[Split], num_classes: int, seed: int):
        super().__init__(seed)
        self.images, labels = train
        if len(self.images) == 0:  # the readers name the file; this guards the rest
            raise DataFileError(f"data set {type(self).__name__} has no training images")
        self.shape = tuple(self.images.shape[1:])
        self.num_classes = num_classes if labels is not None else 0
        self.labels = None if labels is None else check_labels(labels, num_classes, "labels")
        if test is not None and test[1] is not None and self.labels is not None:
            test = (test[0], check_labels(test[1], num_classes, "test labels"))
        self._test = test
        self._perm = torch.zeros(0, dtype=torch.long)
        self._pos = 0

    def __len__(self) -> int:
        return len(self.images)

    def _next_indices(self, m: int) -> Tensor:
        """The next ``m`` indices of the epoch permutations (a new one drawn when used up)."""
        parts = []
        while m > 0:
            if self._pos >= len(self._perm):
                self._perm = torch.randperm(len(self.images), generator=self.rng)
                self._pos = 0
            take = self._perm[self._pos:self._pos + m]
            self._pos += len(take)
            m -= len(take)
            parts.append(take)
        return torch.cat(parts)

    def sample(self, m: int) -> Tensor:
        return self.examples(self._next_indices(m))

    def sample_with_labels(self, m: int) -> Tuple[Tensor, Tensor]:
        if self.labels is None:
            return super().sample_with_labels(m)
        idx = self._next_indices(m)
        return self.examples(idx), self.labels[idx]

    def examples(self, idx: Tensor) -> Tensor:
        return to_unit_range(self.images[idx])

    def test_set(self) -> Optional[Tuple[Tensor, Tensor]]:
        if self._test is None or self._test[1] is None or self.labels is None:
            return None
        return to_unit_range(self._test[0]), self._test[1]

    def reference(self, n: int, seed: int = 1234) -> Tensor:
        rng = torch.Generator().manual_seed(seed)
        reps = -(-n // len(self.images))
        idx = torch.cat([torch.randperm(len(self.images), generator=rng) for _ in range(reps)])
        return self.examples(idx[:n])

    def state_dict(self) -> Dict[str, Any]:
        return {"rng": self.rng.get_state(), "perm": self._perm.clone(), "pos": self._pos}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
        self._perm, self._pos = state["perm"].clone(), int(state["pos"])

    def describe(self) -> Optional[Dict[str, Any]]:
        return {"images": True, "num_classes": self.num_classes}


def to_unit_range(x: Tensor) -> Tensor:
    """uint8 0..255 -> float in [-1, 1]; float images are already in range."""
    if x.dtype == torch.uint8:
        return x.float() / 127.5 - 1.0
    return x.float()


# ----------------------------------------------------------------------------- transforms
@dataclass
class CommonOptions:
    size: int = opt(0, "resize images to size x size px (0 = keep the files' size)", min=0)
    grayscale: bool = opt(False, "convert colour images to one luminance channel")
    limit: int = opt(0, "use only the first N training images (0 = all)", min=0)


def to_gray(x: Tensor) -> Tensor:
    """ITU-R BT.601 luminance of RGB images (N, 3, H, W) -> (N, 1, H, W)."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"grayscale = true needs 1- or 3-channel images, got {x.shape[1]}")
    w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = (to_unit_range(x) * w).sum(1, keepdim=True)
    return gray


def resize(x: Tensor, size: int) -> Tensor:
    """Bilinear resize to size x size (antialiased when shrinking), float in [-1, 1]."""
    if size == 0 or tuple(x.shape[2:]) == (size, size):
        return x
    shrink = size < max(x.shape[2:])
    out = F.interpolate(to_unit_range(x), size=(size, size), mode="bilinear",
                        align_corners=False, antialias=shrink)
    return out.clamp_(-1.0, 1.0)


def finish(split: Optional[Split], opts: CommonOptions, train: bool) -> Optional[Split]:
    """Apply the common options (limit, grayscale, size) to one split."""
    if split is None:
        return None
    x, y = split
    if train and opts.limit:
        x, y = x[:opts.limit], (None if y is None else y[:opts.limit])
    if opts.grayscale:
        x = to_gray(x)
    return resize(x, opts.size), y


def build(train: Split, test: Optional[Split], num_classes: int, opts: CommonOptions,
          seed: int) -> Tuple[Split, Optional[Split], int, int]:
    """Arguments for :class:`ImageData` after the common options."""
    return finish(train, opts, True), finish(test, opts, False), num_classes, seed


def data_folder(path: str, what: str, layout: str) -> Path:
    """``data.path`` as a folder, or an error saying what it should hold."""
    if not path:
        raise DataFileError(f"data.path is empty: set data.path to the folder holding "
                            f"the {what} files ({layout})")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataFileError(f"data.path = {path!r} is not a folder; it should hold the "
                            f"{what} files ({layout})")
    return folder


def find_file(folder: Path, names: List[str], layout: str) -> Path:
    """The first of ``names`` present in ``folder``, else an error naming the layout."""
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataFileError(f"{folder / names[0]} is missing (also looked for "
                        f"{', '.join(names[1:]) or 'nothing else'}); expected layout: {layout}")


# ----------------------------------------------------------------------------- digits
@DATASETS.register("digits")
class Digits(ImageData):
    """scikit-learn's 1,797 8x8 handwritten digits, 10 classes (built in; no files)."""

    default_metrics: List[str] = ["fid", "kid", "is", "classes"]  # digits-classifier

    @dataclass
    class Options(CommonOptions):
        size: int = opt(8, "image side in px: 8 (native) or a larger power of two "
                        "(bilinear resize)", choices=(8, 16, 32, 64))
        test_size: int = opt(500, "images held out as the fixed test split", min=0, max=1500)

    def __init__(self, opts: "Digits.Options", seed: int):
        x, y = digits_arrays()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        n_train = len(x) - opts.test_size
        train = (x[order[:n_train]], y[order[:n_train]])
        test = (x[order[n_train:]], y[order[n_train:]]) if opts.test_size else None
        super().__init__(*build(train, test, 10, opts, seed))


def digits_arrays() -> Tuple[Tensor, Tensor]:
    """All 1,797 digits as (N, 1, 8, 8) floats in [-1, 1] (pixel values 0..16) and labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 8.0 - 1.0).unsqueeze(1)
    return x, torch.from_numpy(bunch.target.astype(np.int64))
