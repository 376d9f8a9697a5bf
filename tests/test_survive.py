"""Divergence rollback, mixed precision and torch.compile switches."""
import json

import pytest
import torch

from conftest import tiny_sets
from gankit.components import load_config
from gankit.loop import fit
from gankit.rundir import RunDir
from gankit.train import DivergenceError, Trainer


def poison_once(trainer, at_step):
    """Make the generator loss NaN the first time step ``at_step`` is reached."""
    real_g_loss, fired = trainer.objective.g_loss, []

    def g_loss(D, fake, real):
        loss, logs = real_g_loss(D, fake, real)
        if trainer.step == at_step and not fired:
            fired.append(True)
            loss = loss * float("nan")
        return loss, logs

    trainer.objective.g_loss = g_loss
    return fired


def test_rollback_reloads_last_good_checkpoint_and_lowers_lr(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=30) + ["train.on_divergence='rollback'"])
    t = Trainer(cfg)
    fired = poison_once(t, 13)
    run = RunDir.create(cfg, tensorboard=False)
    with pytest.warns(UserWarning, match=r"step 13: the generator loss is nan.*rolled back "
                                         r"to ckpt-000000010.*x 0\.5"):
        fit(t, run)
    assert fired and t.step == 30
    assert t.g_opt.param_groups[0]["lr"] == pytest.approx(0.5 * cfg.g_optim.lr)
    assert t.d_opt.param_groups[0]["lr"] == pytest.approx(0.5 * cfg.d_optim.lr)
    rows = [json.loads(l) for l in (run.path / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in rows if r["kind"] == "event"]
    assert len(events) == 1 and events[0]["step"] == 10 and events[0]["rollback"] == 1
    train_steps = [r["step"] for r in rows if r["kind"] == "train"]
    assert train_steps == sorted(set(train_steps))  # the rows after step 10 were redone once


def test_rollback_budget_exhausted_stops(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=30) + [
        "train.on_divergence='rollback'", "train.max_rollbacks=0"])
    t = Trainer(cfg)
    poison_once(t, 13)
    with pytest.raises(DivergenceError, match="step 13"):
        fit(t, RunDir.create(cfg, tensorboard=False))


def test_bf16_autocast_trains_on_the_cpu(tmp_path):
    t = Trainer(load_config(sets=tiny_sets(tmp_path, steps=5) + ["train.precision='bf16'"]))
    with t.precision.autocast():
        out = t.G(t.sample_z(4))
    assert out.dtype == torch.bfloat16
    logs = t.train_step()
    assert torch.isfinite(logs["d_loss"]) and t.G.out.weight.dtype == torch.float32


def test_fp16_falls_back_to_fp32_on_the_cpu(tmp_path):
    with pytest.warns(UserWarning, match="'fp16' needs CUDA; training in float32"):
        t = Trainer(load_config(sets=tiny_sets(tmp_path, steps=5) + ["train.precision='fp16'"]))
    assert t.precision.name == "fp32" and not t.precision.scalers


def test_failed_compile_falls_back_to_eager_with_same_result(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    eager = Trainer(load_config(sets=tiny_sets(tmp_path, steps=5)))
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="torch.compile failed.*no compiler here.*eagerly"):
        fallback = Trainer(load_config(sets=tiny_sets(tmp_path, steps=5) + ["train.compile=true"]))
    for _ in range(3):
        eager.train_step()
        fallback.train_step()
    assert fallback.g_forward is fallback.G
    assert torch.equal(eager.G.out.weight, fallback.G.out.weight)


@pytest.mark.slow
def test_compile_on_the_cpu_matches_eager(tmp_path):
    eager = Trainer(load_config(sets=tiny_sets(tmp_path, steps=5)))
    comp = Trainer(load_config(sets=tiny_sets(tmp_path, steps=5) + ["train.compile=true"]))
    assert comp.g_forward is not comp.G
    for _ in range(3):
        eager.train_step()
        comp.train_step()
    torch.testing.assert_close(eager.G.out.weight, comp.G.out.weight, rtol=1e-4, atol=1e-5)
