"""StackedMNIST: the data set (three mnist5k digits as channels) and the stacked_modes
metric on constructed samples whose triples are known."""
import itertools
import math

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset, mnist5k
from gankit.metrics import stacked
from gankit.metrics.base import get
from test_mnist5k import write_csv_gz


@pytest.fixture
def fake(tmp_path, monkeypatch):
    path = write_csv_gz(tmp_path / "mnist_5k.csv.gz")
    monkeypatch.setenv(mnist5k.PATH_ENV, str(path))
    return path


def make(seed=0, **options):
    return build_dataset(DataConfig(name="stacked_mnist", options=options), seed)


def test_each_channel_is_a_training_digit_and_modes_are_the_label_triples(fake):
    d = make()
    xtr, ytr, _, _ = mnist5k.mnist5k_split()
    digits = xtr.float() / 127.5 - 1
    x, modes = d.sample_with_modes(50)
    assert x.shape == (50, 3, 28, 28) and d.shape == (3, 28, 28)
    for img, mode in zip(x, modes.tolist()):
        found = []
        for c in range(3):
            (idx,) = [i for i in range(len(digits)) if torch.equal(digits[i, 0], img[c])][:1]
            found.append(int(ytr[idx]))
        assert mode == 100 * found[0] + 10 * found[1] + found[2]
    assert len(set(modes.tolist())) > 40  # independent channels: 1,000 triples to draw from


def test_32_px_pads_the_digits_and_draws_are_seeded_and_resumable(fake):
    d32 = make(size=32)
    x = d32.sample(8)
    assert x.shape == (8, 3, 32, 32)
    assert torch.all(x[:, :, :2] == -1) and torch.all(x[:, :, :, -2:] == -1)
    a, b = make(seed=3), make(seed=3)
    assert torch.equal(a.sample(16), b.sample(16))
    state = a.state_dict()
    first = a.sample(16)
    a.load_state_dict(state)
    assert torch.equal(a.sample(16), first)
    assert torch.equal(a.reference(10), b.reference(10))
    assert not torch.equal(make(seed=4).sample(16), b.sample(16))


def _constructed(modes, size=28):
    """Samples whose channel c is the constant (digit - 4.5) / 5 of the mode's c-th digit."""
    d = torch.stack([modes // 100, modes // 10 % 10, modes % 10], 1).float()
    return ((d - 4.5) / 5).view(-1, 3, 1, 1).expand(-1, 3, size, size).contiguous()


def _read_constant(x):
    return (x.mean((1, 2, 3)) * 5 + 4.5).round().long()


def test_all_1000_modes_give_kl_zero_and_one_mode_gives_one():
    every = torch.arange(1000)
    got = stacked.sample_modes(_constructed(every), _read_constant)
    assert torch.equal(got, every)
    assert stacked.mode_histogram_metrics(got) == {"stacked_modes": 1000, "stacked_kl": 0.0}
    one = stacked.mode_histogram_metrics(
        stacked.sample_modes(_constructed(torch.full((500,), 407)), _read_constant))
    assert one["stacked_modes"] == 1 and one["stacked_kl"] == pytest.approx(math.log(1000))
    half = stacked.mode_histogram_metrics(torch.arange(1000) % 500)
    assert half["stacked_modes"] == 500 and half["stacked_kl"] == pytest.approx(math.log(2))


class _ConstantReader(torch.nn.Module):
    """Stands for the MNIST classifier: logits peak at the digit a channel encodes."""

    test_accuracy = 1.0

    def logits(self, x):
        return -(torch.arange(10).float() - (x.mean((1, 2, 3)) * 5 + 4.5)[:, None]).abs()


def test_metric_through_the_protocol_with_a_stand_in_classifier(fake):
    metric = get("stacked_modes")
    assert metric.source == "samples"
    metric._classifier = _ConstantReader()
    data = make(size=32)
    metric.check(data)
    ctx = type("Ctx", (), {"dataset": data})()
    modes = torch.tensor(list(itertools.product(range(10), repeat=3)))
    modes = modes[:, 0] * 100 + modes[:, 1] * 10 + modes[:, 2]
    out = metric.from_samples(_constructed(modes.repeat(3), 32), ctx)
    assert out == {"stacked_modes": 1000, "stacked_kl": 0.0, "mnist_test_accuracy": 1.0}
    out = metric.from_samples(_constructed(torch.tensor([5, 5, 17, 999]), 32), ctx)
    assert out["stacked_modes"] == 3
    assert out["stacked_kl"] == pytest.approx(0.5 * math.log(500) + 0.5 * math.log(250))


def test_metric_refuses_other_data_and_bad_samples(fake):
    metric = get("stacked_modes")
    with pytest.raises(ValueError, match="needs StackedMNIST images"):
        metric.check(build_dataset(DataConfig(name="ring"), 0))
    with pytest.raises(ValueError, match=r"expected \(n, 3, H, W\)"):
        stacked.sample_modes(torch.zeros(4, 1, 28, 28), _read_constant)
    with pytest.raises(ValueError, match="NaN"):
        stacked.sample_modes(torch.full((4, 3, 28, 28), float("nan")), _read_constant)


def test_expected_kl_of_a_perfect_generator_matches_simulation():
    rng = np.random.default_rng(0)
    for n in (2_500, 26_000):
        sims = []
        for _ in range(200):
            counts = np.bincount(rng.integers(0, 1000, n), minlength=1000)
            p = counts[counts > 0] / n
            sims.append(float((p * np.log(p * 1000)).sum()))
        assert stacked.expected_uniform_kl(n) == pytest.approx(np.mean(sims), rel=0.01)
    assert stacked.expected_uniform_kl(26_000) == pytest.approx(0.0193, abs=1e-4)


@pytest.mark.parametrize("preset", ["dcgan_stacked_mnist", "stacked_mnist_r1_ema"])
def test_presets_train_and_log_stacked_modes(fake, tmp_path, monkeypatch, preset):
    import json

    from gankit.cli import main
    from gankit.metrics import mnist

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(mnist.TRAINING, "epochs", 1)
    monkeypatch.setitem(mnist.TRAINING, "width", 4)
    sets = [f"out_dir='{tmp_path / 'runs'}'", "train.steps=2", "train.eval_every=2",
            "train.tensorboard=false", "eval.n_samples=40", "data.batch_size=8",
            "generator.width=8", "discriminator.width=8"]
    with pytest.warns(UserWarning, match="below 0.98"):  # the tiny stand-in classifier
        args = ["train", f"configs/{preset}.toml"] + sum([["--set", s] for s in sets], [])
        assert main(args) == 0
    (run,) = (tmp_path / "runs").iterdir()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert evals and all(1 <= r["stacked_modes"] <= 40 and r["stacked_kl"] >= 0 for r in evals)
