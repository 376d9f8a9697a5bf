"""Readers of the published files of MNIST, Fashion-MNIST, CIFAR-10 and SVHN.

* MNIST and Fashion-MNIST: LeCun's idx format (magic ``0 0 type ndim``, big-endian
  int32 dimensions, the data), as on the MNIST site; optionally gzipped.
* CIFAR-10: the "python version" batches (Krizhevsky 2009), pickled dicts of ``b'data'``
  (10000 x 3072 uint8, channel-major) and ``b'labels'``. A pickle can call any function
  while loading, so they are read with :class:`ArraysOnlyUnpickler`, which can build only
  dicts, lists, bytes and numpy arrays.
* SVHN: the "cropped digits" format 2 (Netzer et al. 2011), MATLAB files with ``X``
  (32 x 32 x 3 x N uint8) and ``y`` (labels 1..10, 10 standing for the digit 0).

Each refuses a missing or malformed file with a :class:`DataFileError` naming the file
and the layout expected.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

import numpy as np
import torch

from ..config import opt
from ..errors import DataFileError
from ..registry import DATASETS
from .base import check_labels
from .images import CommonOptions, ImageData, Split, build, data_folder, find_file

# ----------------------------------------------------------------------------- MNIST idx
IDX_LAYOUT = ("{p}-images-idx3-ubyte and {p}-labels-idx1-ubyte (optionally .gz) for "
              "p = train and t10k, as published on the {name} site")
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
             0x0E: ">f8"}


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An idx file (LeCun's format: 0, 0, type, ndim, big-endian int32 dims, data)."""
    raw = _read_bytes(path)
    layout = f"idx format with {ndim} dimension(s): bytes 0 0 0x08 {ndim}, then dims, data"
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[3] != ndim or raw[2] not in IDX_TYPES:
        raise DataFileError(f"{path}: not an idx file with {ndim} dimension(s) "
                            f"(header {raw[:4].hex() or 'empty'}); expected {layout}")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim]) if len(raw) >= 4 + 4 * ndim else ()
    dtype = np.dtype(IDX_TYPES[raw[2]])
    expected = 4 + 4 * ndim + int(np.prod(dims)) * dtype.itemsize
    if len(dims) != ndim or len(raw) != expected:
        raise DataFileError(f"{path}: truncated or padded idx file ({len(raw)} bytes, header "
                            f"says {expected}); expected {layout}")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(dims)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                return fh.read()
        return path.read_bytes()
    except (OSError, EOFError) as exc:
        raise DataFileError(f"{path}: cannot read ({exc}); re-download or un-gzip it") from exc


def integer_labels(values: Any, n: int, where: str) -> np.ndarray:
    """``values`` as ``n`` int64 labels, or an error naming ``where`` (the file and key)."""
    y = np.asarray(values)
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu" or y.size != n:
        raise DataFileError(f"{where}: {y.size} value(s) of dtype {y.dtype}; expected {n} "
                            "integer labels, one per image")
    return y.astype(np.int64).reshape(-1)


def _idx_split(folder: Path, prefix: str, layout: str) -> Split:
    def find(kind: str) -> Path:
        names = [f"{prefix}-{kind}", f"{prefix}-{kind}.gz",
                 f"{prefix}-{kind.replace('-idx', '.idx')}"]
        return find_file(folder, names, layout)

    image_file = find("images-idx3-ubyte")
    images = read_idx(image_file, 3)
    labels = read_idx(find("labels-idx1-ubyte"), 1)
    if images.dtype != np.uint8 or len(images) == 0:
        raise DataFileError(f"{image_file}: {len(images)} images of type {images.dtype}; "
                            f"expected unsigned-byte pixels (type 0x08) and at least one "
                            f"image ({layout})")
    if len(images) != len(labels):
        raise DataFileError(f"{folder}: {prefix} has {len(images)} images but "
                            f"{len(labels)} labels; the two files must match")
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).unsqueeze(1)
    y = integer_labels(labels, len(images), f"{folder}/{prefix} labels")
    return x, check_labels(torch.from_numpy(y), 10, f"{folder}/{prefix} labels")


class _IdxImages(ImageData):
    site = ""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder holding the four idx files (see README, Image data)")

    def __init__(self, opts: "_IdxImages.Options", seed: int):
        layout = IDX_LAYOUT.format(p="{p}", name=self.site)
        folder = data_folder(opts.path, self.site, layout)
        train = _idx_split(folder, "train", layout)
        test = _idx_split(folder, "t10k", layout)
        super().__init__(*build(train, test, 10, opts, seed))


@DATASETS.register("mnist")
class MNIST(_IdxImages):
    """MNIST, 28x28 grey digits, 60k train / 10k test, from the idx files in data.path."""

    site = "MNIST"


@DATASETS.register("fashion_mnist")
class FashionMNIST(_IdxImages):
    """Fashion-MNIST, 28x28 grey clothing, 10 classes, from the idx files in data.path."""

    site = "Fashion-MNIST"


# ----------------------------------------------------------------------------- CIFAR-10
CIFAR_LAYOUT = ("data_batch_1 .. data_batch_5 and test_batch (the 'CIFAR-10 python "
                "version'), each a pickled dict with b'data' (10000 x 3072 uint8) and "
                "b'labels', directly in data.path or in data.path/cifar-10-batches-py")


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings, numbers, bytes and numpy arrays, nothing else.

    A pickle can call any importable function while loading, so a file the user did not
    write must not reach ``pickle.load``. The CIFAR-10 batches need exactly three globals
    to rebuild their numpy arrays; every other global is refused.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: only "
                                         "numpy arrays may be rebuilt from this file")
        return super().find_class(module, name)


def load_array_pickle(path: Path) -> Any:
    """Load a pickle of plain containers and numpy arrays (Python 2 str read as bytes)."""
    try:
        with open(path, "rb") as fh:
            return ArraysOnlyUnpickler(io.BytesIO(fh.read()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise DataFileError(f"{path}: not a CIFAR-10 python batch ({exc}); expected "
                            f"{CIFAR_LAYOUT}") from exc


def _cifar_batch(path: Path) -> Split:
    batch = load_array_pickle(path)
    get = (lambda k: batch.get(k.encode(), batch.get(k))) if isinstance(batch, dict) else None
    data = None if get is None else get("data")
    labels = None if get is None else get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 \
            or data.dtype != np.uint8 or len(data) == 0 or labels is None:
        what = (f"b'data' of shape {data.shape}, dtype {data.dtype}"
                if isinstance(data, np.ndarray) else "missing or malformed b'data' / b'labels'")
        raise DataFileError(f"{path}: {what}; expected {CIFAR_LAYOUT}")
    x = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32)
    y = integer_labels(labels, len(data), f"{path} b'labels'")
    return x, check_labels(torch.from_numpy(y), 10, f"{path} labels")


def _concat(splits: List[Split]) -> Split:
    return torch.cat([s[0] for s in splits]), torch.cat([s[1] for s in splits])


@DATASETS.register("cifar10")
class CIFAR10(ImageData):
    """CIFAR-10, 32x32 colour, 50k train / 10k test, from the python batches in data.path."""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder holding data_batch_1..5 and test_batch")

    def __init__(self, opts: "CIFAR10.Options", seed: int):
        folder = data_folder(opts.path, "CIFAR-10", CIFAR_LAYOUT)
        if (folder / "cifar-10-batches-py").is_dir():
            folder = folder / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)]
        train = _concat([_cifar_batch(find_file(folder, [n], CIFAR_LAYOUT)) for n in names])
        test = _cifar_batch(find_file(folder, ["test_batch"], CIFAR_LAYOUT))
        super().__init__(*build(train, test, 10, opts, seed))


# ----------------------------------------------------------------------------- SVHN
SVHN_LAYOUT = ("train_32x32.mat and test_32x32.mat (the 'cropped digits' format 2), "
               "each with X (32 x 32 x 3 x N uint8) and y (N x 1, labels 1..10, 10 = digit 0)")


def _svhn_split(path: Path) -> Split:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises several types for a bad file
        raise DataFileError(f"{path}: not a readable .mat file ({exc}); expected "
                            f"{SVHN_LAYOUT}") from exc
    x, y = mat.get("X"), mat.get("y")
    if x is None or y is None or x.ndim != 4 or x.shape[2] != 3 or x.dtype != np.uint8 \
            or x.shape[3] == 0:
        what = "missing X / y" if x is None or y is None else \
            f"X of shape {x.shape}, dtype {x.dtype}"
        raise DataFileError(f"{path}: {what}; expected {SVHN_LAYOUT}")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1)))
    y = integer_labels(y, x.shape[3], f"{path} y")
    labels = check_labels(torch.from_numpy(y) - 1, 10, f"{path} y (minus 1)")
    return images, (labels + 1) % 10  # SVHN writes digit 0 as class 10


@DATASETS.register("svhn")
class SVHN(ImageData):
    """SVHN cropped digits, 32x32 colour, 10 classes, from the .mat files in data.path."""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder holding train_32x32.mat and test_32x32.mat")

    def __init__(self, opts: "SVHN.Options", seed: int):
        folder = data_folder(opts.path, "SVHN", SVHN_LAYOUT)
        train = _svhn_split(find_file(folder, ["train_32x32.mat"], SVHN_LAYOUT))
        test = _svhn_split(find_file(folder, ["test_32x32.mat"], SVHN_LAYOUT))
        super().__init__(*build(train, test, 10, opts, seed))
