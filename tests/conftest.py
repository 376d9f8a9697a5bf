import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _small_threads():
    torch.set_num_threads(1)
    yield


def tiny_sets(tmp_path, steps=20, **extra):
    """--set overrides for a fast toy run writing under tmp_path."""
    sets = [f"out_dir='{tmp_path}'", f"train.steps={steps}", "train.log_every=5",
            "train.eval_every=10", "train.ckpt_every=10", "train.tensorboard=false",
            "eval.n_samples=500", "data.batch_size=64",
            "generator.width=32", "discriminator.width=32"]
    return sets + [f"{k}={v}" for k, v in extra.items()]
