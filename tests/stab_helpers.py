"""Shared helpers for the stabilizer tests: short CLI runs and exact-resume checks."""
from pathlib import Path
from unittest import mock

import torch

from conftest import tiny_sets
from gankit.checkpoint import CheckpointManager
from gankit.cli import main


def only_run(path: Path) -> Path:
    (run,) = [p for p in path.iterdir() if p.is_dir()]
    return run


def cli_train(path: Path, steps: int, extra, resume=None) -> int:
    """``gankit train`` in-process, without the report's plots (tested elsewhere; they
    take most of a short run's time)."""
    if resume is not None:
        args = ["train", "--resume", str(resume), "--set", f"train.steps={steps}"]
    else:
        sets = tiny_sets(path, steps=steps) + ["train.eval_every=0"] + list(extra)
        args = ["train"] + sum([["--set", s] for s in sets], [])
    with mock.patch("gankit.report.make_report", return_value=[]):
        return main(args)


def assert_resume_exact(tmp_path: Path, extra, steps: int = 6) -> dict:
    """N steps then resume to 2N must equal 2N straight: weights, optimizers, stabilizers."""
    assert cli_train(tmp_path / "full", 2 * steps, extra) == 0
    _, full = CheckpointManager(only_run(tmp_path / "full")).load_latest()
    assert cli_train(tmp_path / "half", steps, extra) == 0
    run = only_run(tmp_path / "half")
    assert cli_train(tmp_path / "half", 2 * steps, extra, resume=run) == 0
    _, resumed = CheckpointManager(run).load_latest()
    assert resumed["step"] == full["step"] == 2 * steps
    _assert_same(full, resumed, "state")
    return full


def _assert_same(a, b, where):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}/{i}")
    else:
        assert a == b, where
