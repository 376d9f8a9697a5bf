"""Data-parallel training with torch.distributed (gloo on the CPU), started by torchrun."""
import os
import subprocess
import sys

import pytest
import torch

from conftest import tiny_sets
from gankit.checkpoint import load_checkpoint
from gankit.cli import main
from gankit.train import Trainer


def torchrun(nproc, args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "gankit"] + args
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def set_args(sets):
    return sum([["--set", s] for s in sets], [])


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    sets = tiny_sets(tmp / "two", steps=3) + ["train.ckpt_every=1", "train.keep_ckpts=5",
                                              "train.eval_every=0"]
    proc = torchrun(2, ["train"] + set_args(sets), tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list((tmp / "two").iterdir())
    return tmp, run, sets, proc


def test_two_process_run_completes_and_loads_in_one_process(two_rank_run):
    _, run, _, proc = two_rank_run
    assert proc.stdout.count("run directory:") == 1  # rank 0 alone prints and writes
    trainer = Trainer.from_run_dir(run)
    assert trainer.step == 3 and trainer.world.size == 1
    assert trainer.generate(10).shape == (10, 2)


def test_two_ranks_of_32_equal_one_rank_of_64(two_rank_run, tmp_path):
    _, run, sets, _ = two_rank_run
    one = [s.replace(str(run.parent), str(tmp_path)) for s in sets]
    assert main(["train"] + set_args(one)) == 0
    (single,) = list(tmp_path.iterdir())
    ckpt = {}
    for step in (1, 3):
        name = f"checkpoints/ckpt-{step:09d}.safetensors"
        a, b = load_checkpoint(run / name), load_checkpoint(single / name)
        for net in ("G", "D"):
            for key in a[net]:
                torch.testing.assert_close(a[net][key], b[net][key], rtol=1e-5, atol=1e-6)
        ckpt[step] = a
    # not vacuous: the weights moved between the two compared steps
    assert not torch.equal(ckpt[1]["G"]["out.weight"], ckpt[3]["G"]["out.weight"])


def test_batch_not_divisible_by_world_size_is_refused(tmp_path):
    sets = tiny_sets(tmp_path, steps=2) + ["data.batch_size=63"]
    proc = torchrun(2, ["train"] + set_args(sets), tmp_path)
    assert proc.returncode != 0
    assert "data.batch_size = 63 is not divisible by the 2 processes" in proc.stderr


def test_sync_batchnorm_is_refused_on_cpu_ranks_and_a_no_op_alone(tmp_path):
    from gankit.distributed import World

    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="train.sync_batchnorm needs CUDA ranks"):
        World(rank=0, size=2).sync_batchnorm(net, True, torch.device("cpu"))
    assert World().sync_batchnorm(net, True, torch.device("cpu")) is net
    sets = tiny_sets(tmp_path, steps=2) + ["train.sync_batchnorm=true", "generator.batchnorm=true"]
    assert main(["train"] + set_args(sets)) == 0


def test_two_rank_resume_restores_every_ranks_rng(tmp_path):
    # Gaussian noise layers in D draw from each rank's own torch stream, so a resume
    # that gave both ranks rank 0's RNG state would not continue the same run.
    noisy = ["discriminator.noise_input=0.02", "discriminator.noise_hidden=0.1",
             "train.eval_every=0", "train.ckpt_every=2"]
    full = tiny_sets(tmp_path / "full", steps=4) + noisy
    proc = torchrun(2, ["train"] + set_args(full), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    half = tiny_sets(tmp_path / "half", steps=2) + noisy
    proc = torchrun(2, ["train"] + set_args(half), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list((tmp_path / "half").iterdir())
    proc = torchrun(2, ["train", "--resume", str(run), "--set", "train.steps=4"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ref,) = list((tmp_path / "full").iterdir())
    name = "checkpoints/ckpt-000000004.safetensors"
    a, b = load_checkpoint(ref / name), load_checkpoint(run / name)
    assert a["rng"]["torch_ranks"].shape[0] == 2
    assert not torch.equal(a["rng"]["torch_ranks"][0], a["rng"]["torch_ranks"][1])
    for net in ("G", "D"):
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), (net, key)
