"""Reading image files and arrays: the one reader that the data sets and ``gankit eval``
share.

* :func:`read_image`: one PNG/JPEG file as uint8 (H, W) or (H, W, 3); 16-bit grayscale
  is rounded to 8 bits, palette, alpha and CMYK images become RGB, 32-bit modes are
  refused, and any decoding failure is an error naming the file.
* :class:`ImageFolderArray`: the images of a folder as a lazy uint8 array (a slice
  decodes its files when it is read).
* :func:`load_array_file`: the array of an ``.npy`` (memory-mapped) or an ``.npz`` (key
  ``x`` or its only array); :func:`open_npz` opens an ``.npz`` for reading several keys.

Nothing is unpickled (``allow_pickle=False``), and every failure is a
:class:`~gankit.errors.DataFileError` (a ``ValueError``) naming the file.
"""
from __future__ import annotations

import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np

from ..errors import DataFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

_IMAGE_MODES_16 = ("I;16", "I;16L", "I;16B", "I;16N")


def read_image(path: Path) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3); 16-bit grayscale is rounded to 8 bits, palette, alpha
    and CMYK images become RGB. Any decoding failure is an error naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in _IMAGE_MODES_16:
                arr = np.asarray(im).astype(np.uint32)
                return ((arr * 255 + 32767) // 65535).astype(np.uint8)
            if im.mode in ("I", "F"):
                raise DataFileError(f"image file {path}: unsupported mode {im.mode} (32-bit); "
                                    "save it as 8- or 16-bit")
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im
            return np.asarray(im, dtype=np.uint8)
    except DataFileError:
        raise
    except ValueError as exc:
        raise DataFileError(f"unreadable image file {path}: {exc}") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct/zlib errors...
        raise DataFileError(f"unreadable image file {path}: {type(exc).__name__}: {exc}") \
            from None


class ImageFolderArray:
    """The PNG/JPEG files of a folder, sorted by name, as a lazy uint8 array of shape
    (n, H, W) or (n, H, W, 3): a slice decodes its files when it is read, so a folder
    of 50,000 large images is never held in memory at once. Every image must have the
    first one's shape (checked as it is read, naming the file)."""

    dtype = np.dtype(np.uint8)

    def __init__(self, folder: Path, files: List[Path],
                 image_shape: Optional[Tuple[int, ...]] = None):
        if not files:
            raise DataFileError(f"empty folder: no PNG/JPEG images in {folder}")
        self.folder, self.files = folder, files
        self._image_shape = image_shape or read_image(files[0]).shape

    @property
    def shape(self) -> Tuple[int, ...]:
        return (len(self.files),) + self._image_shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.files)

    def head(self, n: int) -> "ImageFolderArray":
        """The first ``n`` images, still lazy."""
        return ImageFolderArray(self.folder, self.files[:n], self._image_shape)

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("ImageFolderArray supports slices only")
        images = []
        for path in self.files[key]:
            im = read_image(path)
            if im.shape != self._image_shape:
                raise DataFileError(f"images in {self.folder} have different shapes: {path.name} "
                                 f"is {im.shape}, {self.files[0].name} is {self._image_shape}")
            images.append(im)
        return np.stack(images) if images else np.empty((0,) + self._image_shape, np.uint8)


def list_images(folder: Path, recursive: bool = False) -> List[Path]:
    """The PNG/JPEG files in ``folder`` (and its sub-folders if ``recursive``), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def load_image_folder(folder: Path) -> ImageFolderArray:
    """The PNG/JPEG files of ``folder`` as a lazy :class:`ImageFolderArray`."""
    return ImageFolderArray(folder, list_images(folder))


# Errors numpy and zipfile raise for a file that is not a well-formed .npz / .npy.
_ARRAY_FILE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


@contextmanager
def open_npz(path: Path) -> Iterator[np.lib.npyio.NpzFile]:
    """An ``.npz`` opened without unpickling; reading a key inside the ``with`` block is
    checked too. Not a zip archive, a truncated member, an object array or an ``.npy``
    under an ``.npz`` name are each a :class:`DataFileError` naming the file."""
    try:
        data = np.load(path, allow_pickle=False)
    except _ARRAY_FILE_ERRORS as exc:
        raise DataFileError(f"cannot read {path}: not a readable .npz archive "
                            f"({type(exc).__name__}: {exc})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DataFileError(f"{path}: holds a single .npy array, not an .npz archive of "
                            "named arrays")
    try:
        with data:
            yield data
    except DataFileError:
        raise
    except _ARRAY_FILE_ERRORS as exc:
        raise DataFileError(f"cannot read {path}: a member is damaged or not a plain "
                            f"array ({type(exc).__name__}: {exc})") from None


def load_array_file(path: Path) -> np.ndarray:
    """The array of an ``.npy`` (memory-mapped), or of an ``.npz`` (key ``x`` or its only
    array)."""
    path = Path(path)
    if path.suffix == ".npy":
        try:
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        except _ARRAY_FILE_ERRORS as exc:
            raise DataFileError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    else:
        with open_npz(path) as data:
            if not data.files:
                raise DataFileError(f"{path}: contains no arrays")
            if "x" in data.files:
                x = data["x"]
            elif len(data.files) == 1:
                x = data[data.files[0]]
            else:
                raise DataFileError(f"{path}: no key 'x' and several arrays "
                                    f"({', '.join(data.files)})")
    if x.ndim == 0:
        raise DataFileError(f"{path}: holds a scalar, expected an array of samples (n, ...)")
    return x
