import json
import math
from pathlib import Path

import pytest
import torch

from conftest import tiny_sets
from gankit.checkpoint import CheckpointManager
from gankit.cli import main
from gankit.components import load_config
from gankit.errors import ConfigError
from gankit.loop import fit
from gankit.rundir import RunDir
from gankit.train import DivergenceError, Trainer


def only_run(tmp_path) -> Path:
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    return run


def final_weights(run_dir):
    _, state = CheckpointManager(run_dir).load_latest()
    return state


def cli(args):
    return main([str(a) for a in args])


def train_cli(sets):
    return cli(["train"] + sum([["--set", s] for s in sets], []))


def full_and_resumed(tmp_path, steps, extra):
    """A straight run of ``steps`` and a run stopped at ``steps // 2`` and resumed to
    ``steps``, with the same overrides; asserts equal G and D weights and returns the
    final states (straight, resumed) and the resumed run's directory."""
    assert train_cli(tiny_sets(tmp_path / "full", steps=steps) + extra) == 0
    full = final_weights(only_run(tmp_path / "full"))
    assert train_cli(tiny_sets(tmp_path / "half", steps=steps // 2) + extra) == 0
    run = only_run(tmp_path / "half")
    assert cli(["train", "--resume", run, "--set", f"train.steps={steps}"]) == 0
    resumed = final_weights(run)
    assert resumed["step"] == full["step"] == steps
    for part in ("G", "D"):
        for key, value in full[part].items():
            assert torch.equal(resumed[part][key], value), (part, key)
    return full, resumed, run


def test_run_directory_has_config_metrics_checkpoint_and_plots(tmp_path, capsys):
    sets = tiny_sets(tmp_path, steps=20) + ["train.tensorboard=true"]
    assert train_cli(sets) == 0
    run = only_run(tmp_path)
    out = capsys.readouterr().out  # not a terminal: plain progress lines, then the outputs
    assert "step 5/20 d_loss=" in out and "step 20/20 " in out
    assert f"outputs in {run}/" in out and "plots/samples_evolution.png" in out
    assert run.name.startswith("ring-nonsaturating-")
    for rel in ("config.toml", "metrics.jsonl", "checkpoints/latest",
                "plots/samples_evolution.png", "plots/losses.png", "plots/eval_metrics.png"):
        assert (run / rel).is_file(), rel
    assert any((run / "tb").iterdir())
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 10, 20]
    assert {"d_loss", "g_loss"} <= set(rows[1])
    assert load_config(run / "config.toml").generator.options["width"] == 32


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    def weights(seed, sub):
        cfg = load_config(sets=tiny_sets(tmp_path / sub, steps=15) + [f"seed={seed}"])
        t = Trainer(cfg)
        fit(t, RunDir.create(cfg, tensorboard=False))
        return t.G.state_dict()["out.weight"]

    assert torch.equal(weights(1, "a"), weights(1, "b"))
    assert not torch.equal(weights(1, "c"), weights(2, "d"))


@pytest.mark.parametrize("extra", [[], ["train.d_steps=3", "objective.name='minimax'"]])
def test_resume_continues_exactly(tmp_path, extra):
    full, resumed, run = full_and_resumed(tmp_path, 40, extra)
    assert torch.equal(resumed["d_opt"]["state"][0]["exp_avg"], full["d_opt"]["state"][0]["exp_avg"])
    rows = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    keys = [(r["step"], r["kind"]) for r in rows]
    assert len(keys) == len(set(keys)) and [k[0] for k in keys] == sorted(k[0] for k in keys)
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 10, 20, 30, 40]


def test_resume_refuses_changes_that_would_alter_the_run(tmp_path, capsys):
    assert train_cli(tiny_sets(tmp_path, steps=10)) == 0
    run = only_run(tmp_path)
    assert cli(["train", "--resume", run, "--set", "g_optim.lr=0.1"]) == 2
    assert "g_optim.lr: cannot change on --resume" in capsys.readouterr().err


def test_short_run_improves_modes_over_initialisation(tmp_path):
    sets = tiny_sets(tmp_path, steps=1500) + [
        "train.eval_every=1500", "data.batch_size=128", "generator.width=64",
        "discriminator.width=64", "g_optim.lr=1e-3", "d_optim.lr=1e-3", "data.std=0.05",
        "eval.n_samples=2500"]
    cfg = load_config(sets=sets)
    t = Trainer(cfg)
    before, _ = t.evaluate()
    after = fit(t, RunDir.create(cfg, tensorboard=False))
    assert before["hq"] < 5.0
    assert after["hq"] > before["hq"] + 20 and after["modes"] >= 4


def test_nonfinite_loss_stops_with_step_and_loss_and_keeps_checkpoint(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=30))
    t = Trainer(cfg)
    real_g_loss = t.objective.g_loss

    def poisoned(D, fake, real):
        loss, logs = real_g_loss(D, fake, real)
        return (loss * float("nan") if t.step == 13 else loss), logs

    t.objective.g_loss = poisoned
    run = RunDir.create(cfg, tensorboard=False)
    with pytest.raises(DivergenceError, match=r"step 13: the generator loss is nan"):
        fit(t, run)
    path, state = CheckpointManager(run.path).load_latest()
    assert state["step"] == 10 and path.name == "ckpt-000000010.safetensors"


def test_cli_reports_bad_config_without_creating_a_run(tmp_path, capsys):
    code = cli(["train", "--set", f"out_dir='{tmp_path}'", "--set", "data.name='rng'"])
    assert code == 2
    assert "unknown dataset 'rng'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    # refused by the trial forward pass of the nets, still before any run directory
    code = cli(["train", "--set", f"out_dir='{tmp_path}'", "--set", "discriminator.pack=3",
                "--set", "data.batch_size=64"])
    assert code == 2 and "not a multiple of 3" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_list_shows_every_registry(capsys):
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("objectives:", "minimax", "nonsaturating", "datasets:", "ring", "grid",
                 "spiral", "nets:", "mlp", "metrics:", "modes", "stabilizers:"):
        assert word in out


def test_threads_option_sets_torch_threads(tmp_path):
    before = torch.get_num_threads()
    try:
        Trainer(load_config(sets=tiny_sets(tmp_path) + ["train.threads=2"]))
        assert torch.get_num_threads() == 2
        Trainer(load_config(sets=tiny_sets(tmp_path) + ["train.threads=0"]))
        assert torch.get_num_threads() == 2  # 0 leaves the process setting alone
    finally:
        torch.set_num_threads(before)


def test_linear_lr_decay_schedule_and_exact_resume(tmp_path):
    from gankit.train import lr_factor

    sets = tiny_sets(tmp_path, steps=40) + [
        "g_optim.lr_decay='linear'", "d_optim.lr_decay='linear'", "d_optim.decay_fraction=0.25"]
    cfg = load_config(sets=sets)
    # G decays over the last half (steps 20..40), D over the last quarter (30..40).
    assert [lr_factor(cfg.g_optim, s, 40) for s in (0, 20, 30, 39, 40)] == [1, 1, 0.5, 0.05, 0]
    assert [lr_factor(cfg.d_optim, s, 40) for s in (29, 30, 35)] == [1, 1, 0.5]
    full = Trainer(cfg)
    lrs = []
    for _ in range(40):
        full.train_step()
        lrs.append((full.g_opt.param_groups[0]["lr"], full.d_opt.param_groups[0]["lr"]))
    base = cfg.g_optim.lr
    assert lrs[0] == (base, base) and lrs[25] == pytest.approx((base * 15 / 20, base))
    assert lrs[-1] == pytest.approx((base * 1 / 20, base * 1 / 10))

    half = Trainer(cfg)
    for _ in range(25):
        half.train_step()
    state = half.state_dict()
    resumed = Trainer(cfg)
    resumed.load_state_dict(state)
    for _ in range(15):
        resumed.train_step()
    for key, value in full.G.state_dict().items():
        assert torch.equal(resumed.G.state_dict()[key], value), key


COSINE = ["g_optim.lr_decay='cosine'", "g_optim.lr=2e-4", "g_optim.lr_final=5e-5",
          "g_optim.beta2=0.9", "g_optim.beta2_final=0.99", "g_optim.decay_steps=10",
          "d_optim.lr_decay='cosine'", "d_optim.lr=1e-3", "d_optim.beta2_final=0.9"]


def half_cosine(start, final, t, span):
    """R3GAN's cosine_decay_with_warmup without warm-up, written out."""
    return final if t > span else start + (final - start) * (1 - math.cos(math.pi * t / span)) / 2


def test_cosine_lr_and_beta2_follow_r3gans_cosine_on_both_players(tmp_path):
    # G: lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99 over 10 steps (R3GAN's CIFAR-10 values); D: lr
    # 1e-3 -> 0 (lr_final's default), beta2 0.999 -> 0.9 over the whole run (decay_steps 0).
    t = Trainer(load_config(sets=tiny_sets(tmp_path, steps=20) + COSINE))
    seen = {}  # step: (G's lr, G's beta2, D's lr, D's beta2) the step was taken with
    for step in range(20):
        t.train_step()  # sets the step's values, then steps with them
        g, d = t.g_opt.param_groups[0], t.d_opt.param_groups[0]
        assert g["betas"][0] == d["betas"][0] == 0.5  # beta1 untouched
        seen[step] = (g["lr"], g["betas"][1], d["lr"], d["betas"][1])
    assert seen[0] == (2e-4, 0.9, 1e-3, 0.999)  # exactly the start values
    assert seen[5][:2] == pytest.approx((1.25e-4, 0.945))  # half way down G's cosine
    assert seen[3][:2] == pytest.approx((half_cosine(2e-4, 5e-5, 3, 10),
                                         half_cosine(0.9, 0.99, 3, 10)))
    for step in (10, 11, 19):  # at decay_steps and after: the final values
        assert seen[step][:2] == pytest.approx((5e-5, 0.99))
    assert seen[10][2:] == pytest.approx((5e-4, 0.9495))  # D: half way at step 10 of 20
    assert seen[19][2:] == pytest.approx((half_cosine(1e-3, 0.0, 19, 20),
                                          half_cosine(0.999, 0.9, 19, 20)))
    t.scale_lr(0.5)  # a rollback lowers the whole curve, lr_final included; not beta2
    t.train_step()
    assert t.g_opt.param_groups[0]["lr"] == pytest.approx(0.5 * 5e-5)
    assert t.g_opt.param_groups[0]["betas"][1] == pytest.approx(0.99)


def test_cosine_schedule_resumes_exactly_from_a_checkpoint(tmp_path):
    # the half run stops inside G's cosine (16 steps) and resumes through its end
    extra = [s.replace("decay_steps=10", "decay_steps=16") for s in COSINE] + [
        "d_optim.decay_steps=24", "train.ckpt_every=12"]
    full, resumed, run = full_and_resumed(tmp_path, 24, extra)
    assert "beta2_final = 0.99" in (run / "config.toml").read_text()
    for opt in ("g_opt", "d_opt"):  # the second moments saw the same beta2 at each step
        assert torch.equal(resumed[opt]["state"][0]["exp_avg_sq"],
                           full[opt]["state"][0]["exp_avg_sq"]), opt


@pytest.mark.parametrize("sets, words", [
    (["g_optim.lr_final=5e-5"], ["g_optim.lr_final = 5e-05", "lr_decay = 'none'"]),
    (["d_optim.lr_decay='linear'", "d_optim.decay_steps=10"],
     ["d_optim.decay_steps = 10", "d_optim.lr_decay = 'linear'"]),
    (["g_optim.beta2_final=0.99"], ["g_optim.beta2_final = 0.99", "lr_final = lr"]),
    (["d_optim.lr_decay='cosine'", "d_optim.decay_fraction=0.75"],
     ["d_optim.decay_fraction = 0.75", "'linear'", "decay_steps"]),
    (["g_optim.name='rmsprop'", "g_optim.lr_decay='cosine'", "g_optim.beta2_final=0.99"],
     ["g_optim.beta2_final", "only Adam", "g_optim.name = 'rmsprop'"]),
    (["d_optim.lr_decay='cosine'", "d_optim.beta2_final=1.0"],
     ["d_optim.beta2_final = 1.0", "beta2 < 1"]),
    (["g_optim.lr_decay='cosine'", "g_optim.lr_final=-1e-4"], ["g_optim.lr_final", ">= 0"]),
])
def test_schedule_options_the_schedule_would_ignore_are_refused(sets, words):
    with pytest.raises(ConfigError) as err:
        load_config(sets=sets)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_rollback_scales_the_scheduled_rate_too(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=40) + ["g_optim.lr_decay='linear'"])
    t = Trainer(cfg)
    t.scale_lr(0.5)
    t.step = 30
    t.train_step()
    assert t.g_opt.param_groups[0]["lr"] == pytest.approx(cfg.g_optim.lr * 0.5 * 0.5)
    assert t.d_opt.param_groups[0]["lr"] == pytest.approx(cfg.d_optim.lr * 0.5)
