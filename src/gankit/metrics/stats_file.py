"""FID statistics files: an ``.npz`` in pytorch-fid's format (``mu``: (d,), ``sigma``:
(d, d)), to which gankit adds ``n`` (the number of samples) and ``features`` (the
extractor), so a reference set is featurized once and compared with many runs.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..checkpoint import atomic_write_bytes
from ..data.imageio import open_npz
from ..errors import DataFileError
from .features import FeatureStats


@dataclass
class StatsFile:
    """FID statistics read from an ``.npz`` in pytorch-fid's format (``mu``: (d,),
    ``sigma``: (d, d)); gankit's files add ``n`` (samples) and ``features`` (extractor)."""

    path: str
    mean: np.ndarray
    cov: np.ndarray
    n: Optional[int]
    features: Optional[str]


def is_stats_file(path: Path) -> bool:
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with open_npz(path) as data:
            return "mu" in data.files or "sigma" in data.files
    except DataFileError:
        return False  # load_array_file reports it


def load_stats_file(path: Union[str, Path]) -> StatsFile:
    """Read and check a stats file; errors name the file and the key at fault."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("mu", "sigma") if k not in data.files]
            if missing:
                raise ValueError(f"stats file {path}: missing key {missing[0]!r} (a stats file "
                                 "holds 'mu' and 'sigma')")
            mu, sigma = data["mu"], data["sigma"]
            n = data["n"] if "n" in data.files else None
            features = data["features"] if "features" in data.files else None
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    for key, arr in (("mu", mu), ("sigma", sigma)):
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"stats file {path}: key {key!r} has dtype {arr.dtype}, not a real "
                             "number type")
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    if mu.ndim != 1 or mu.shape[0] == 0:
        raise ValueError(f"stats file {path}: 'mu' has shape {mu.shape}, expected (d,)")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"stats file {path}: 'sigma' has shape {sigma.shape}, expected "
                         f"({d}, {d}) for a 'mu' of length {d}")
    for key, arr in (("mu", mu), ("sigma", sigma)):
        if not np.isfinite(arr).all():
            raise ValueError(f"stats file {path}: {key!r} contains NaN or inf")
    scale = float(np.abs(sigma).max())
    if float(np.abs(sigma - sigma.T).max()) > 1e-6 * max(scale, 1e-300):
        raise ValueError(f"stats file {path}: 'sigma' is not symmetric")
    if float(np.diagonal(sigma).min()) < 0.0:
        raise ValueError(f"stats file {path}: 'sigma' has negative variances on its diagonal "
                         "(not a covariance)")
    if n is not None:
        if n.shape != () or n.dtype.kind not in "iu" or int(n) < 2:
            raise ValueError(f"stats file {path}: 'n' must be an integer >= 2, got {n!r}")
        n = int(n)
    if features is not None:
        if features.shape != () or features.dtype.kind != "U":
            raise ValueError(f"stats file {path}: 'features' must be a string, got {features!r}")
        features = str(features)
    return StatsFile(str(path), mu, sigma, n, features)


def save_stats_file(path: Union[str, Path], stats: FeatureStats, features: str) -> None:
    """Write ``stats`` as an ``.npz`` that pytorch-fid also reads (``mu``, ``sigma``),
    plus ``n`` and ``features``; atomically, so a crash leaves no half-written file."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"--save-stats {path}: the file name must end in .npz")
    if not path.parent.is_dir():
        raise ValueError(f"--save-stats {path}: no such directory {path.parent}")
    buf = io.BytesIO()
    np.savez(buf, mu=stats.mean, sigma=stats.cov, n=np.int64(stats.n),
             features=np.array(features))
    atomic_write_bytes(path, buf.getvalue())
