"""SIGKILL during training or during a checkpoint write, then --resume: the run ends
bit-identical to an uninterrupted one."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import tiny_sets
from gankit.checkpoint import load_checkpoint

STEPS = 60


def sets_for(tmp_path):
    return tiny_sets(tmp_path, steps=STEPS) + ["train.ckpt_every=5", "train.eval_every=30"]


def gankit_cmd(args):
    return [sys.executable, "-m", "gankit"] + [str(a) for a in args]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Runs gankit in-process but dies (SIGKILL) in the middle of writing the checkpoint of
# step argv[1]: the temporary file is complete, the rename has not happened.
KILL_IN_SAVE = """
import os, signal, sys
import gankit.checkpoint as ck
real = ck.os.replace
at = int(sys.argv.pop(1))
def replace(src, dst):
    if str(dst).endswith(f"ckpt-{at:09d}.safetensors"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real(src, dst)
ck.os.replace = replace
from gankit.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_dir(parent):
    (run,) = [p for p in parent.iterdir() if p.is_dir()]
    return run


def final_state(run):
    return load_checkpoint(run / "checkpoints" / f"ckpt-{STEPS:09d}.safetensors")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    args = ["train"] + sum([["--set", s] for s in sets_for(tmp)], [])
    subprocess.run(gankit_cmd(args), check=True, env=ENV, capture_output=True)
    return final_state(run_dir(tmp))


def assert_same(a, b):
    assert a["step"] == b["step"] == STEPS
    for part in ("G", "D", "g_opt", "d_opt"):
        flat_a = torch.cat([t.reshape(-1).double() for t in _tensors(a[part])])
        flat_b = torch.cat([t.reshape(-1).double() for t in _tensors(b[part])])
        assert torch.equal(flat_a, flat_b), part


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for key in sorted(obj, key=str):
            yield from _tensors(obj[key])
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def resume(run):
    proc = subprocess.run(gankit_cmd(["train", "--resume", run]), env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_sigkill_during_training_then_resume(tmp_path, reference):
    args = ["train"] + sum([["--set", s] for s in sets_for(tmp_path)], [])
    proc = subprocess.Popen(gankit_cmd(args), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        latest = list(tmp_path.glob("*/checkpoints/latest"))
        if latest and latest[0].read_text().strip() >= "ckpt-000000020":
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = run_dir(tmp_path)
    killed_at = len(list((run / "checkpoints").glob("ckpt-*")))
    assert proc.returncode == -signal.SIGKILL and killed_at >= 1
    assert not (run / "checkpoints" / f"ckpt-{STEPS:09d}.safetensors").exists()
    out = resume(run).stdout
    assert "resuming" in out
    assert_same(final_state(run), reference)


@pytest.mark.parametrize("at,says", [(20, "resuming .* at step 15"),
                                     (5, "no checkpoint yet; starting it from step 0")])
def test_sigkill_during_checkpoint_write_then_resume(tmp_path, reference, at, says):
    args = ["train"] + sum([["--set", s] for s in sets_for(tmp_path)], [])
    proc = subprocess.run([sys.executable, "-c", KILL_IN_SAVE, str(at)] + args, env=ENV,
                          capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    run = run_dir(tmp_path)
    ckpt_dir = run / "checkpoints"
    assert list(ckpt_dir.glob(f".ckpt-{at:09d}.safetensors.tmp-*"))  # the torn write
    before = at - 5
    latest = ckpt_dir / "latest"
    assert (latest.read_text().strip() if latest.exists() else None) == (
        f"ckpt-{before:09d}.safetensors" if before else None)
    proc = resume(run)
    assert re.search(says, proc.stdout + proc.stderr)
    assert not list(ckpt_dir.glob(".*.tmp-*"))  # cleaned up by the next save
    assert_same(final_state(run), reference)
