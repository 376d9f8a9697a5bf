"""``gankit eval``: compare real and generated samples with FID, KID, IS, MMD, Sinkhorn.

Each metric is the pipeline samples -> features -> statistics -> number: samples are
read from a folder of PNG/JPEG images, an ``.npz`` (key ``x`` or its only array), an
``.npy``, or a run directory (then ``--n`` samples are drawn from its generator);
features come from Inception-v3 (FID form), the digits classifier or the identity;
the metrics are registered in ``gankit.registry.METRICS``.

FID can also use precomputed statistics: ``--real``/``--fake`` may be a stats ``.npz`` in
pytorch-fid's format (``mu``, ``sigma``; gankit adds ``n`` and ``features``), which
``--save-stats`` writes for the ``--real`` set, so the reference set is featurized once.

Image conventions: uint8 arrays are in [0, 255]; float arrays in [0, 1], or in [-1, 1]
when any value is negative (a tanh generator); layouts (n, H, W), (n, C, H, W) and
(n, H, W, C) with C in 1, 3 (RGBA drops alpha). Identity features take any real array.
"""
from __future__ import annotations

import argparse
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import numpy as np
import torch

from ..registry import METRICS
from .features import FeatureStats, as_float64, check_features, check_same_dim, extract_features
from .fid import fid, frechet_distance
from .isc import inception_score
from .kid import kid, mmd2
from .sinkhorn import cost_matrix, sinkhorn_divergence

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
EVAL_METRICS = ("fid", "kid", "is", "mmd", "sinkhorn")


# ---------------------------------------------------------------- reading samples

def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("RGB") if im.mode not in ("L", "RGB") else im
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"unreadable image file {path}: {exc}") from None


def load_image_folder(folder: Path) -> np.ndarray:
    """uint8 array (n, H, W) or (n, H, W, 3) of the PNG/JPEG files, sorted by name."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"empty folder: no PNG/JPEG images in {folder}")
    images = [_read_image(p) for p in files]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images in {folder} have different shapes: {sorted(shapes)[:4]}")
    return np.stack(images)


def load_array_file(path: Path) -> np.ndarray:
    """The array of an ``.npy``, or of an ``.npz`` (key ``x`` or its only array)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if isinstance(data, np.ndarray):
                return data
            if "x" in data.files:
                return data["x"]
            if len(data.files) == 1:
                return data[data.files[0]]
            raise ValueError(f"{path}: no key 'x' and several arrays ({', '.join(data.files)})")
    except (OSError, EOFError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None


def _is_run_dir(path: Path) -> bool:
    return (path / "config.toml").exists() or (path / "checkpoints").is_dir()


def load_samples(path: str, n: Optional[int] = None, seed: int = 0) -> np.ndarray:
    """Samples from a folder of images, an .npz/.npy file or a run directory."""
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
                seed: int = 0) -> Union[np.ndarray, StatsFile]:
    """A stats file's :class:`StatsFile`, else the samples of :func:`load_samples`."""
    if _is_stats_file(Path(path)):
        return load_stats_file(path)
    return load_samples(path, n, seed)


# ---------------------------------------------------------------- images

def _channels_first(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4 and x.shape[1] not in (1, 3, 4) and x.shape[-1] in (1, 3, 4):
        x = np.moveaxis(x, -1, 1)
    if x.ndim != 4 or x.shape[1] not in (1, 3, 4):
        raise ValueError(f"{name}: wrong image shape {x.shape}; expected (n, H, W), "
                         "(n, C, H, W) or (n, H, W, C) with C = 1 or 3")
    return x[:, :3]


def _unit_range(x: np.ndarray, name: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.dtype.kind != "f":
        raise ValueError(f"{name}: wrong dtype {x.dtype}; images must be uint8 or float")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: images contain NaN or inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - 1e-3 or hi > 1 + 1e-3:
        raise ValueError(f"{name}: values span [{lo:.3g}, {hi:.3g}]; float images must be "
                         "in [0, 1] or [-1, 1]")
    x = x.astype(np.float32)
    return np.clip((x + 1) / 2 if lo < 0 else x, 0.0, 1.0)


def to_images(x: np.ndarray, name: str) -> torch.Tensor:
    """Float (n, C, H, W) in [0, 1] from any supported layout and range."""
    return torch.from_numpy(np.ascontiguousarray(_unit_range(_channels_first(x, name), name)))


# ---------------------------------------------------------------- extractors

Extract = Callable[[np.ndarray, str], Tuple[np.ndarray, Optional[np.ndarray]]]


def _run_net(net_fn, images: torch.Tensor, batch_size: int):
    """(features, logits) of a network ``net_fn`` over images in batches."""
    feats, logits = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            f, lg = net_fn(images[i:i + batch_size])
            feats.append(as_float64(f))
            logits.append(as_float64(lg))
    return check_features(np.concatenate(feats), min_samples=1), np.concatenate(logits)


def make_extractor(kind: str, batch_size: int, weights: Optional[str] = None) -> Extract:
    """A function samples -> (features, logits or None) for ``inception|digits|identity``."""
    if kind == "identity":
        return lambda x, name: (_identity(x, name), None)
    if kind == "digits":
        from .digits import load_digits_classifier

        net = load_digits_classifier()
        to_net = lambda x, name: to_images(x, name).mean(1, keepdim=True) * 2 - 1  # noqa
        return lambda x, name: _run_net(net, to_net(x, name), batch_size)
    if kind == "inception":
        from .inception import load_inception

        net = load_inception(weights)
        to_net = lambda x, name: to_images(x, name).expand(-1, 3, -1, -1)  # noqa: E731
        return lambda x, name: _run_net(net, to_net(x, name), batch_size)
    raise ValueError(f"unknown features {kind!r}; valid: inception, digits, identity")


def _identity(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim < 2:
        raise ValueError(f"{name}: expected shape (n, ...), got {x.shape}")
    return extract_features(lambda b: b.reshape(len(b), -1), as_float64(x, name), 4096)


# ---------------------------------------------------------------- metrics

@dataclass
class EvalData:
    """Features (and classifier logits, if any) of the real and fake samples; a side
    given as a stats file has ``None`` features and its :class:`StatsFile` instead."""

    real: Optional[np.ndarray]
    fake: Optional[np.ndarray]
    real_logits: Optional[np.ndarray]
    fake_logits: Optional[np.ndarray]
    seed: int = 0
    sinkhorn_n: int = 1000
    sinkhorn_eps: float = 0.05
    real_stats: Optional[StatsFile] = None
    fake_stats: Optional[StatsFile] = None


def _mean_cov(feats: Optional[np.ndarray], stats: Optional[StatsFile]):
    if stats is not None:
        return stats.mean, stats.cov
    s = FeatureStats.from_features(feats)
    return s.mean, s.cov


@METRICS.register("fid")
def fid_metric(d: EvalData) -> Dict[str, float]:
    """Frechet Inception Distance (Heusel et al. 2017) between real and fake features."""
    if d.real_stats is None and d.fake_stats is None:
        return {"fid": fid(d.real, d.fake)}
    return {"fid": frechet_distance(*_mean_cov(d.real, d.real_stats),
                                    *_mean_cov(d.fake, d.fake_stats))}


@METRICS.register("kid")
def kid_metric(d: EvalData) -> Dict[str, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): cubic-kernel MMD^2, 100 subsets."""
    mean, std = kid(d.real, d.fake, seed=d.seed)
    return {"kid": mean, "kid_std": std}


@METRICS.register("is")
def is_metric(d: EvalData) -> Dict[str, float]:
    """Inception Score (Salimans et al. 2016) of the fake samples (real as reference)."""
    if d.fake_logits is None:
        raise ValueError("metric 'is' needs classifier logits: use --features inception "
                         "or --features digits")
    fake = inception_score(d.fake_logits, splits=min(10, len(d.fake_logits)))
    real = inception_score(d.real_logits, splits=min(10, len(d.real_logits)))
    return {"is": fake.mean, "is_std": fake.std, "is_real": real.mean}


@METRICS.register("mmd")
def mmd_metric(d: EvalData) -> Dict[str, float]:
    """Unbiased MMD^2 with a Gaussian kernel, median-heuristic bandwidth (Gretton 2012)."""
    return {"mmd2": mmd2(d.real, d.fake)}


@METRICS.register("sinkhorn")
def sinkhorn_metric(d: EvalData) -> Dict[str, float]:
    """Sinkhorn divergence (Cuturi 2013; Genevay et al. 2018), eps relative to mean cost."""
    x = torch.from_numpy(d.real[:d.sinkhorn_n])
    y = torch.from_numpy(d.fake[:d.sinkhorn_n])
    eps = d.sinkhorn_eps * float(cost_matrix(x, y).mean())
    if not eps > 0:
        raise ValueError("sinkhorn: all real and fake features coincide (mean cost 0)")
    value = sinkhorn_divergence(x, y, eps, n_iters=1000, tol=1e-6)
    return {"sinkhorn": float(value), "sinkhorn_eps": eps}


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
    p.add_argument("--n", type=int, default=None, help="samples per set (run dirs: 10000)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inception-weights", default=None,
                   help="pt_inception-2015-12-05-6726825d.pth (or $GANKIT_INCEPTION_WEIGHTS)")
    p.add_argument("--sinkhorn-n", type=int, default=1000, help="samples used by sinkhorn")
    p.add_argument("--sinkhorn-eps", type=float, default=0.05,
                   help="entropic eps as a fraction of the mean real-fake cost")
    p.set_defaults(func=run_eval)
    return p


def _check_stats_use(stats: StatsFile, names: List[str], features: str) -> None:
    others = [m for m in names if m != "fid"]
    if others:
        raise ValueError(f"{stats.path} holds FID statistics only (mu, sigma); metric(s) "
                         f"{', '.join(others)} need samples")
    if stats.features is None and features != "inception":
        raise ValueError(f"{stats.path} has no 'features' key (pytorch-fid's format: "
                         f"Inception-v3 pool features); use --features inception, not {features}")
    if stats.features is not None and stats.features != features:
        raise ValueError(f"{stats.path} holds statistics of {stats.features} features, but "
                         f"--features is {features}")


def _featurize(args, names: List[str]) -> EvalData:
    if args.fake is None and not args.save_stats:
        raise ValueError("--fake is required unless --save-stats is given")
    sources = {"real": load_source(args.real, args.n, args.seed)}
    if args.fake is not None:
        sources["fake"] = load_source(args.fake, args.n, args.seed + 1)
    if args.save_stats and isinstance(sources["real"], StatsFile):
        raise ValueError(f"--save-stats: --real {args.real} is already a stats file")
    extract = None
    feats: Dict[str, Tuple[Optional[np.ndarray], Optional[np.ndarray]]] = {}
    for name, src in sources.items():
        if isinstance(src, StatsFile):
            if args.fake is not None:
                _check_stats_use(src, names, args.features)
            feats[name] = (None, None)
            continue
        if len(src) < 2:
            raise ValueError(f"{name}: need at least 2 samples, got {len(src)}")
        if extract is None:  # loads Inception's weights only when samples need them
            extract = make_extractor(args.features, args.batch_size, args.inception_weights)
        feats[name] = extract(src, name)
    real, fake = feats["real"], feats.get("fake", (None, None))
    if real[0] is not None and fake[0] is not None:
        check_same_dim(real[0], fake[0])
    stats = {k: v if isinstance(v, StatsFile) else None for k, v in sources.items()}
    return EvalData(real[0], fake[0], real[1], fake[1], args.seed, args.sinkhorn_n,
                    args.sinkhorn_eps, stats["real"], stats.get("fake"))


def _check_results(results: Dict[str, float]) -> None:
    bad = [k for k, v in results.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"non-finite result for {', '.join(bad)}")


def _count(feats: Optional[np.ndarray], stats: Optional[StatsFile]) -> Optional[int]:
    return len(feats) if feats is not None else (stats.n if stats is not None else None)


def run_eval(args) -> int:
    """Compute the requested metrics, print them and write JSON; 0 on success."""
    spec = args.metrics
    if spec is None:
        given = [p for p in (args.real, args.fake) if p is not None]
        spec = "fid" if any(_is_stats_file(Path(p)) for p in given) else "fid,kid"
    names = parse_metrics(spec)
    data = _featurize(args, names)
    if args.save_stats:
        stats = FeatureStats.from_features(data.real)
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
        print(f"{key:>14s}  {value:.6g}")
    if args.out:
        record = {"real": args.real, "fake": args.fake, "features": args.features,
                  "n_real": _count(data.real, data.real_stats),
                  "n_fake": _count(data.fake, data.fake_stats), "seed": args.seed,
                  "metrics": results}
        from ..checkpoint import atomic_write_bytes

        atomic_write_bytes(Path(args.out), (json.dumps(record, indent=2) + "\n").encode())
    return 0
