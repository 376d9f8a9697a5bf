"""FID, KID and IS computed during training on image data (gankit.metrics.training)."""
import json

import numpy as np
import pytest
import torch

from gankit.components import load_config
from gankit.data import build_dataset
from gankit.evaluate import add_eval_parser
from gankit.metrics import training
from gankit.train import Trainer


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _digits():
    return build_dataset(load_config(sets=["data.name='digits'"]).data, seed=0)


def _score(samples, data, evaluator=None):
    evaluator = evaluator or training.Evaluator(["fid", "kid", "is"], data)
    return evaluator.evaluate(None, samples)


def test_reference_images_score_zero_and_noise_scores_far(monkeypatch):
    data = _digits()
    calls = []
    evaluator = training.Evaluator(["fid", "kid", "is"], data)
    features = evaluator.features
    monkeypatch.setattr(evaluator, "features", lambda x: calls.append(len(x)) or features(x))
    same = _score(data.reference(400), data, evaluator)
    assert calls == [400, 400]  # reference once, samples once for all three metrics
    noise = torch.rand(400, *data.shape) * 2 - 1
    far = _score(noise, data, evaluator)
    assert calls == [400, 400, 400]  # the reference is cached
    assert 0 <= same["fid"] < 1e-8 and far["fid"] > 100
    # identical sets: the unbiased estimate sits slightly below 0 (its x-y sum keeps i = j)
    assert abs(same["kid"]) < far["kid"] / 20 and same["is"] > 5 > far["is"]


def test_the_numbers_are_those_of_gankit_eval(tmp_path):
    data = _digits()
    fake = torch.tanh(torch.randn(300, *data.shape, generator=torch.Generator().manual_seed(0)))
    during = _score(fake, data)
    np.savez(tmp_path / "r.npz", x=data.reference(300).numpy())
    np.savez(tmp_path / "f.npz", x=fake.numpy())
    import argparse

    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="cmd"))
    out = tmp_path / "o.json"
    args = parser.parse_args(["eval", "--real", str(tmp_path / "r.npz"), "--fake",
                              str(tmp_path / "f.npz"), "--features", "digits", "--metrics",
                              "fid,is", "--real-range=-1,1", "--fake-range=-1,1",
                              "--out", str(out)])
    assert args.func(args) == 0
    cli = json.loads(out.read_text())["metrics"]
    # the command maps [-1, 1] to [0, 1] and back: float32 rounding only
    assert during["fid"] == pytest.approx(cli["fid"], rel=1e-5)
    assert during["is"] == pytest.approx(cli["is"], rel=1e-5)


def test_image_metrics_are_refused_before_a_run_on_other_data(tmp_path):
    sets = [f"out_dir='{tmp_path}'", "data.name='ring'", "eval.metrics=['fid']"]
    with pytest.raises(ValueError, match="need image data"):
        Trainer(load_config(sets=sets))
    assert not any(tmp_path.iterdir())

    class Colour:
        shape = (3, 32, 32)

        def describe(self):
            return {"images": True}

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
        with pytest.raises(ValueError, match="GANKIT_INCEPTION_WEIGHTS"):
            training.Evaluator(["fid"], Colour())


def test_digits_runs_log_fid_kid_is_classes_by_default(tmp_path):
    from gankit.cli import main

    sets = [f"out_dir='{tmp_path}'", "train.steps=10", "train.eval_every=10",
            "train.tensorboard=false", "eval.n_samples=64", "data.batch_size=16",
            "generator.width=8", "discriminator.width=8"]
    assert main(["train", "configs/dcgan_digits.toml"] + sum([["--set", s] for s in sets], [])) == 0
    (run,) = tmp_path.iterdir()
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in evals if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 10]
    for r in evals:
        assert r["fid"] > 0 and np.isfinite(r["kid"]) and r["kid_std"] > 0 and 1 <= r["is"] <= 10
        assert 1 <= r["classes"] <= 10 and 0 <= r["class_kl"] <= np.log(10) + 1e-12
        assert r["protocol"] == {"fid": "fid64-digits", "kid": "kid64-digits",
                                 "kid_std": "kid64-digits", "is": "is64-digits",
                                 "is_std": "is64-digits", "classes": "classes64-digits",
                                 "class_kl": "classes64-digits",
                                 "class_min": "classes64-digits"}
        details = r["protocol_details"]["fid64-digits"]
        assert len(details["weights"]) == 16 and details["n_real"] == 64


@pytest.mark.parametrize("cached", [False, True])
def test_evaluating_leaves_the_global_torch_generator_alone(tmp_path, monkeypatch, cached):
    # the classifier is trained on first use and loaded from the cache later; either way
    # the run's torch draws must not move, or a resumed run would diverge
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / ("warm" if cached else "cold")))
    if cached:
        from gankit.metrics.digits import load_digits_classifier

        load_digits_classifier()
    data = _digits()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    _score(data.reference(64), data)
    assert torch.equal(torch.get_rng_state(), before)
