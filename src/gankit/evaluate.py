"""``gankit eval``: compare real and generated samples with FID, KID, IS, MMD, Sinkhorn.

Each metric is the pipeline samples -> features -> statistics -> number: samples are
read from a folder of PNG/JPEG images, an ``.npz`` (key ``x`` or its only array), an
``.npy`` (:mod:`gankit.data.imageio`), a run directory (then ``--n`` samples are
drawn from its generator) or a built-in data set by name; features come from
Inception-v3 (FID form), the digits classifier, the MNIST classifier (28 x 28 grey) or
the identity (:mod:`gankit.metrics.extract`); the metrics are those of
``gankit.registry.METRICS`` computed from features (:class:`gankit.metrics.base.Metric`).

FID can also use precomputed statistics: ``--real``/``--fake`` may be a stats ``.npz`` in
pytorch-fid's format (:mod:`gankit.metrics.stats_file`), which ``--save-stats`` writes
for the ``--real`` set, so the reference set is featurized once.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import metrics  # noqa: F401  (registers the metrics)
from .checkpoint import atomic_write_bytes
from .data.imageio import ImageFolderArray, load_array_file, load_image_folder
from .metrics import protocol
from .metrics.base import EvalData, Stats
from .metrics.base import get as metrics_get
from .metrics.extract import IMAGE_RANGES, Features, Needs, image_size, make_extractor
from .metrics.features import FeatureStats
from .metrics.inception_input import DEFAULT_PIPELINE, PIPELINES
from .metrics.protocol import parse_protocol, protocol_pipeline
from .metrics.stats_file import StatsFile, is_stats_file, load_stats_file, save_stats_file
from .registry import METRICS

# ---------------------------------------------------------------- reading samples

def _is_run_dir(path: Path) -> bool:
    return (path / "config.toml").exists() or (path / "checkpoints").is_dir()


def sample_run(run_dir: Union[str, Path], n: int, seed: int = 0,
               device: Optional[str] = None) -> np.ndarray:
    """``n`` samples from the generator of the newest good checkpoint of ``run_dir``."""
    from .train import Trainer  # the trainer is heavy: only for run directories

    trainer = Trainer.from_run_dir(run_dir, device=device or "cpu")
    return trainer.generate(n, seed=seed).detach().cpu().numpy()


def builtin_samples(spec: str, n: Optional[int], like: Optional[str] = None,
                    side: Optional[int] = None) -> Optional[np.ndarray]:
    """Examples of a built-in data set named ``NAME`` (its training split) or
    ``NAME:test`` (its held-out split), or None when NAME is no registered data set.

    The set's options are those of the run directory ``like`` when it trained on the
    same data set (so a run is scored against the data at the size it trained on, as
    its own evaluations are), else the set's defaults, resized to ``side`` px (the
    other set's images) when the set comes in several sizes: an image extractor
    resizes both sets to its own input, and a set upsampled for training then
    resized back does not match the native images (on digits at 16 px, a run's FID
    is several times higher against the 8 px set). The training split gives ``n``
    examples (all when ``n`` is None and the set is finite, else 10,000) drawn without
    replacement by the evaluation stream of the set; the test split its first ``n``.
    """
    from .config import DataConfig
    from .data import build_dataset
    from .errors import DataFileError
    from .registry import DATASETS

    name, sep, split = spec.partition(":")
    if name not in DATASETS.names():
        return None
    if sep and split not in ("train", "test"):
        raise ValueError(f"{spec}: the split after ':' must be 'train' or 'test'")
    cfg = DataConfig(name=name)
    if like is not None and (Path(like) / "config.toml").is_file():  # a run directory
        from .components import load_config

        run_data = load_config(Path(like) / "config.toml").data
        if run_data.name == name:
            cfg = run_data
    if cfg.options == {} and side is not None:
        cfg = _sized(cfg, spec, side)
    try:
        data = build_dataset(cfg, seed=0)
    except DataFileError as exc:
        raise DataFileError(f"{spec}: the data set {name!r} reads files ({exc}); give "
                            "its images as a folder or an .npz instead, or a run that "
                            "trained on it as --fake") from exc
    if split == "test":
        test = data.test_set()
        if test is None:
            raise ValueError(f"{spec}: data set {name!r} has no test split")
        x = test[0][:n] if n else test[0]
    else:
        x = data.reference(n or (len(data) if hasattr(data, "__len__") else 10_000))
    return x.detach().cpu().numpy()


def _sized(cfg, spec: str, side: int):
    """``cfg`` at ``side`` px, when its data set has a ``size`` option (any side, or one
    of its choices; a set already at that side is left as it is)."""
    from dataclasses import fields, replace

    from .registry import DATASETS

    size = {f.name: f for f in fields(DATASETS.get(cfg.name).Options)}.get("size")
    if size is None or side == size.default:
        return cfg
    choices = size.metadata.get("choices")
    if choices is not None and side not in choices:
        raise ValueError(f"{spec}: the other set's images are {side} px, but {cfg.name!r} "
                         f"comes at {', '.join(map(str, choices))} px only; resize the "
                         "images to one of those, or give the real images as a file")
    return replace(cfg, options={"size": side})


def load_samples(path: str, n: Optional[int] = None, seed: int = 0,
                 like: Optional[str] = None, side: Optional[int] = None
                 ) -> Union[np.ndarray, ImageFolderArray]:
    """Samples from a folder of images (lazy), an .npz/.npy file, a run directory, or a
    built-in data set by name (:func:`builtin_samples`; a path that exists wins)."""
    p = Path(path)
    if not p.exists():
        x = builtin_samples(path, n, like, side)
        if x is not None:
            return x
        raise ValueError(f"no such file or directory: {path} (nor a built-in data set; "
                         "see gankit list)")
    if p.is_dir() and _is_run_dir(p):
        return sample_run(p, n or 10_000, seed)
    if p.is_dir():
        x = load_image_folder(p)
    elif p.suffix in (".npz", ".npy"):
        x = load_array_file(p)
    else:
        raise ValueError(f"{path}: expected a folder of images, an .npz/.npy file or a run "
                         "directory")
    if n and isinstance(x, ImageFolderArray):
        return x.head(n)
    return x[:n] if n else x


def load_source(path: str, n: Optional[int] = None, seed: int = 0,
                like: Optional[str] = None, side: Optional[int] = None
                ) -> Union[np.ndarray, ImageFolderArray, StatsFile]:
    """A stats file's :class:`StatsFile`, else the samples of :func:`load_samples`."""
    if is_stats_file(Path(path)):
        return load_stats_file(path)
    return load_samples(path, n, seed, like, side)


def _square_side(x: Any) -> Optional[int]:
    """The side of a set of square images, else None (vectors, stats, other shapes)."""
    if isinstance(x, StatsFile) or getattr(x, "ndim", 0) not in (3, 4):
        return None
    try:
        h, w = image_size(x.shape)
    except ValueError:
        return None
    return h if h == w else None


# ---------------------------------------------------------------- command


def eval_metrics() -> List[str]:
    """The registered metrics computed from two sets' features: the ones ``eval`` offers."""
    return [n for n in METRICS.names() if METRICS.get(n).source == "features"]


def parse_metrics(spec: str) -> List[str]:
    """Comma-separated metric names, checked against the ones ``eval`` computes."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    valid = eval_metrics()
    bad = [s for s in names if s not in valid]
    if bad or not names:
        raise ValueError(f"unknown metric(s) {', '.join(bad) or '(none)'}; valid: "
                         f"{', '.join(valid)}")
    return names


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``gankit eval`` to a subparsers object."""
    p = subparsers.add_parser("eval", help="FID/KID/IS/MMD/Sinkhorn between two sample sets")
    p.add_argument("--real", required=True,
                   help="image folder, .npz/.npy, run directory, FID stats .npz, or a "
                   "built-in data set by name (e.g. digits; digits:test for its held-out "
                   "split), with the options of the --fake run when it trained on it, "
                   "else at the size of the --fake images (e.g. digits at 16 px); "
                   "--fake takes a set by name the same way")
    p.add_argument("--fake", default=None,
                   help="image folder, .npz/.npy, run directory, FID stats .npz, or a "
                   "built-in data set by name")
    p.add_argument("--save-stats", default=None, metavar="PATH.npz",
                   help="write the FID statistics (mu, sigma) of --real here; --fake optional")
    p.add_argument("--metrics", default=None, help=f"comma list of {', '.join(eval_metrics())} "
                   "(default fid,kid; fid when a side is a stats file)")
    p.add_argument("--protocol", default=None, metavar="NAME",
                   help="a named protocol <metric><n>-<features>, e.g. fid10k-inception: "
                   "sets --metrics, --n and --features")
    p.add_argument("--features", default=None,
                   choices=("inception", "digits", "mnist", "identity"))
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
    p.add_argument("--inception-pipeline", default=None, choices=tuple(PIPELINES),
                   help=f"Inception's resize and pixel scaling, as the reference does it: "
                   f"ttur (TTUR's TF code and torch-fidelity; what papers report), "
                   f"pytorch-fid, clean-fid (default {DEFAULT_PIPELINE})")
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
    # a score of the fake samples alone (IS): a stats file may stand for the real set
    chosen = [metrics_get(m) for m in names]
    others = [m.name for m in chosen if not m.accepts_stats and
              not (m.fake_only and side == "real" and not other_is_file)]
    if others:
        need = "the fake samples" if others == ["is"] else "samples"
        raise ValueError(f"{stats.path} holds FID statistics only (mu, sigma); metric(s) "
                         f"{', '.join(others)} need {need}")
    if stats.features is None and features.split("-")[0] != "inception":
        raise ValueError(f"{stats.path} has no 'features' key (pytorch-fid's format: "
                         f"Inception-v3 pool features); use --features inception, not {features}")
    if stats.features is not None and stats.features != features:
        raise ValueError(f"{stats.path} holds statistics of {stats.features} features, but "
                         f"these are {features} (--features, --inception-pipeline)")


def _check_raw_pair(real: np.ndarray, fake: np.ndarray) -> None:
    """Identity features compare raw values: 0..255 integers against floats is an error."""
    ints = [x.dtype for x in (real, fake) if x.dtype.kind in "iu"]
    if len(ints) == 1:
        raise ValueError(f"--features identity compares raw values, but real is {real.dtype} "
                         f"and fake is {fake.dtype} (e.g. 0..255 against 0..1); give both "
                         "sets in one dtype and range, or use an image extractor")


def _names_a_set(path: str) -> bool:
    from .registry import DATASETS

    return not Path(path).exists() and path.partition(":")[0] in DATASETS.names()


def _load_pair(args) -> Dict[str, Any]:
    """The real and the fake source; a built-in set named on one side takes its
    options from the other side's run, or its size from the other side's images."""
    if args.fake is None:
        return {"real": load_source(args.real, args.n, args.seed)}
    if _names_a_set(args.fake) and not _names_a_set(args.real):
        real = load_source(args.real, args.n, args.seed)
        fake = load_source(args.fake, args.n, args.seed + 1, like=args.real,
                           side=_square_side(real))
    else:
        fake = load_source(args.fake, args.n, args.seed + 1)
        real = load_source(args.real, args.n, args.seed, like=args.fake,
                           side=_square_side(fake))
    return {"real": real, "fake": fake}


def _featurize(args, names: List[str]) -> Tuple[EvalData, Dict[str, float]]:
    sources = _load_pair(args)
    if args.save_stats and isinstance(sources["real"], StatsFile):
        raise ValueError(f"--save-stats: --real {args.real} is already a stats file")
    files = {k for k, v in sources.items() if isinstance(v, StatsFile)}
    for name in files:
        _check_stats_use(sources[name], name, names, _features_label(args), len(files) == 2)
    samples = {k: v for k, v in sources.items() if k not in files}
    for name, x in samples.items():
        if len(x) < 2:
            raise ValueError(f"{name}: need at least 2 samples, got {len(x)}")
    if args.features == "identity" and len(samples) == 2:
        _check_raw_pair(samples["real"], samples["fake"])
    chosen = [metrics_get(m) for m in names]
    need_feats = any(m.matrix for m in chosen) and args.fake is not None
    needs = Needs(feats=need_feats, logits=any(m.logits for m in chosen), stats=not need_feats,
                  save=bool(args.save_stats))
    info: Dict[str, float] = {}
    out: Dict[str, Features] = {}
    if samples:  # loads a network (Inception's weights) only when samples need it
        extract, info = make_extractor(args.features, args.batch_size, args.inception_weights,
                                       needs, {"real": args.real_range, "fake": args.fake_range},
                                       args.inception_pipeline)
        out = {name: extract(x, name) for name, x in samples.items()}
    get = lambda k, field: getattr(out[k], field) if k in out else None  # noqa: E731
    stats = {k: sources[k] if k in files else get(k, "stats") for k in sources}
    real, fake = get("real", "feats"), get("fake", "feats")
    if real is not None and fake is not None and real.shape[1] != fake.shape[1]:
        raise ValueError(f"mismatched feature dimensions: {real.shape[1]} (real) vs "
                         f"{fake.shape[1]} (fake)")
    data = EvalData(real, fake, get("real", "logits"), get("fake", "logits"), stats["real"],
                    stats.get("fake"), args.seed, args.kid_subsets, args.kid_subset_size,
                    args.sinkhorn_n, args.sinkhorn_eps)
    return data, info


def _check_results(results: Dict[str, float]) -> None:
    bad = [k for k, v in results.items() if not math.isfinite(v)]
    if bad:
        raise ValueError(f"non-finite result for {', '.join(bad)}")


def _count(feats: Optional[np.ndarray], stats: Optional[Stats]) -> Optional[int]:
    return len(feats) if feats is not None else (stats.n if stats is not None else None)


def _apply_protocol(args) -> None:
    """``--protocol fid10k-inception``: the metric, sample count and features it names."""
    metric, n, features = parse_protocol(args.protocol, eval_metrics())
    pipeline = protocol_pipeline(args.protocol)
    for flag, given, wanted in (("--metrics", args.metrics, metric),
                                ("--features", args.features, features),
                                ("--n", args.n, n),
                                ("--inception-pipeline", args.inception_pipeline, pipeline)):
        if given is not None and wanted is not None and given != wanted:
            raise ValueError(f"--protocol {args.protocol} means {flag} {wanted}, not {given}")
    args.metrics, args.n = metric, n
    args.features = features or args.features
    args.inception_pipeline = pipeline or args.inception_pipeline


def _features_label(args) -> str:
    """The features a stats file records: Inception's with a non-default pipeline carry
    its suffix (``inception-cleanfid``), so they are not read as another pipeline's."""
    pipe = PIPELINES[args.inception_pipeline] if args.features == "inception" else None
    return args.features + (f"-{pipe.suffix}" if pipe and pipe.suffix else "")


def _resolve_pipeline(args) -> None:
    """The Inception pipeline: the default for inception features, refused for others."""
    if args.features == "inception":
        args.inception_pipeline = args.inception_pipeline or DEFAULT_PIPELINE
    elif args.inception_pipeline is not None:
        raise ValueError(f"--inception-pipeline {args.inception_pipeline} applies to "
                         f"--features inception only, not {args.features}")


def _protocols(args, names: List[str], data: EvalData, info: Dict[str, Any], results):
    """({value key: protocol name}, {name: details}) of this evaluation."""
    stamps, details = {}, {}
    n_real, n_fake = _count(data.real, data.real_stats), _count(data.fake, data.fake_stats)
    for name in names:
        d = protocol.describe(name, n_fake, args.features, info.get("weights_sha256", ""),
                              n_real, str(args.real), args.seed,
                              f"real {args.real_range}, fake {args.fake_range}",
                              args.inception_pipeline)
        if args.protocol and d["name"] != args.protocol:
            raise ValueError(f"--protocol {args.protocol}: the sets gave {d['name']} "
                             f"({n_fake} fake and {n_real} real samples); it needs as many "
                             "samples as it names")
        details[d["name"]] = d
        stamps.update({k: d["name"] for k in results[name]})
    return stamps, details


def run_eval(args) -> int:
    """Compute the requested metrics, print them and write JSON; 0 on success."""
    if args.protocol:
        _apply_protocol(args)
    args.features = args.features or "inception"
    _resolve_pipeline(args)
    spec = args.metrics
    if spec is None:
        given = [p for p in (args.real, args.fake) if p is not None]
        spec = "fid" if any(is_stats_file(Path(p)) for p in given) else "fid,kid"
    names = parse_metrics(spec)
    _check_args(args)
    data, info = _featurize(args, names)
    for key, value in info.items():
        print(f"{key:>24s}  {value if isinstance(value, str) else format(value, '.6g')}")
    if args.save_stats:
        stats = data.real_stats if isinstance(data.real_stats, FeatureStats) else \
            FeatureStats.from_features(data.real)
        save_stats_file(args.save_stats, stats, _features_label(args))
        print(f"wrote FID statistics of {stats.n} samples ({stats.dim} {args.features} "
              f"features) to {args.save_stats}")
        if args.fake is None:
            return 0
    per_metric = {name: metrics_get(name).from_features(data) for name in names}
    results: Dict[str, float] = {k: v for r in per_metric.values() for k, v in r.items()}
    _check_results(results)
    stamps, details = _protocols(args, names, data, info, per_metric)
    for key, value in results.items():
        print(f"{key:>24s}  {value:<12.6g}  ({stamps[key]})")
    if args.out:
        record = {"real": args.real, "fake": args.fake, "features": args.features,
                  "n_real": _count(data.real, data.real_stats),
                  "n_fake": _count(data.fake, data.fake_stats), "seed": args.seed,
                  "metrics": results, "protocol": stamps, "protocol_details": details,
                  **info}
        atomic_write_bytes(Path(args.out), (json.dumps(record, indent=2) + "\n").encode())
    return 0
