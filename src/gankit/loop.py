"""The loop around a :class:`~gankit.train.Trainer`: train until ``train.steps``, with
logging, evaluation, sample snapshots or grids, checkpoints and divergence rollback on
their schedules, a progress bar on a terminal and plain log lines elsewhere.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import warnings
from typing import Any, Dict, Iterator, List, Optional

import torch

from . import seeds
from .checkpoint import CheckpointManager
from .errors import Terminated
from .rundir import RunDir
from .train import DivergenceError, Trainer


class _Mean:
    """Running means of the logged values between two log lines."""

    def __init__(self):
        self.sums: Dict[str, float] = {}
        self.counts: Dict[str, int] = {}  # per key: some are not logged every step

    def add(self, logs: Dict[str, torch.Tensor]) -> None:
        for key, value in logs.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
            self.counts[key] = self.counts.get(key, 0) + 1

    def pop(self) -> Dict[str, float]:
        out = {k: v / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return out


def _due(step: int, every: int, last: int) -> bool:
    return step == last or (every > 0 and step % every == 0)


class Progress:
    """A tqdm bar on a terminal; plain log lines otherwise (CI, pipes, files)."""

    def __init__(self, start: int, total: int):
        self.total, self.tty = total, sys.stderr.isatty()
        self.t0, self.start = time.time(), start
        self.bar = None
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, dynamic_ncols=True, unit="step")

    def update(self, step: int, values: Optional[Dict[str, float]] = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if values:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()
                                      if isinstance(v, float)}, refresh=False)
        elif values:
            rate = (step - self.start) / max(time.time() - self.t0, 1e-9)
            text = " ".join(f"{k}={_fmt(v)}" for k, v in values.items())
            print(f"step {step}/{self.total} {text} ({rate:.0f} steps/s)", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def fit(trainer: Trainer, run: RunDir) -> Dict[str, Any]:
    """Train until ``train.steps``, logging, evaluating and checkpointing on schedule.

    Returns the last evaluation. A run that stops early keeps a checkpoint of where it
    was: when an evaluation, a log or a plot raises, on Ctrl-C, or on SIGTERM (what
    ``kill``, ``timeout`` and a SLURM cancel or preemption send; it raises
    :class:`Terminated`), the state after the last completed step is saved before the
    exception goes on; a signal that comes during a step is held until the step ends.
    A non-finite loss raises :class:`DivergenceError`; the step it happened in has
    already changed D, so that state is not one a resume could continue exactly, and
    the checkpoints already written stay as they are (the newest is the last good
    state). With several ranks only rank 0 writes (logs, snapshots,
    checkpoints) and evaluates; logged values are averaged over ranks, and a stopped
    run saves nothing more (saving is collective).
    """
    ckpts = CheckpointManager(run.path, trainer.cfg.train.keep_ckpts)
    state = _Stop(trainer, ckpts)
    progress = None
    try:
        with _held_interrupts(state) as interrupted:
            last_eval: Dict[str, Any] = {}
            if trainer.step == 0 and trainer.world.is_main:
                last_eval = _evaluate(trainer, run)
            if trainer.step == 0 and trainer.cfg.train.on_divergence == "rollback":
                state.save()  # something to roll back to
            if trainer.world.is_main:
                progress = Progress(trainer.step, trainer.cfg.train.steps)
            return _train(trainer, run, state, progress, interrupted, last_eval)
    except BaseException as exc:
        state.keep(exc)
        raise
    finally:
        if progress is not None:
            progress.close()
        run.close()


def _train(trainer: Trainer, run: RunDir, state: "_Stop", progress: Optional[Progress],
           interrupted: List[type], last_eval: Dict[str, Any]) -> Dict[str, Any]:
    """The steps of :func:`fit`, each followed by what is due after it."""
    cfg, main = trainer.cfg.train, trainer.world.is_main
    mean, rollbacks = _Mean(), 0
    while trainer.step < cfg.steps:
        state.in_step = True
        try:
            logs = trainer.train_step()
        except DivergenceError as exc:
            rollbacks = _roll_back(trainer, state.ckpts, run, exc, rollbacks)
            state.in_step, mean = False, _Mean()  # back at a checkpoint's state
            continue
        state.in_step = False
        if interrupted:
            raise interrupted[0]()
        mean.add(logs)
        step = trainer.step
        logged = None
        if _due(step, cfg.log_every, cfg.steps):
            logged = trainer.world.mean_dict(mean.pop())
            if main:
                run.log(step, "train", logged)
        if main and _due(step, cfg.eval_every, cfg.steps):
            last_eval = _evaluate(trainer, run)
            logged = {**(logged or {}), **last_eval}
        if progress is not None:
            progress.update(step, logged)
        if _due(step, cfg.ckpt_every, cfg.steps):
            state.save()
    return last_eval


class _Stop:
    """Checkpoints of a run that stops early: after a completed step only, once."""

    def __init__(self, trainer: Trainer, ckpts: CheckpointManager):
        self.trainer, self.ckpts = trainer, ckpts
        self.in_step = False  # True while a step is under way (its state is partial)
        self.saved = -1  # the step of the newest checkpoint written by this fit

    def save(self) -> None:
        self.saved = -1  # a save that fails half-way is tried again on stopping
        _save(self.trainer, self.ckpts)
        self.saved = self.trainer.step

    def keep(self, exc: BaseException) -> None:
        """Save the state of the last completed step, if that is where the run stopped."""
        trainer = self.trainer
        if (self.in_step or isinstance(exc, DivergenceError) or trainer.world.size > 1
                or self.saved == trainer.step):
            return
        try:
            self.save()
        except Exception as err:  # the first error is the one to report
            print(f"could not save a checkpoint at step {trainer.step}: {err}",
                  file=sys.stderr, flush=True)
            return
        print(f"stopped at step {trainer.step} ({type(exc).__name__}); saved "
              f"{self.ckpts.dir / f'ckpt-{trainer.step:09d}.safetensors'}",
              file=sys.stderr, flush=True)


@contextlib.contextmanager
def _held_interrupts(state: _Stop) -> Iterator[List[type]]:
    """Hold a SIGINT (Ctrl-C) or a SIGTERM that comes during a step until the step ends:
    the list it yields gets the exception to raise (KeyboardInterrupt, :class:`Terminated`)
    and the loop raises it at the step's end. Between steps, or at a second signal of
    the kind, it is raised at once. Only in the main thread, SIGTERM only in a run of
    one process, and each signal only when it has Python's default disposition (nothing
    else has claimed it; a shell that starts a job in the background without job
    control leaves SIGINT ignored)."""
    flag: List[type] = []
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    defaults = {signal.SIGINT: (signal.default_int_handler, KeyboardInterrupt)}
    if state.trainer.world.size == 1:  # ranks save nothing on stopping, and torchrun
        defaults[signal.SIGTERM] = (signal.SIG_DFL, Terminated)  # SIGTERMs them all
    claimed = {sig: how for sig, how in defaults.items() if signal.getsignal(sig) is how[0]}

    def hold(signum, frame):
        default, error = claimed[signum]
        if not state.in_step:
            raise error()
        flag.append(error)
        signal.signal(signum, default)

    for sig in claimed:
        signal.signal(sig, hold)
    try:
        yield flag
    finally:
        for sig, (default, _) in claimed.items():
            signal.signal(sig, default)


def _roll_back(trainer: Trainer, ckpts: CheckpointManager, run: RunDir,
               exc: DivergenceError, done: int) -> int:
    """With ``train.on_divergence = "rollback"``: reload the newest good checkpoint and
    go on with learning rates times ``rollback_lr_factor``; otherwise re-raise."""
    cfg = trainer.cfg.train
    if cfg.on_divergence != "rollback" or done >= cfg.max_rollbacks:
        raise exc
    path, state = ckpts.load_latest()
    trainer.load_state_dict(state)
    trainer.scale_lr(cfg.rollback_lr_factor)
    msg = (f"{exc}; rolled back to {path.name} (step {trainer.step}) with learning rates "
           f"x {cfg.rollback_lr_factor} (rollback {done + 1} of at most {cfg.max_rollbacks})")
    warnings.warn(msg)
    if trainer.world.is_main:
        run.truncate_after(trainer.step)
        run.log(trainer.step, "event", {"rollback": done + 1, "message": msg})
    return done + 1


def _save(trainer: Trainer, ckpts: CheckpointManager) -> None:
    trainer.check_parameters()
    state = trainer.state_dict()  # collective with several ranks
    if trainer.world.is_main:
        ckpts.save(trainer.step, state)
    trainer.world.barrier()


def _evaluate(trainer: Trainer, run: RunDir) -> Dict[str, Any]:
    results, samples = trainer.evaluate()
    ev = trainer.evaluator
    run.log(trainer.step, "eval", {**results, "protocol": ev.protocols,
                                   "protocol_details": ev.protocol_details})
    if samples.dim() == 2 and samples.shape[1] == 2:
        run.save_snapshot(trainer.step, samples)
    if samples.dim() == 4:  # images: a grid from a fixed z, comparable across steps
        grid, cols = trainer.sample_grid(seeds.derived_seed(trainer.cfg.seed, seeds.GRID))
        run.save_grid(trainer.step, grid, cols)  # conditional runs: one row per class
    return results
