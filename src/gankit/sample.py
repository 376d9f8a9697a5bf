"""``gankit sample RUN``: draw samples from a run's checkpoint, and nothing else.

Only the generator is built, from the run's ``config.toml`` and one checkpoint (the
newest that verifies, or ``--step``): no data set, no discriminator, no optimizer state,
so a run trained on another machine, or with several processes, samples anywhere. The
generator's EMA weights are used when the run kept them (``--raw``: the trained ones).
``--truncation psi`` draws a Gaussian z from the normal truncated to [-psi, psi] by
resampling (Brock et al. 2019, Sec. 3.1). The samples are those :meth:`Trainer.generate
<gankit.train.Trainer.generate>` gives for the same seed.

A class-conditional run's generator is asked for ``--class k`` (every sample of class
k), or without it for the classes 0, 1, ..., K-1, 0, ... in turn, as the trainer's
evaluations do; the ``.npz`` then also holds ``y``, the class asked of each sample.

Output: an ``.npz`` (key ``x``: the samples as G makes them, float32; images in [-1, 1])
or a folder of PNG images (clamped to [-1, 1] and rounded to 8 bits, as the sample grids
are), written under a temporary name and renamed, so an interrupted command leaves
nothing half-written.
"""
from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch

from .checkpoint import CheckpointError, CheckpointManager, atomic_write_bytes, load_checkpoint
from .components import resolve_config
from .config import ConfigError, RunConfig
from .nets import build_net
from .nets.conditional import classes_of, requested_classes
from .nets.sampling import generate
from .rundir import RunDir


def pick_checkpoint(run: RunDir, step: Optional[int]) -> Tuple[Path, dict]:
    """The newest good checkpoint, or the one of ``step``."""
    ckpts = CheckpointManager(run.path)
    if not ckpts.list():
        raise CheckpointError(f"run {run.path} has no checkpoint to sample from")
    if step is None:
        return ckpts.load_latest()
    path = ckpts.dir / f"ckpt-{step:09d}.safetensors"
    if not path.is_file():
        have = ", ".join(str(int(p.stem.split("-")[1])) for p in ckpts.list())
        raise CheckpointError(f"run {run.path} has no checkpoint of step {step}; it has "
                              f"steps {have}")
    return path, load_checkpoint(path)


def data_shape(cfg: RunConfig, state: dict) -> Tuple[int, ...]:
    """The samples' shape, from the checkpoint (or, for older ones, the data set)."""
    if "data_shape" in state:
        return tuple(int(s) for s in state["data_shape"])
    from .data import build_dataset

    return tuple(build_dataset(cfg.data, cfg.seed).shape)


def load_generator(run_dir: str, step: Optional[int] = None, raw: bool = False,
                   device: str = "cpu") -> Tuple[torch.nn.Module, int, bool]:
    """(G in eval mode with the checkpoint's weights, the checkpoint's step, whether
    the weights are the EMA's: unless ``raw``, when the run kept one)."""
    run = RunDir.open(run_dir, tensorboard=False)
    cfg = resolve_config(run.config())
    path, state = pick_checkpoint(run, step)
    G = build_net("generator", cfg.generator, data_shape(cfg, state),
                  int(state.get("num_classes", 0)))
    ema = state.get("G_ema") or {}
    use_ema = not raw and "net" in ema
    weights = ema["net"] if use_ema else state["G"]
    try:
        G.load_state_dict(weights)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: the generator's weights do not fit its config "
                              f"({str(exc).splitlines()[0]})") from None
    return G.to(device).eval(), int(state["step"]), use_ema


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(n, C, H, W) in [-1, 1] -> (n, H, W) or (n, H, W, 3) uint8, clamped first."""
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return pixels[:, 0] if pixels.shape[1] == 1 else pixels.transpose(0, 2, 3, 1)


def write_pngs(x: torch.Tensor, out: Path) -> None:
    from PIL import Image

    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ConfigError(f"--out {out}: samples of shape {tuple(x.shape[1:])} are not "
                          "images; write them to an .npz")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True)
    try:
        digits = len(str(len(x) - 1))
        for i, img in enumerate(to_uint8(x)):
            Image.fromarray(img).save(tmp / f"{i:0{digits}d}.png")
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_out(out: Path) -> None:
    if out.suffix == ".npz":
        if out.exists() and not out.is_file():
            raise ConfigError(f"--out {out}: exists and is not a file")
    elif out.exists():
        raise ConfigError(f"--out {out}: exists; give a new folder or an .npz")
    if not out.resolve().parent.is_dir():
        raise ConfigError(f"--out {out}: no such directory {out.parent}")


def cmd_sample(args) -> int:
    if args.n < 1:
        raise ConfigError(f"--n must be >= 1, got {args.n}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {args.batch_size}")
    out = Path(args.out)
    _check_out(out)
    G, step, use_ema = load_generator(args.run_dir, args.step, args.raw, args.device)
    classes = asked_classes(G, args.n, args.cls)
    rng = torch.Generator().manual_seed(args.seed)
    x = generate(G, args.n, rng, args.device, args.batch_size, args.truncation,
                 classes).cpu()
    if out.suffix == ".npz":
        buf = io.BytesIO()
        arrays = {"x": x.float().numpy()}
        if classes is not None:
            arrays["y"] = classes.numpy()
        np.savez(buf, **arrays)
        atomic_write_bytes(out, buf.getvalue())
    else:
        write_pngs(x, out)
    weights = ("EMA weights" if use_ema else "trained weights" if args.raw
               else "trained weights: the run kept no EMA")
    which = "" if args.cls is None else f" of class {args.cls}"
    print(f"wrote {args.n} samples{which} of step {step} ({weights}; seed {args.seed}) "
          f"to {out}")
    return 0


def asked_classes(G: torch.nn.Module, n: int, cls: Optional[int]) -> Optional[torch.Tensor]:
    """The class asked of each of n samples: ``cls`` for all, or 0..K-1 in turn for a
    class-conditional G; None for an unconditional one (which refuses ``--class``)."""
    k = classes_of(G)
    if cls is None:
        return requested_classes(n, k) if k else None
    if not k:
        raise ConfigError(f"--class {cls}: this run's generator is not class-conditional")
    if not 0 <= cls < k:
        raise ConfigError(f"--class {cls} is out of range: the run's data has {k} classes, "
                          f"0..{k - 1}")
    return torch.full((n,), cls, dtype=torch.long)


def add_sample_parser(subparsers) -> None:
    p = subparsers.add_parser("sample", help="draw samples from a run's checkpoint")
    p.add_argument("run_dir", help="a run directory (gankit train's output)")
    p.add_argument("--n", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise")
    p.add_argument("--out", required=True, help="a new folder (PNG images) or an .npz")
    p.add_argument("--raw", action="store_true", help="the trained weights, not the EMA")
    p.add_argument("--step", type=int, default=None, help="the checkpoint of this step")
    p.add_argument("--truncation", type=float, default=None, metavar="PSI",
                   help="Gaussian z truncated to [-psi, psi] by resampling")
    p.add_argument("--class", dest="cls", type=int, default=None, metavar="K",
                   help="class-conditional runs: every sample of class K (default: "
                   "the classes in turn)")
    p.add_argument("--batch-size", type=int, default=4096)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_sample)
