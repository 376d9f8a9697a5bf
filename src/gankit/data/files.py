"""The user's own image files as a data set: a folder of PNG/JPEG images, or an array file.

* ``folder``: PNG/JPEG files of one size, directly in ``data.path`` (unlabelled) or in one
  sub-folder per class (labelled, in sorted folder-name order). Each file is decoded by
  :func:`~gankit.data.imageio.read_image`, the reader ``gankit eval`` uses too.
* ``npz``: an ``.npz`` with ``x`` (and optionally ``y``, ``x_test``, ``y_test``), or an
  ``.npy`` of images alone, read without unpickling (:mod:`gankit.data.imageio`).

A missing or malformed file is a :class:`DataFileError` naming it and the layout expected.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

import numpy as np
import torch

from ..config import opt
from ..errors import DataFileError
from ..registry import DATASETS
from .base import Tensor
from .imageio import list_images, load_array_file, open_npz, read_image
from .images import CommonOptions, ImageData, Split, build, data_folder

# ----------------------------------------------------------------------------- folder
FOLDER_LAYOUT = ("PNG/JPEG files of one size, either all directly in data.path "
                 "(unlabelled) or in one sub-folder per class (labelled, classes in "
                 "sorted folder-name order)")


def _image_files(folder: Path) -> List[Path]:
    files = list_images(folder, recursive=True)
    if not files:
        raise DataFileError(f"{folder}: no .png/.jpg/.jpeg files; expected {FOLDER_LAYOUT}")
    return files


def _load_image(path: Path, grayscale: bool, size: int) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3): the file's pixels, to luminance (ITU-R 601, PIL's "L")
    if ``grayscale``, then bilinearly resized to size x size if ``size``."""
    from PIL import Image

    arr = read_image(path)
    if not (grayscale and arr.ndim == 3) and not size:
        return arr
    img = Image.fromarray(arr)
    if grayscale:
        img = img.convert("L")
    if size:
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _stack_same_size(images: List[np.ndarray], files: List[Path]) -> np.ndarray:
    """(N, C, H, W) uint8; grey images join colour ones as three equal channels."""
    h, w = images[0].shape[:2]
    for img, path in zip(images, files):
        if img.shape[:2] != (h, w):
            raise DataFileError(f"images of different sizes in one folder: {files[0]} is "
                                f"{w}x{h} but {path} is {img.shape[1]}x{img.shape[0]}; "
                                "resize them to one size, or set data.size = N to resize "
                                "every image to N x N")
    if all(img.ndim == 2 for img in images):
        return np.stack(images)[:, None]
    rgb = [np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img for img in images]
    return np.stack(rgb).transpose(0, 3, 1, 2)


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
        folder = data_folder(opts.path, "image", FOLDER_LAYOUT)
        files = _image_files(folder)
        images = [_load_image(p, opts.grayscale, opts.size) for p in files]
        x = torch.from_numpy(np.ascontiguousarray(_stack_same_size(images, files)))
        labels, k = _folder_labels(folder, files)
        super().__init__(*build((x, labels), None, k, opts, seed))


# ----------------------------------------------------------------------------- npz
NPZ_LAYOUT = ("an .npz with x: (N, H, W) or (N, C, H, W) images, C = 1 or 3, uint8 0..255 "
              "or float in [-1, 1]; optional y: (N,) integer labels 0..K-1; optional "
              "x_test, y_test (or an .npy holding x alone)")


def _npz_images(arr: np.ndarray, where: str) -> Tensor:
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or arr.shape[1] not in (1, 3) or 0 in arr.shape:
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
    if path.suffix == ".npy":
        return (_npz_images(np.array(load_array_file(path)), str(path)), None), None
    with open_npz(path) as arrays:
        if "x" not in arrays.files:
            raise DataFileError(f"{path}: no array 'x' (has {arrays.files}); expected "
                                f"{NPZ_LAYOUT}")
        x = _npz_images(arrays["x"], f"{path}['x']")
        train = (x, _npz_labels(arrays, "y", len(x), str(path)))
        test = None
        if "x_test" in arrays.files:
            xt = _npz_images(arrays["x_test"], f"{path}['x_test']")
            if xt.shape[1:] != x.shape[1:]:
                raise DataFileError(f"{path}['x_test']: images of shape {tuple(xt.shape[1:])}"
                                    f" but x has {tuple(x.shape[1:])}; both splits need one "
                                    "image shape")
            test = (xt, _npz_labels(arrays, "y_test", len(xt), str(path)))
    return train, test
