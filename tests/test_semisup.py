"""The K+1 semi-supervised game (Salimans et al. 2016, Sec. 5) and its test-accuracy metric."""
import copy
import math

import pytest
import torch

from gankit.components import load_config
from gankit.objectives.semisup import log_d, log_z, semisup_losses
from gankit.train import Trainer


def test_d_is_z_over_z_plus_one_and_equals_sigmoid_of_logsumexp():
    logits = torch.tensor([[0.0, 0.0], [1.0, -2.0], [math.log(3.0), -50.0]],
                          dtype=torch.float64)
    z = logits.exp().sum(1)
    assert torch.allclose(log_d(logits).exp(), z / (z + 1))
    assert torch.allclose(log_d(logits).exp(), torch.sigmoid(torch.logsumexp(logits, 1)))
    assert torch.allclose(log_d(logits[:1]).exp(), torch.tensor([2.0 / 3.0], dtype=torch.float64))


def test_log_d_is_stable_for_huge_logits():
    logits = torch.tensor([[1000.0, 999.0], [-1000.0, -2000.0]])
    values = log_d(logits)
    assert torch.isfinite(values).all()
    assert abs(float(values[0])) < 1e-6  # D = 1
    assert abs(float(values[1]) - (-1000.0)) < 1e-3  # log D ~ log Z = -1000
    assert torch.allclose(log_z(logits), torch.tensor([1000.0 + math.log1p(math.e ** -1), -1000.0]))


def test_losses_against_hand_computation():
    lab = torch.tensor([[1.0, 2.0, 0.0]])
    real = torch.tensor([[0.0, math.log(3.0), -math.inf]])   # Z = 1 + 3 + 0 = 4
    fake = torch.tensor([[0.0, 0.0, -math.inf]])             # Z = 2
    sup, u_real, u_fake = semisup_losses(lab, torch.tensor([1]), real, fake)
    e = math.e
    assert math.isclose(float(sup), -math.log(e ** 2 / (e + e ** 2 + 1)), rel_tol=1e-6)
    assert math.isclose(float(u_real), -math.log(4 / 5), rel_tol=1e-6)  # -log D(x)
    assert math.isclose(float(u_fake), -math.log(1 - 2 / 3), rel_tol=1e-6)  # -log(1-D(G(z)))


def semisup_sets(tmp_path, steps=60, **extra):
    sets = [f"out_dir='{tmp_path}'", f"train.steps={steps}", "train.tensorboard=false",
            "data.batch_size=50", "discriminator.d_widths=[128, 64, 64]",
            "generator.g_widths=[64, 64]", "generator.z_dim=20", "eval.n_samples=16",
            "train.eval_every=0"]
    return sets + [f"{k}={v}" for k, v in extra.items()]


def test_short_semisup_run_on_digits_beats_chance(tmp_path):
    cfg = load_config("configs/semisup_digits.toml", semisup_sets(tmp_path))
    t = Trainer(cfg)
    before, _ = t.evaluate()
    for _ in range(cfg.train.steps):
        logs = t.train_step()
    after, _ = t.evaluate()
    assert set(logs) >= {"d_sup", "d_unsup", "g_loss", "train_acc"}
    assert after["test_accuracy"] > 60.0 > before["test_accuracy"] + 20  # chance is 10 %
    assert after["test_errors"] == round(after["test_error"] * 5)  # 500 test images
    subset = t.objective.subset
    assert len(subset) == 100 and torch.equal(torch.bincount(t.data.labels[subset]),
                                              torch.full((10,), 10))


def test_semisup_refusals_say_what_to_change(tmp_path):
    with pytest.raises(ValueError, match=r"data has 10 classes but D returns logits of "
                                         r"shape \(2, 3\); set discriminator.n_out = 10"):
        Trainer(load_config("configs/semisup_digits.toml",
                            semisup_sets(tmp_path, **{"discriminator.n_out": 3})))
    with pytest.raises(ValueError, match=r"labels_per_class = 1000 but class \d has only"):
        Trainer(load_config("configs/semisup_digits.toml",
                            semisup_sets(tmp_path, **{"objective.labels_per_class": 1000})))
    with pytest.raises(ValueError, match=r"has no labels; semi-supervised training needs"):
        Trainer(load_config(sets=[f"out_dir='{tmp_path}'", "objective.name='semisup'",
                                  "discriminator.n_out=10"]))


def test_accuracy_metric_needs_a_test_split(tmp_path):
    sets = semisup_sets(tmp_path, **{"data.test_size": 0})
    with pytest.raises(ValueError, match="'accuracy' needs a labelled test split"):
        Trainer(load_config("configs/semisup_digits.toml", sets)).evaluate()


def test_presets_carry_the_papers_settings():
    mnist = load_config("configs/semisup_mnist.toml")
    assert (mnist.g_optim.lr, mnist.g_optim.beta1, mnist.data.batch_size) == (0.003, 0.5, 100)
    assert mnist.objective.options["labels_per_class"] * 10 == 100
    assert mnist.train.steps == 300 * 60000 // 100 and mnist.data.name == "mnist"
    dcgan = load_config("configs/dcgan_digits.toml")
    assert dcgan.generator.net == "dcgan" and dcgan.train.g_ema > 0


def test_semisup_resume_is_exact(tmp_path):
    """Labelled draws come from the data stream and D's noise from torch's global RNG;
    both are in the state, so N steps + resume + N steps equals 2N steps."""
    def cfg():
        return load_config("configs/semisup_digits.toml", semisup_sets(tmp_path))

    a = Trainer(cfg())
    for _ in range(3):
        a.train_step()
    state = copy.deepcopy(a.state_dict())
    for _ in range(3):
        a.train_step()
    b = Trainer(cfg())
    b.load_state_dict(state)
    for _ in range(3):
        b.train_step()
    for key, value in a.D.state_dict().items():
        assert torch.equal(b.D.state_dict()[key], value), key
    for key, value in a.G.state_dict().items():
        assert torch.equal(b.G.state_dict()[key], value), key
