"""Class coverage of unconditional image generators (gankit.metrics.classes)."""
import json
import math

import numpy as np
import pytest

from gankit.metrics.classes import class_histogram_metrics
from gankit.metrics.stacked import expected_uniform_kl


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def _logits(classes, k):
    """Noisy logits whose row-wise argmax is ``classes``."""
    rng = np.random.default_rng(0)
    out = rng.normal(size=(len(classes), k))
    out[np.arange(len(classes)), classes] += 20.0
    return out


def test_a_known_histogram_gives_its_coverage_kl_and_rarest_share():
    counts = np.array([50, 30, 20, 0])  # four classes, one never drawn
    classes = np.repeat(np.arange(4), counts)
    got = class_histogram_metrics(_logits(classes, 4))
    p = counts[counts > 0] / counts.sum()
    assert got["classes"] == 3
    assert got["class_kl"] == pytest.approx(float((p * np.log(4 * p)).sum()), rel=1e-12)
    assert got["class_min"] == 0.0
    balanced = class_histogram_metrics(_logits(np.arange(100) % 10, 10))
    assert balanced == {"classes": 10, "class_kl": pytest.approx(0.0, abs=1e-15),
                        "class_min": pytest.approx(10.0)}


def test_collapse_onto_one_class_scores_log_k():
    got = class_histogram_metrics(_logits(np.full(64, 7), 10))
    assert got["classes"] == 1 and got["class_min"] == 0.0
    assert got["class_kl"] == pytest.approx(math.log(10), rel=1e-12)


def test_a_perfect_generator_sits_near_the_binomial_floor():
    rng = np.random.default_rng(1)
    kls = [class_histogram_metrics(_logits(rng.integers(0, 10, 500), 10))["class_kl"]
           for _ in range(200)]
    # the mean of 200 draws within 4 standard errors of the exact expectation
    assert abs(np.mean(kls) - expected_uniform_kl(500, 10)) < 4 * np.std(kls) / np.sqrt(200)


@pytest.mark.parametrize("logits, msg", [
    (np.zeros((5,)), "shape"), (np.zeros((0, 10)), "shape"), (np.zeros((5, 1)), "shape"),
    (np.full((5, 10), np.nan), "NaN or inf"),
])
def test_bad_logits_are_refused(logits, msg):
    with pytest.raises(ValueError, match=msg):
        class_histogram_metrics(logits)


def test_real_digits_cover_every_class_and_one_digit_does_not():
    from gankit.components import load_config
    from gankit.data import build_dataset
    from gankit.metrics import training

    data = build_dataset(load_config(sets=["data.name='digits'"]).data, seed=0)
    evaluator = training.Evaluator(["classes"], data)
    real = evaluator.evaluate(None, data.reference(500))
    assert real["classes"] == 10 and real["class_kl"] < 0.03 and real["class_min"] > 5
    ones = data.examples((data.labels == 1).nonzero().flatten()[:100]).float()
    one = evaluator.evaluate(None, ones)
    assert one["classes"] <= 2 and one["class_kl"] > 2.0


def test_a_digits_run_logs_it_with_its_protocol(tmp_path):
    from gankit.cli import main

    sets = [f"out_dir='{tmp_path}'", "train.steps=5", "train.eval_every=5",
            "train.tensorboard=false", "eval.n_samples=64", "data.batch_size=16",
            "generator.width=8", "discriminator.width=8", "eval.metrics=['fid','classes']"]
    assert main(["train", "configs/dcgan_digits.toml"] + sum([["--set", s] for s in sets], [])) == 0
    (run,) = tmp_path.iterdir()
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in evals if r["kind"] == "eval"][-1]
    assert 1 <= last["classes"] <= 10 and 0 <= last["class_kl"] <= math.log(10) + 1e-12
    assert last["protocol"]["class_kl"] == "classes64-digits"


def test_it_is_refused_before_a_run_on_points(tmp_path):
    from gankit.components import load_config
    from gankit.train import Trainer

    sets = [f"out_dir='{tmp_path}'", "data.name='ring'", "eval.metrics=['classes']"]
    with pytest.raises(ValueError, match="need image data"):
        Trainer(load_config(sets=sets))
    assert not any(tmp_path.iterdir())


def test_gankit_eval_scores_a_file_of_digits(tmp_path):
    from gankit.cli import main
    from gankit.components import load_config
    from gankit.data import build_dataset

    data = build_dataset(load_config(sets=["data.name='digits'"]).data, seed=0)
    np.savez(tmp_path / "f.npz", x=data.reference(200).numpy())
    out = tmp_path / "o.json"
    assert main(["eval", "--real", "digits", "--fake", str(tmp_path / "f.npz"),
                 "--metrics", "classes", "--features", "digits", "--fake-range=-1,1",
                 "--out", str(out)]) == 0
    got = json.loads(out.read_text())["metrics"]
    assert got["classes"] == 10 and got["class_kl"] < 0.05 and got["class_min"] > 5
    # the real side's own value, the floor to compare with: real digits scored alike
    assert 0 < got["class_kl_real"] < 0.05


def test_features_without_logits_are_refused_naming_the_metric():
    from gankit.metrics.base import EvalData
    from gankit.registry import METRICS

    data = EvalData(real=None, fake=np.zeros((10, 4)))
    for name in ("classes", "is"):
        with pytest.raises(ValueError, match=f"metric '{name}' needs classifier logits"):
            METRICS.get(name)().from_features(data)


def test_the_real_sides_logits_give_its_own_value_beside():
    from gankit.metrics.base import EvalData
    from gankit.registry import METRICS

    fake, real = _logits(np.full(40, 2), 4), _logits(np.arange(40) % 4, 4)
    metric = METRICS.get("classes")()
    alone = metric.from_features(EvalData(real=None, fake=None, fake_logits=fake))
    both = metric.from_features(EvalData(real=None, fake=None, fake_logits=fake,
                                         real_logits=real))
    assert "class_kl_real" not in alone and alone["class_kl"] == pytest.approx(math.log(4))
    assert both["class_kl_real"] == pytest.approx(0.0, abs=1e-15)
    assert both["class_kl"] == alone["class_kl"]
