"""gankit sweep: variants x seeds, resumable, a table with intervals."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from gankit.cli import main
from gankit.errors import ConfigError
from gankit.sweep_spec import SweepSpec, expand, parse_seeds, run_dir_in
from gankit.sweep_table import format_table, summarise

TINY = ["train.steps=120", "train.eval_every=60", "train.log_every=60", "train.ckpt_every=20",
        "train.tensorboard=false", "eval.n_samples=300", "generator.width=32",
        "discriminator.width=32"]


def _args(out, seeds="2"):
    return ["sweep", "--seeds", seeds, "--jobs", "2", "--out", str(out)] + \
        [a for s in TINY for a in ("--set", s)]


def test_expand_and_seeds():
    vs = expand(["a.toml", None], ["data.name=ring,grid", "train.steps=1,2"], ["seed=3"])
    assert [v.name for v in vs][:2] == ["a,data.name=ring,train.steps=1",
                                        "a,data.name=ring,train.steps=2"]
    assert len(vs) == 8 and vs[-1].preset is None and vs[0].sets[0] == "seed=3"
    assert expand(["default"], [], [])[0].preset is None  # the built-in defaults
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("4-6") == [4, 5, 6]
    assert parse_seeds("0,7") == [0, 7] and parse_seeds("3-3") == [3]
    with pytest.raises(ConfigError, match=r"--seeds '0' asks for 0 seeds .* write 0-0"):
        parse_seeds("0")
    with pytest.raises(ConfigError, match="a seed twice"):
        parse_seeds("2,2")


def test_table_intervals_and_pairing_by_seed():
    spec = SweepSpec(expand([None], ["data.name=ring,grid"], []), [0, 1, 2],
                     baseline="default,data.name=ring")
    ring = {s: {"step": 9, "kind": "eval", "hq": 50.0 + s} for s in (0, 1, 2)}
    grid = {s: {"step": 9, "kind": "eval", "hq": 60.0 + s, "kl": 0.1} for s in (0, 1)}
    summary = summarise(spec, {"default,data.name=ring": ring, "default,data.name=grid": grid})
    g = summary["variants"]["default,data.name=grid"]
    assert g["hq"]["interval"]["mean"] == 60.5 and g["hq"]["seeds"] == [0, 1]
    assert g["hq"]["vs_baseline"]["diff"]["mean"] == 10.0  # paired on seeds 0 and 1 only
    assert g["hq"]["vs_baseline"]["p"] == 0.0 and "kl" in g
    table = format_table(summary)
    assert "| default,data.name=grid | 2 | 60.5 [54.1, 66.9] | 0.1 [0.1, 0.1] |" in table
    assert "| default,data.name=grid | 10 [10, 10], p = 0 | — |" in table


def _table(path):
    return json.loads((path / "results.json").read_text())


def _sweep_until_a_checkpoint(out):
    """A sweep in a process group of its own, once one of its runs has a checkpoint."""
    proc = subprocess.Popen([sys.executable, "-m", "gankit"] + _args(out),
                            env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("runs/*/seed-*/*/checkpoints/ckpt-*")):
        time.sleep(0.05)
    return proc


def test_killed_sweep_resumes_to_the_same_table(tmp_path):
    assert main(_args(tmp_path / "whole")) == 0
    whole = _table(tmp_path / "whole")
    assert whole["variants"]["default"]["modes"]["interval"]["n"] == 2
    assert (tmp_path / "whole" / "table.md").read_text().startswith("| variant | seeds |")

    cut = tmp_path / "cut"
    proc = _sweep_until_a_checkpoint(cut)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its runs, mid-way
    proc.communicate()
    assert not (cut / "results.json").exists()
    assert main(["sweep", "--resume", str(cut)]) == 0
    assert _table(cut) == whole  # finished runs kept, the others resumed exactly

    # a SIGTERM of the sweep alone (a scheduler's, `kill PID`) stops its runs too, each at
    # a checkpoint, so that nothing trains on unseen beside the --resume
    term = tmp_path / "term"
    proc = _sweep_until_a_checkpoint(term)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == 143 and "sweep stopped" in err
    with pytest.raises(ProcessLookupError):  # no process of the sweep's group is left
        os.killpg(proc.pid, 0)
    logs = [p.read_text() for p in term.glob("runs/*/seed-*/train.log")]
    assert any("stopped at step" in log for log in logs)
    assert main(["sweep", "--resume", str(term)]) == 0
    assert _table(term) == whole


@pytest.mark.parametrize("argv, message", [
    (["--axis", "train.stepz=1,2"], "train.stepz"),
    (["--axis", "data.name"], "expected KEY=VALUE1"),
    (["--seeds", "x"], "--seeds 'x'"),
    (["--baseline", "nope"], "--baseline 'nope' is not a variant"),
    (["--jobs", "0"], "--jobs must be >= 1"),
])
def test_bad_sweeps_are_refused_before_any_run(tmp_path, capsys, argv, message):
    out = tmp_path / "s"
    assert main(["sweep", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]
    assert not out.exists()


def test_resume_of_something_that_is_not_a_sweep(tmp_path, capsys):
    assert main(["sweep", "--resume", str(tmp_path)]) == 2
    assert "is not a sweep directory" in capsys.readouterr().err
    spec = SweepSpec(expand([None], [], []), [0])
    spec.save(tmp_path)
    assert SweepSpec.load(tmp_path) == spec and run_dir_in(tmp_path) is None
