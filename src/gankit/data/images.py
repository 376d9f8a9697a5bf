"""Image data sets: scikit-learn's digits (built in) and readers for the standard files.

Every set yields channels-first float images ``(C, H, W)`` in [-1, 1] (the range of the
DCGAN generator's tanh output, Radford et al. 2016, Sec. 4) and keeps its class labels
for the semi-supervised setting of Salimans et al. (2016), Sec. 5. Nothing downloads:
the readers take a folder the user gives (``data.path``) holding the files in their
published layout, and refuse a missing or malformed file with an error naming the file
and the layout expected. CIFAR-10's batches are Python pickles; they are read with an
unpickler that can build only dicts, lists, bytes and numpy arrays (see
:class:`ArraysOnlyUnpickler`).

Training batches walk through seeded random permutations of the training split (one
per epoch), drawn from ``self.rng``; the permutation and the position in it are part of
``state_dict()``, so a resumed run sees the same batches.
"""
from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.nn import functional as F

from ..config import opt
from ..registry import DATASETS
from .base import Dataset, Tensor, check_labels

Split = Tuple[Tensor, Optional[Tensor]]  # images (N, C, H, W), labels (N,) or None


class DataFileError(ValueError):
    """A data file is missing or not in the expected layout; the message names both."""


# ----------------------------------------------------------------------------- the data set
class ImageData(Dataset):
    """Images held in memory (uint8 0..255 or float in [-1, 1]), optional labels/test split."""

    default_metrics: List[str] = []

    def __init__(self, train: Split, test: Optional[Split], num_classes: int, seed: int):
        super().__init__(seed)
        self.images, labels = train
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


def _folder(path: str, what: str, layout: str) -> Path:
    if not path:
        raise DataFileError(f"data.path is empty: set data.path to the folder holding "
                            f"the {what} files ({layout})")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataFileError(f"data.path = {path!r} is not a folder; it should hold the "
                            f"{what} files ({layout})")
    return folder


def _find(folder: Path, names: List[str], layout: str) -> Path:
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

    default_metrics: List[str] = ["fid", "kid", "is"]  # digits-classifier features

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


def _idx_split(folder: Path, prefix: str, layout: str) -> Split:
    def find(kind: str) -> Path:
        names = [f"{prefix}-{kind}", f"{prefix}-{kind}.gz",
                 f"{prefix}-{kind.replace('-idx', '.idx')}"]
        return _find(folder, names, layout)

    images = read_idx(find("images-idx3-ubyte"), 3)
    labels = read_idx(find("labels-idx1-ubyte"), 1)
    if len(images) != len(labels):
        raise DataFileError(f"{folder}: {prefix} has {len(images)} images but "
                            f"{len(labels)} labels; the two files must match")
    x = torch.from_numpy(np.array(images, dtype=np.uint8)).unsqueeze(1)
    return x, check_labels(torch.from_numpy(labels.astype(np.int64)), 10,
                           f"{folder}/{prefix} labels")


class _IdxImages(ImageData):
    site = ""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder holding the four idx files (see README, Image data)")

    def __init__(self, opts: "_IdxImages.Options", seed: int):
        layout = IDX_LAYOUT.format(p="{p}", name=self.site)
        folder = _folder(opts.path, self.site, layout)
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
            or labels is None or len(labels) != len(data):
        raise DataFileError(f"{path}: missing or malformed b'data' / b'labels'; expected "
                            f"{CIFAR_LAYOUT}")
    x = torch.from_numpy(np.ascontiguousarray(data, dtype=np.uint8)).view(-1, 3, 32, 32)
    return x, check_labels(torch.as_tensor(np.asarray(labels)), 10, f"{path} labels")


def _concat(splits: List[Split]) -> Split:
    return torch.cat([s[0] for s in splits]), torch.cat([s[1] for s in splits])


@DATASETS.register("cifar10")
class CIFAR10(ImageData):
    """CIFAR-10, 32x32 colour, 50k train / 10k test, from the python batches in data.path."""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder holding data_batch_1..5 and test_batch")

    def __init__(self, opts: "CIFAR10.Options", seed: int):
        folder = _folder(opts.path, "CIFAR-10", CIFAR_LAYOUT)
        if (folder / "cifar-10-batches-py").is_dir():
            folder = folder / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)]
        train = _concat([_cifar_batch(_find(folder, [n], CIFAR_LAYOUT)) for n in names])
        test = _cifar_batch(_find(folder, ["test_batch"], CIFAR_LAYOUT))
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
    if x is None or y is None or x.ndim != 4 or x.shape[2] != 3 or y.size != x.shape[3]:
        raise DataFileError(f"{path}: missing or malformed X / y; expected {SVHN_LAYOUT}")
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(3, 2, 0, 1), dtype=np.uint8))
    labels = check_labels(torch.from_numpy(y.astype(np.int64).reshape(-1)) - 1, 10,
                          f"{path} y (minus 1)")
    return images, (labels + 1) % 10  # SVHN writes digit 0 as class 10


@DATASETS.register("svhn")
class SVHN(ImageData):
    """SVHN cropped digits, 32x32 colour, 10 classes, from the .mat files in data.path."""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder holding train_32x32.mat and test_32x32.mat")

    def __init__(self, opts: "SVHN.Options", seed: int):
        folder = _folder(opts.path, "SVHN", SVHN_LAYOUT)
        train = _svhn_split(_find(folder, ["train_32x32.mat"], SVHN_LAYOUT))
        test = _svhn_split(_find(folder, ["test_32x32.mat"], SVHN_LAYOUT))
        super().__init__(*build(train, test, 10, opts, seed))


# ----------------------------------------------------------------------------- folder
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
FOLDER_LAYOUT = ("PNG/JPEG files of one size, either all directly in data.path "
                 "(unlabelled) or in one sub-folder per class (labelled, classes in "
                 "sorted folder-name order)")


def _image_files(folder: Path) -> List[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataFileError(f"{folder}: no .png/.jpg/.jpeg files; expected {FOLDER_LAYOUT}")
    return files


def _open_image(path: Path, mode: str, size: int):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            img.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise DataFileError(f"{path}: not a readable PNG/JPEG image ({exc})") from exc
    if size:
        img = img.resize((size, size), Image.BILINEAR)
    return img


def _check_same_size(images: List[Any], files: List[Path]) -> None:
    first = images[0].size
    for img, path in zip(images, files):
        if img.size != first:
            raise DataFileError(f"images of different sizes in one folder: {files[0]} is "
                                f"{first[0]}x{first[1]} but {path} is {img.size[0]}x"
                                f"{img.size[1]}; resize them to one size, or set "
                                "data.size = N to resize every image to N x N")


def _folder_labels(folder: Path, files: List[Path]) -> Tuple[Optional[Tensor], int]:
    parents = [p.parent for p in files]
    if all(p == folder for p in parents):
        return None, 0
    if not all(p.parent == folder for p in parents):
        raise DataFileError(f"{folder}: images at mixed depths; expected {FOLDER_LAYOUT}")
    classes = sorted({p.name for p in parents})
    index = {name: k for k, name in enumerate(classes)}
    return torch.tensor([index[p.name] for p in parents]), len(classes)


@DATASETS.register("folder")
class ImageFolder(ImageData):
    """A folder of PNG/JPEG images of one size (sub-folders = classes), from data.path."""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "folder of images (one sub-folder per class for labels)")

    def __init__(self, opts: "ImageFolder.Options", seed: int):
        folder = _folder(opts.path, "image", FOLDER_LAYOUT)
        files = _image_files(folder)
        mode = "L" if opts.grayscale or _all_gray(files) else "RGB"
        images = [_open_image(p, mode, opts.size) for p in files]
        _check_same_size(images, files)
        arrays = np.stack([np.asarray(img, dtype=np.uint8) for img in images])
        x = torch.from_numpy(arrays[:, None] if mode == "L" else arrays.transpose(0, 3, 1, 2))
        labels, k = _folder_labels(folder, files)
        super().__init__(*build((x.contiguous(), labels), None, k, opts, seed))


def _all_gray(files: List[Path]) -> bool:
    from PIL import Image

    def gray(path: Path) -> bool:
        try:
            with Image.open(path) as img:
                return img.mode in ("L", "1", "I;16", "I")
        except OSError:
            return True  # reported properly when the image is opened

    return all(gray(p) for p in files)


# ----------------------------------------------------------------------------- npz
NPZ_LAYOUT = ("an .npz with x: (N, H, W) or (N, C, H, W) images, uint8 0..255 or float in "
              "[-1, 1]; optional y: (N,) integer labels 0..K-1; optional x_test, y_test")


def _npz_images(arr: np.ndarray, where: str) -> Tensor:
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise DataFileError(f"{where}: shape {arr.shape}; expected {NPZ_LAYOUT}")
    if arr.dtype == np.uint8:
        return torch.from_numpy(np.ascontiguousarray(arr))
    if arr.dtype.kind != "f" or not np.isfinite(arr).all() or np.abs(arr).max() > 1.0:
        raise DataFileError(f"{where}: dtype {arr.dtype} with values outside [-1, 1] or "
                            f"not finite; store uint8 0..255 or floats in [-1, 1] "
                            f"(expected {NPZ_LAYOUT})")
    return torch.from_numpy(arr.astype(np.float32))


def _npz_labels(arrays: Any, key: str, n: int, where: str) -> Optional[Tensor]:
    if key not in arrays.files:
        return None
    y = arrays[key]
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise DataFileError(f"{where}[{key!r}]: shape {y.shape}, dtype {y.dtype}; expected "
                            f"({n},) integers (one label per image)")
    return torch.from_numpy(y.astype(np.int64))


@DATASETS.register("npz")
class NpzImages(ImageData):
    """Images (and labels) from a numpy .npz file at data.path."""

    @dataclass
    class Options(CommonOptions):
        path: str = opt("", "the .npz file: x, optional y, x_test, y_test")
        num_classes: int = opt(0, "number of classes (0 = largest label + 1)", min=0)

    def __init__(self, opts: "NpzImages.Options", seed: int):
        path = Path(opts.path).expanduser()
        if not opts.path or not path.is_file():
            raise DataFileError(f"data.path = {opts.path!r} is not a file; expected "
                                f"{NPZ_LAYOUT}")
        train, test = _read_npz(path)
        ys = [s[1] for s in (train, test) if s is not None and s[1] is not None]
        k = opts.num_classes or (max(int(y.max()) for y in ys) + 1 if ys else 0)
        super().__init__(*build(train, test, k, opts, seed))


def _read_npz(path: Path) -> Tuple[Split, Optional[Split]]:
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: not a readable .npz ({exc}); expected {NPZ_LAYOUT}") \
            from exc
    with arrays:
        if "x" not in arrays.files:
            raise DataFileError(f"{path}: no array 'x' (has {arrays.files}); expected "
                                f"{NPZ_LAYOUT}")
        x = _npz_images(arrays["x"], f"{path}['x']")
        train = (x, _npz_labels(arrays, "y", len(x), str(path)))
        test = None
        if "x_test" in arrays.files:
            xt = _npz_images(arrays["x_test"], f"{path}['x_test']")
            test = (xt, _npz_labels(arrays, "y_test", len(xt), str(path)))
    return train, test
