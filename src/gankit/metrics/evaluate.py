"""``gankit eval``: compare real and generated samples with FID, KID, IS, MMD, Sinkhorn.

Each metric is the pipeline samples -> features -> statistics -> number: samples are
read from a folder of PNG/JPEG images, an ``.npz`` (key ``x`` or its only array), an
``.npy``, or a run directory (then ``--n`` samples are drawn from its generator);
features come from Inception-v3 (FID form), the digits classifier or the identity;
the metrics are registered in ``gankit.registry.METRICS``.

FID can also use precomputed statistics: ``--real``/``--fake`` may be a stats ``.npz`` in
pytorch-fid's format (``mu``, ``sigma``; gankit adds ``n`` and ``features``), which
``--save-stats`` writes for the ``--real`` set, so the reference set is featurized once.

Image conventions: uint8 arrays are in [0, 255], uint16 in [0, 65535]; float arrays in
[0, 1] when their minimum is >= -1e-3, in [-1, 1] (a tanh generator) when it is below
-0.5, and anything in between is refused unless ``--real-range``/``--fake-range`` say
which; layouts (n, H, W), (n, C, H, W) and (n, H, W, C) with C in 1, 3 (RGBA drops
alpha). Identity features take any real array.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

from ..registry import METRICS
from .features import ArrayLike, FeatureStats, as_float64, check_features
from .fid import fid, frechet_distance
from .isc import inception_score
from .kid import kid, mmd2
from ..ot import cost_matrix, sinkhorn_solve

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
EVAL_METRICS = ("fid", "kid", "is", "mmd", "sinkhorn")


# ---------------------------------------------------------------- reading samples

_IMAGE_MODES_16 = ("I;16", "I;16L", "I;16B", "I;16N")


def _read_image(path: Path) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3); 16-bit grayscale is rounded to 8 bits, palette, alpha
    and CMYK images become RGB. Any decoding failure is an error naming the file."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in _IMAGE_MODES_16:
                arr = np.asarray(im).astype(np.uint32)
                return ((arr * 255 + 32767) // 65535).astype(np.uint8)
            if im.mode in ("I", "F"):
                raise ValueError(f"image file {path}: unsupported mode {im.mode} (32-bit); "
                                 "save it as 8- or 16-bit")
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im
            return np.asarray(im, dtype=np.uint8)
    except ValueError as exc:
        if str(exc).startswith("image file"):
            raise
        raise ValueError(f"unreadable image file {path}: {exc}") from None
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct/zlib errors...
        raise ValueError(f"unreadable image file {path}: {type(exc).__name__}: {exc}") from None


class ImageFolder:
    """The PNG/JPEG files of a folder, sorted by name, as a lazy uint8 array of shape
    (n, H, W) or (n, H, W, 3): a slice decodes its files when it is read, so a folder
    of 50,000 large images is never held in memory at once. Every image must have the
    first one's shape (checked as it is read, naming the file)."""

    dtype = np.dtype(np.uint8)

    def __init__(self, folder: Path, files: List[Path],
                 image_shape: Optional[Tuple[int, ...]] = None):
        if not files:
            raise ValueError(f"empty folder: no PNG/JPEG images in {folder}")
        self.folder, self.files = folder, files
        self._image_shape = image_shape or _read_image(files[0]).shape

    @property
    def shape(self) -> Tuple[int, ...]:
        return (len(self.files),) + self._image_shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.files)

    def head(self, n: int) -> "ImageFolder":
        """The first ``n`` images, still lazy."""
        return ImageFolder(self.folder, self.files[:n], self._image_shape)

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("ImageFolder supports slices only")
        images = []
        for path in self.files[key]:
            im = _read_image(path)
            if im.shape != self._image_shape:
                raise ValueError(f"images in {self.folder} have different shapes: {path.name} "
                                 f"is {im.shape}, {self.files[0].name} is {self._image_shape}")
            images.append(im)
        return np.stack(images) if images else np.empty((0,) + self._image_shape, np.uint8)


def load_image_folder(folder: Path) -> ImageFolder:
    """The PNG/JPEG files of ``folder`` as a lazy :class:`ImageFolder`."""
    return ImageFolder(folder, sorted(p for p in folder.iterdir()
                                      if p.suffix.lower() in IMAGE_SUFFIXES))


def load_array_file(path: Path) -> np.ndarray:
    """The array of an ``.npy`` (memory-mapped), or of an ``.npz`` (key ``x`` or its only
    array)."""
    try:
        if path.suffix == ".npy":
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as data:
                if not data.files:
                    raise ValueError(f"{path}: contains no arrays")
                if "x" in data.files:
                    x = data["x"]
                elif len(data.files) == 1:
                    x = data[data.files[0]]
                else:
                    raise ValueError(f"{path}: no key 'x' and several arrays "
                                     f"({', '.join(data.files)})")
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if x.ndim == 0:
        raise ValueError(f"{path}: holds a scalar, expected an array of samples (n, ...)")
    return x


def _is_run_dir(path: Path) -> bool:
    return (path / "config.toml").exists() or (path / "checkpoints").is_dir()


def load_samples(path: str, n: Optional[int] = None,
                 seed: int = 0) -> Union[np.ndarray, ImageFolder]:
    """Samples from a folder of images (lazy), an .npz/.npy file or a run directory."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"no such file or directory: {path}")
    if p.is_dir() and _is_run_dir(p):
        from ..checkpoint import sample_run  # late: the trainer is heavy

        return sample_run(p, n or 10_000, seed).detach().cpu().numpy()
    if p.is_dir():
        x = load_image_folder(p)
    elif p.suffix in (".npz", ".npy"):
        x = load_array_file(p)
    else:
        raise ValueError(f"{path}: expected a folder of images, an .npz/.npy file or a run "
                         "directory")
    if n and isinstance(x, ImageFolder):
        return x.head(n)
    return x[:n] if n else x


# ---------------------------------------------------------------- FID statistics files

@dataclass
class StatsFile:
    """FID statistics read from an ``.npz`` in pytorch-fid's format (``mu``: (d,),
    ``sigma``: (d, d)); gankit's files add ``n`` (samples) and ``features`` (extractor)."""

    path: str
    mean: np.ndarray
    cov: np.ndarray
    n: Optional[int]
    features: Optional[str]


def _is_stats_file(path: Path) -> bool:
    if path.suffix != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "mu" in data.files or "sigma" in data.files
    except (OSError, EOFError, ValueError):
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
    from ..checkpoint import atomic_write_bytes

    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"--save-stats {path}: the file name must end in .npz")
    if not path.parent.is_dir():
        raise ValueError(f"--save-stats {path}: no such directory {path.parent}")
    buf = io.BytesIO()
    np.savez(buf, mu=stats.mean, sigma=stats.cov, n=np.int64(stats.n),
             features=np.array(features))
    atomic_write_bytes(path, buf.getvalue())


def load_source(path: str, n: Optional[int] = None,
                seed: int = 0) -> Union[np.ndarray, ImageFolder, StatsFile]:
    """A stats file's :class:`StatsFile`, else the samples of :func:`load_samples`."""
    if _is_stats_file(Path(path)):
        return load_stats_file(path)
    return load_samples(path, n, seed)


# ---------------------------------------------------------------- images

def _channels_first(shape: Tuple[int, ...], name: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function taking batches of a set of this ``shape`` to (b, C, H, W), C <= 3."""
    if len(shape) == 3:
        return lambda b: b[:, None]
    last = len(shape) == 4 and shape[1] not in (1, 3, 4) and shape[-1] in (1, 3, 4)
    c = shape[-1] if last else (shape[1] if len(shape) == 4 else 0)
    if len(shape) != 4 or c not in (1, 3, 4):
        raise ValueError(f"{name}: wrong image shape {tuple(shape)}; expected (n, H, W), "
                         "(n, C, H, W) or (n, H, W, C) with C = 1 or 3")
    if last:
        return lambda b: np.moveaxis(b, -1, 1)[:, :3]
    return lambda b: b[:, :3]


IMAGE_RANGES = ("auto", "0,1", "-1,1")
_SCAN_ENTRIES = 1 << 22  # values per pass when checking a float image set's range
_CLEARLY_SIGNED = -0.5  # auto: a minimum below this means [-1, 1]


def _unit_range(x: np.ndarray, name: str, image_range: str = "auto"
                ) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping batches of ``x`` to float32 in [0, 1], after checking the
    whole set (chunk by chunk, so a large or memory-mapped set is not copied).

    uint8 is /255, uint16 /65535. Floats must be finite and within [-1, 1]; ``auto``
    reads a set whose minimum is >= -1e-3 as [0, 1] and one below -0.5 as [-1, 1] (a
    tanh generator's dark pixels), and refuses anything in between as ambiguous.
    """
    if image_range not in IMAGE_RANGES:
        raise ValueError(f"image range {image_range!r}; valid: {', '.join(IMAGE_RANGES)}")
    if x.dtype in (np.uint8, np.uint16):
        top = np.float32(255.0 if x.dtype == np.uint8 else 65535.0)
        return lambda b: b.astype(np.float32) / top
    if x.dtype.kind != "f":
        raise ValueError(f"{name}: wrong dtype {x.dtype}; images must be uint8, uint16 or float")
    lo, hi = np.inf, -np.inf
    rows = max(1, _SCAN_ENTRIES // max(1, x[0].size if len(x) else 1))
    for i in range(0, len(x), rows):
        chunk = x[i:i + rows]
        if not np.isfinite(chunk).all():
            raise ValueError(f"{name}: images contain NaN or inf")
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    if lo < -1 - 1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: values span [{lo:.3g}, {hi:.3g}]; float images must be "
                         "in [0, 1] or [-1, 1]")
    if image_range == "auto":
        if _CLEARLY_SIGNED <= lo < -1e-3:
            raise ValueError(f"{name}: values span [{lo:.3g}, {hi:.3g}], neither clearly "
                             f"[0, 1] nor [-1, 1]; say which with --{name}-range=0,1 or =-1,1")
        signed = lo < _CLEARLY_SIGNED
    else:
        signed = image_range == "-1,1"
        if not signed and lo < -1e-3:
            raise ValueError(f"{name}: values down to {lo:.3g} with --{name}-range=0,1")
    if signed:
        return lambda b: np.clip((b.astype(np.float32) + 1) / 2, 0.0, 1.0)
    return lambda b: np.clip(b.astype(np.float32), 0.0, 1.0)


def image_batches(x: np.ndarray, name: str, batch_size: int,
                  image_range: str = "auto") -> Iterator[torch.Tensor]:
    """Float (b, C, H, W) batches in [0, 1] from any supported layout and range; only a
    batch at a time is converted."""
    layout = _channels_first(tuple(x.shape), name)
    convert = _unit_range(x, name, image_range)
    for i in range(0, len(x), batch_size):
        yield torch.from_numpy(np.ascontiguousarray(convert(layout(x[i:i + batch_size]))))


# ---------------------------------------------------------------- extractors

@dataclass
class Features:
    """What an extractor keeps of one sample set: the feature matrix (when a metric
    needs it), the classifier logits (for IS) and streamed statistics (for FID)."""

    feats: Optional[np.ndarray]
    logits: Optional[np.ndarray]
    stats: Optional[FeatureStats]
    n: int


@dataclass
class Needs:
    """Which of :class:`Features`' parts the requested metrics use. ``stats``: FID may
    use streamed statistics instead of the feature matrix (which is then kept only when
    a set has fewer samples than dimensions, for FID's n x m cross-product route);
    ``save``: the statistics themselves are wanted (``--save-stats``)."""

    feats: bool
    logits: bool
    stats: bool
    save: bool = False


Extract = Callable[[np.ndarray, str], Features]


def _collect(pairs: Iterator[Tuple[ArrayLike, Optional[ArrayLike]]], name: str,
             needs: Needs, n_total: int) -> Features:
    """Features, logits and streamed statistics from (features, logits) batches of a set
    of ``n_total`` samples (``needs.save`` concerns the real set)."""
    feats: Optional[np.ndarray] = None  # filled in place: no list + concatenate copy
    logits, n = [], 0
    keep, stats = needs.feats, None
    save = needs.save and name == "real"
    for f, lg in pairs:
        f = check_features(f.reshape(len(f), -1), f"{name} features", min_samples=1,
                           keep_float32=True)
        if n == 0:
            # fewer samples than dimensions: FID takes the n x m cross-product of the
            # features, not a d x d covariance (49,152 raw pixels would need 19 GB)
            few = n_total < f.shape[1]
            keep = keep or (needs.stats and few and not save)
            if save or (needs.stats and not keep):
                stats = FeatureStats()
            if keep:
                feats = np.empty((n_total, f.shape[1]))
        if stats is not None:
            stats.update(f)
        if keep:
            if n + len(f) > n_total or f.shape[1] != feats.shape[1]:
                raise ValueError(f"{name}: the extractor returned features of shape "
                                 f"{f.shape} after {n} of {n_total} samples")
            feats[n:n + len(f)] = f
        n += len(f)
        if needs.logits and lg is not None:
            logits.append(check_features(lg, f"{name} logits", min_samples=1,
                                         keep_float32=True))
    if n == 0:
        raise ValueError(f"{name}: no samples")
    return Features(feats[:n] if feats is not None else None,
                    np.concatenate(logits) if logits else None, stats, n)


def make_extractor(kind: str, batch_size: int, weights: Optional[str] = None,
                   needs: Optional[Needs] = None, ranges: Optional[Dict[str, str]] = None
                   ) -> Tuple[Extract, Dict[str, float]]:
    """(samples -> :class:`Features`, facts about the extractor to report) for
    ``inception|digits|identity``. Samples go through in batches: with ``needs.feats``
    off (FID and IS only) no feature matrix is held, only its statistics. ``ranges``:
    the image range of each named set (``auto`` when absent)."""
    needs = needs or Needs(True, True, False)
    ranges = ranges or {}
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if kind == "identity":
        def identity(x, name):
            if x.ndim < 2:
                raise ValueError(f"{name}: expected shape (n, ...), got {x.shape}")
            rows = max(1, _SCAN_ENTRIES // max(1, int(np.prod(x.shape[1:]))))
            return _collect(((as_float64(x[i:i + rows], name), None)  # may be read-only
                             for i in range(0, len(x), rows)), name, needs, len(x))
        return identity, {}
    if kind == "digits":
        from .digits import load_digits_classifier

        net = load_digits_classifier()
        prep = lambda b: b.mean(1, keepdim=True) * 2 - 1  # noqa: E731
        info = {"digits_test_accuracy": float(net.test_accuracy)}
    elif kind == "inception":
        from .inception import load_inception

        net = load_inception(weights)
        prep = lambda b: b.expand(-1, 3, -1, -1)  # noqa: E731
        info = {}
    else:
        raise ValueError(f"unknown features {kind!r}; valid: inception, digits, identity")

    @torch.no_grad()
    def run(x, name):
        batches = image_batches(x, name, batch_size, ranges.get(name, "auto"))
        return _collect((net(prep(b)) for b in batches), name, needs, len(x))
    return run, info


# ---------------------------------------------------------------- metrics

Stats = Union[StatsFile, FeatureStats]


@dataclass
class EvalData:
    """Features, classifier logits and statistics of the real and fake samples. A side
    given as a stats file, or whose metrics need only statistics, has ``None`` features
    and its statistics instead."""

    real: Optional[np.ndarray]
    fake: Optional[np.ndarray]
    real_logits: Optional[np.ndarray]
    fake_logits: Optional[np.ndarray]
    seed: int = 0
    sinkhorn_n: int = 1000
    sinkhorn_eps: float = 0.05
    real_stats: Optional[Stats] = None
    fake_stats: Optional[Stats] = None
    kid_subsets: int = 100
    kid_subset_size: int = 1000


def _mean_cov(feats: Optional[np.ndarray], stats: Optional[Stats]):
    if stats is not None:
        return stats.mean, stats.cov
    s = FeatureStats.from_features(feats)
    return s.mean, s.cov


@METRICS.register("fid")
def fid_metric(d: EvalData) -> Dict[str, float]:
    """Frechet Inception Distance (Heusel et al. 2017) between real and fake features."""
    if d.real is not None and d.fake is not None:
        return {"fid": fid(d.real, d.fake)}
    return {"fid": frechet_distance(*_mean_cov(d.real, d.real_stats),
                                    *_mean_cov(d.fake, d.fake_stats))}


@METRICS.register("kid")
def kid_metric(d: EvalData) -> Dict[str, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): cubic-kernel MMD^2, 100 subsets."""
    size = min(d.kid_subset_size, len(d.real), len(d.fake))  # kid() warns when capped
    mean, std = kid(d.real, d.fake, n_subsets=d.kid_subsets, subset_size=d.kid_subset_size,
                    seed=d.seed)
    return {"kid": mean, "kid_std": std, "kid_subset_size": float(size)}


@METRICS.register("is")
def is_metric(d: EvalData) -> Dict[str, float]:
    """Inception Score (Salimans et al. 2016) of the fake samples (real as reference)."""
    if d.fake_logits is None:
        raise ValueError("metric 'is' needs classifier logits: use --features inception "
                         "or --features digits")
    fake = inception_score(d.fake_logits, splits=min(10, len(d.fake_logits)))
    out = {"is": fake.mean, "is_std": fake.std}
    if d.real_logits is not None:
        out["is_real"] = inception_score(d.real_logits, splits=min(10, len(d.real_logits))).mean
    return out


@METRICS.register("mmd")
def mmd_metric(d: EvalData) -> Dict[str, float]:
    """Unbiased MMD^2 with a Gaussian kernel, median-heuristic bandwidth (Gretton 2012)."""
    return {"mmd2": mmd2(d.real, d.fake)}


SINKHORN_ITERS, SINKHORN_TOL = 1000, 1e-6


@METRICS.register("sinkhorn")
def sinkhorn_metric(d: EvalData) -> Dict[str, float]:
    """Sinkhorn divergence (Cuturi 2013; Genevay et al. 2018), eps relative to mean cost."""
    x = torch.from_numpy(d.real[:d.sinkhorn_n])
    y = torch.from_numpy(d.fake[:d.sinkhorn_n])
    eps = d.sinkhorn_eps * float(cost_matrix(x, y).mean())
    if not eps > 0:
        raise ValueError("sinkhorn: all real and fake features coincide (mean cost 0)")
    xy, xx, yy = (sinkhorn_solve(cost_matrix(p, q), eps, SINKHORN_ITERS, SINKHORN_TOL)
                  for p, q in ((x, y), (x, x), (y, y)))
    err = max(r.err for r in (xy, xx, yy))
    if err > SINKHORN_TOL:
        warnings.warn(f"sinkhorn: not converged in {SINKHORN_ITERS} iterations (marginal "
                      f"error {err:.2g} > {SINKHORN_TOL:g}); a larger --sinkhorn-eps "
                      "converges faster", stacklevel=2)
    value = 2.0 * xy.cost - xx.cost - yy.cost
    return {"sinkhorn": float(value), "sinkhorn_eps": eps, "sinkhorn_marginal_error": err}


# ---------------------------------------------------------------- command

def parse_metrics(spec: str) -> List[str]:
    """Comma-separated metric names, checked against the ones ``eval`` computes."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    bad = [s for s in names if s not in EVAL_METRICS]
    if bad or not names:
        raise ValueError(f"unknown metric(s) {', '.join(bad) or '(none)'}; valid: "
                         f"{', '.join(EVAL_METRICS)}")
    return names


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``gankit eval`` to a subparsers object."""
    p = subparsers.add_parser("eval", help="FID/KID/IS/MMD/Sinkhorn between two sample sets")
    p.add_argument("--real", required=True,
                   help="image folder, .npz/.npy, run directory, or FID stats .npz")
    p.add_argument("--fake", default=None,
                   help="image folder, .npz/.npy, run directory, or FID stats .npz")
    p.add_argument("--save-stats", default=None, metavar="PATH.npz",
                   help="write the FID statistics (mu, sigma) of --real here; --fake optional")
    p.add_argument("--metrics", default=None, help=f"comma list of {', '.join(EVAL_METRICS)} "
                   "(default fid,kid; fid when a side is a stats file)")
    p.add_argument("--features", default="inception", choices=("inception", "digits", "identity"))
    for side in ("real", "fake"):
        p.add_argument(f"--{side}-range", default="auto", choices=IMAGE_RANGES,
                       help=f"range of the {side} float images (uint8 is 0..255), e.g. "
                       f"--{side}-range=-1,1; auto: [-1, 1] when the minimum is below -0.5, "
                       "[0, 1] when it is >= -0.001, else an error")
    p.add_argument("--n", type=int, default=None, help="samples per set (run dirs: 10000)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inception-weights", default=None,
                   help="pt_inception-2015-12-05-6726825d.pth (or $GANKIT_INCEPTION_WEIGHTS)")
    p.add_argument("--kid-subsets", type=int, default=100, help="KID: number of subsets")
    p.add_argument("--kid-subset-size", type=int, default=1000, help="KID: samples per subset")
    p.add_argument("--sinkhorn-n", type=int, default=1000, help="samples used by sinkhorn")
    p.add_argument("--sinkhorn-eps", type=float, default=0.05,
                   help="entropic eps as a fraction of the mean real-fake cost")
    p.set_defaults(func=run_eval)
    return p


def _check_args(args) -> None:
    """Refuse bad numbers and unwritable outputs before any sample is featurized."""
    for flag, value, low in (("--n", args.n, 2), ("--batch-size", args.batch_size, 1),
                             ("--kid-subsets", args.kid_subsets, 1),
                             ("--kid-subset-size", args.kid_subset_size, 2),
                             ("--sinkhorn-n", args.sinkhorn_n, 2)):
        if value is not None and value < low:
            raise ValueError(f"{flag} must be >= {low}, got {value}")
    if not (args.sinkhorn_eps > 0 and math.isfinite(args.sinkhorn_eps)):
        raise ValueError(f"--sinkhorn-eps must be positive, got {args.sinkhorn_eps}")
    if args.fake is None and not args.save_stats:
        raise ValueError("--fake is required unless --save-stats is given")
    if args.save_stats and Path(args.save_stats).suffix != ".npz":
        raise ValueError(f"--save-stats {args.save_stats}: the file name must end in .npz")
    for flag, path in (("--save-stats", args.save_stats), ("--out", args.out)):
        if path and not Path(path).resolve().parent.is_dir():
            raise ValueError(f"{flag} {path}: no such directory {Path(path).parent}")
        if path and Path(path).exists() and not Path(path).is_file():
            raise ValueError(f"{flag} {path}: exists and is not a file")


def _check_stats_use(stats: StatsFile, side: str, names: List[str], features: str,
                     other_is_file: bool) -> None:
    # IS is a score of the fake samples alone: a stats file may stand for the real set
    allowed = ("fid", "is") if side == "real" and not other_is_file else ("fid",)
    others = [m for m in names if m not in allowed]
    if others:
        need = "the fake samples" if others == ["is"] else "samples"
        raise ValueError(f"{stats.path} holds FID statistics only (mu, sigma); metric(s) "
                         f"{', '.join(others)} need {need}")
    if stats.features is None and features != "inception":
        raise ValueError(f"{stats.path} has no 'features' key (pytorch-fid's format: "
                         f"Inception-v3 pool features); use --features inception, not {features}")
    if stats.features is not None and stats.features != features:
        raise ValueError(f"{stats.path} holds statistics of {stats.features} features, but "
                         f"--features is {features}")


def _check_raw_pair(real: np.ndarray, fake: np.ndarray) -> None:
    """Identity features compare raw values: 0..255 integers against floats is an error."""
    ints = [x.dtype for x in (real, fake) if x.dtype.kind in "iu"]
    if len(ints) == 1:
        raise ValueError(f"--features identity compares raw values, but real is {real.dtype} "
                         f"and fake is {fake.dtype} (e.g. 0..255 against 0..1); give both "
                         "sets in one dtype and range, or use an image extractor")


def _featurize(args, names: List[str]) -> Tuple[EvalData, Dict[str, float]]:
    sources = {"real": load_source(args.real, args.n, args.seed)}
    if args.fake is not None:
        sources["fake"] = load_source(args.fake, args.n, args.seed + 1)
    if args.save_stats and isinstance(sources["real"], StatsFile):
        raise ValueError(f"--save-stats: --real {args.real} is already a stats file")
    files = {k for k, v in sources.items() if isinstance(v, StatsFile)}
    for name in files:
        _check_stats_use(sources[name], name, names, args.features, len(files) == 2)
    samples = {k: v for k, v in sources.items() if k not in files}
    for name, x in samples.items():
        if len(x) < 2:
            raise ValueError(f"{name}: need at least 2 samples, got {len(x)}")
    if args.features == "identity" and len(samples) == 2:
        _check_raw_pair(samples["real"], samples["fake"])
    need_feats = any(m in ("kid", "mmd", "sinkhorn") for m in names) and args.fake is not None
    needs = Needs(feats=need_feats, logits="is" in names, stats=not need_feats,
                  save=bool(args.save_stats))
    info: Dict[str, float] = {}
    out: Dict[str, Features] = {}
    if samples:  # loads a network (Inception's weights) only when samples need it
        extract, info = make_extractor(args.features, args.batch_size, args.inception_weights,
                                       needs, {"real": args.real_range, "fake": args.fake_range})
        out = {name: extract(x, name) for name, x in samples.items()}
    get = lambda k, field: getattr(out[k], field) if k in out else None  # noqa: E731
    stats = {k: sources[k] if k in files else get(k, "stats") for k in sources}
    real, fake = get("real", "feats"), get("fake", "feats")
    if real is not None and fake is not None and real.shape[1] != fake.shape[1]:
        raise ValueError(f"mismatched feature dimensions: {real.shape[1]} (real) vs "
                         f"{fake.shape[1]} (fake)")
    data = EvalData(real, fake, get("real", "logits"), get("fake", "logits"), args.seed,
                    args.sinkhorn_n, args.sinkhorn_eps, stats["real"], stats.get("fake"),
                    args.kid_subsets, args.kid_subset_size)
    return data, info


def _check_results(results: Dict[str, float]) -> None:
    bad = [k for k, v in results.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"non-finite result for {', '.join(bad)}")


def _count(feats: Optional[np.ndarray], stats: Optional[Stats]) -> Optional[int]:
    return len(feats) if feats is not None else (stats.n if stats is not None else None)


def run_eval(args) -> int:
    """Compute the requested metrics, print them and write JSON; 0 on success."""
    spec = args.metrics
    if spec is None:
        given = [p for p in (args.real, args.fake) if p is not None]
        spec = "fid" if any(_is_stats_file(Path(p)) for p in given) else "fid,kid"
    names = parse_metrics(spec)
    _check_args(args)
    data, info = _featurize(args, names)
    for key, value in info.items():
        print(f"{key:>24s}  {value:.6g}")
    if args.save_stats:
        stats = data.real_stats if isinstance(data.real_stats, FeatureStats) else \
            FeatureStats.from_features(data.real)
        save_stats_file(args.save_stats, stats, args.features)
        print(f"wrote FID statistics of {stats.n} samples ({stats.dim} {args.features} "
              f"features) to {args.save_stats}")
        if args.fake is None:
            return 0
    results: Dict[str, float] = {}
    for name in names:
        results.update(METRICS.get(name)(data))
    _check_results(results)
    for key, value in results.items():
        print(f"{key:>24s}  {value:.6g}")
    if args.out:
        from ..checkpoint import atomic_write_bytes

        record = {"real": args.real, "fake": args.fake, "features": args.features,
                  "n_real": _count(data.real, data.real_stats),
                  "n_fake": _count(data.fake, data.fake_stats), "seed": args.seed,
                  "metrics": results, **info}
        atomic_write_bytes(Path(args.out), (json.dumps(record, indent=2) + "\n").encode())
    return 0
