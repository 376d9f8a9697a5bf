"""Command line: ``gankit train | eval | report | list``."""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from pathlib import Path
from typing import List, Optional

from .errors import ConfigError, GankitError, UsageError

EPILOG = """examples:
  gankit train                                   # non-saturating GAN on the 8-Gaussian ring
  gankit train configs/wgan.toml --set data.name=grid
  gankit train --set objective.name=minimax --set train.d_steps=2
  gankit train --resume runs/ring-nonsaturating-20261123-120000 --set train.steps=6000
  gankit list                                    # objectives, data sets, nets, metrics
"""


def _registries():
    from . import data, metrics, nets, objectives, stabilizers  # noqa: F401  (registration)
    from .registry import DATASETS, METRICS, NETS, OBJECTIVES, STABILIZERS

    return {"objectives": OBJECTIVES, "stabilizers": STABILIZERS, "nets": NETS,
            "datasets": DATASETS, "metrics": METRICS}


def cmd_list(args: argparse.Namespace) -> int:
    for title, reg in _registries().items():
        print(f"{title}:")
        for name, doc in reg.describe().items():
            print(f"  {name:<16} {doc}")
    from .preset_files import describe, preset_files

    print("presets (gankit train NAME):")
    presets = preset_files()
    width = max(map(len, presets), default=0)
    for name, path in presets.items():
        print(f"  {name:<{width}} {describe(path)}")
    return 0


def _start_run(args: argparse.Namespace):
    """(trainer, run directory) for a new run or a resumed one."""
    from .components import load_config
    from .rundir import RunDir
    from .train import Trainer

    if args.resume:
        if args.config:
            raise ConfigError("give either a CONFIG file or --resume RUN_DIR, not both")
        _check_resume_overrides(args.set)
        trainer = Trainer.from_run_dir(args.resume, args.set)
        run = RunDir.open(args.resume, trainer.cfg.train.tensorboard)
        if trainer.world.is_main:
            run.truncate_after(trainer.step)
            print(f"resuming {run.path} at step {trainer.step}", flush=True)
        return trainer, run
    cfg = load_config(args.config, args.set)
    trainer = Trainer(cfg)  # builds everything first: a bad config leaves no run dir
    path = RunDir.create(cfg).path if trainer.world.is_main else None
    return trainer, RunDir.open(trainer.world.broadcast_object(path), cfg.train.tensorboard)


def cmd_train(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointManager
    from .loop import fit
    from .report import make_report
    from .train import DivergenceError

    trainer, run = _start_run(args)
    main = trainer.world.is_main
    if main:
        print(f"run directory: {run.path}", flush=True)
    try:
        result = fit(trainer, run)
    except DivergenceError as exc:
        good = CheckpointManager(run.path).list()
        where = f"; last good checkpoint: {good[-1]}" if good else ""
        print(f"error: training diverged: {exc}{where}", file=sys.stderr)
        return 1
    finally:
        trainer.world.close()
    if main:
        _summary(run, result, make_report(run, trainer.data))
    return 0


RESUMABLE_KEYS = ("train.steps", "train.log_every", "train.eval_every", "train.ckpt_every",
                  "train.keep_ckpts", "train.tensorboard", "device")


def _check_resume_overrides(sets: List[str]) -> None:
    for assignment in sets:
        key = assignment.split("=", 1)[0].strip()
        if key not in RESUMABLE_KEYS:
            raise ConfigError(f"--set {key}: cannot change on --resume (it would not "
                              f"continue the same run); allowed: {', '.join(RESUMABLE_KEYS)}")


def _summary(run, result, written) -> None:
    if result:
        print("final evaluation: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float)
                                               else f"{k}={v}" for k, v in result.items()))
    print(f"outputs in {run.path}/:")
    print("  config.toml, metrics.jsonl, tb/ (TensorBoard), checkpoints/")
    for path in written:
        print(f"  {path.relative_to(run.path)}")


def cmd_report(args: argparse.Namespace) -> int:
    from .data import build_dataset
    from .report import make_report
    from .rundir import RunDir

    if (Path(args.run_dir) / "sweep.json").is_file():  # a sweep: its table and page
        from .sweep_table import report_sweep

        print(report_sweep(Path(args.run_dir)))
        return 0
    run = RunDir.open(args.run_dir, tensorboard=False)
    cfg = run.config()
    data = build_dataset(cfg.data, cfg.seed)
    for path in make_report(run, data):
        print(path)
    return 0


class Parser(argparse.ArgumentParser):
    """argparse, except that a usage error raises :class:`UsageError` (one ``error:``
    line and exit status 2 through :func:`main`) instead of printing the usage."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="gankit", description="Train GANs with the stabilising techniques of the "
        "literature and measure them.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    train = sub.add_parser("train", help="train a GAN", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("config", nargs="?", help="TOML config (presets in configs/); "
                       "default: non-saturating GAN on the ring of 8 Gaussians")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override one config value (repeatable), e.g. train.steps=5000")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue a run from its newest good checkpoint")
    train.set_defaults(func=cmd_train)
    lst = sub.add_parser("list", help="list objectives, stabilizers, nets, data sets, metrics")
    lst.set_defaults(func=cmd_list)
    report = sub.add_parser("report", help="(re)draw the plots and the HTML page of a run "
                            "directory, or the table and page of a sweep")
    report.add_argument("run_dir", metavar="RUN_OR_SWEEP")
    report.set_defaults(func=cmd_report)
    _add_eval(sub)
    return parser


def _add_eval(sub) -> None:
    """The commands that live in their own modules: eval, sample, sweep."""
    from .evaluate import add_eval_parser
    from .sample import add_sample_parser
    from .sweep import add_sweep_parser

    add_eval_parser(sub)
    add_sample_parser(sub)
    add_sweep_parser(sub)


def _warning_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def _one_line(exc: BaseException) -> str:
    return re.sub(r"\s*\n\s*", " ", str(exc)).strip() or type(exc).__name__


def main(argv: Optional[List[str]] = None) -> int:
    """Run one command; a mistake of the user's (:class:`GankitError`, or a ValueError,
    KeyError or OSError from below) is one ``error:`` line on stderr and exit status 2."""
    warnings.formatwarning = _warning_line  # one line on stderr, not a source excerpt
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (GankitError, ValueError, KeyError, OSError) as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is intact", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
