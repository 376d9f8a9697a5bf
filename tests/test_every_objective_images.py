"""Every objective trains on the digits with the default evaluation, on the default nets
and on the image nets; samples are evaluated and saved in the data's range; a run that
stops early keeps a checkpoint of where it was."""
import os
import signal

import pytest
import torch

from conftest import tiny_sets
from gankit.checkpoint import CheckpointManager
from gankit.components import load_config
from gankit.loop import Terminated, fit
from gankit.registry import OBJECTIVES
from gankit.rundir import RunDir
from gankit.train import Trainer


def digits_sets(tmp_path, objective, nets, steps=2):
    sets = [f"out_dir='{tmp_path}'", f"train.steps={steps}", "train.log_every=1",
            f"train.eval_every={steps}", "train.ckpt_every=0", "train.tensorboard=false",
            "eval.n_samples=48", "data.name='digits'", "data.batch_size=16",
            f"objective.name='{objective}'", "generator.width=8", "discriminator.width=8"]
    if objective == "began":
        nets = "began"  # BEGAN's autoencoder D; its G has no bounded output layer
        sets = [s for s in sets if "width" not in s]
        sets += ["generator.n_filters=8", "discriminator.n_filters=8"]
    if nets == "improved_gan":  # Salimans et al.'s MNIST MLPs, narrowed for speed
        sets = [s for s in sets if "width" not in s]
        sets += ["generator.g_widths=[16, 16]", "discriminator.d_widths=[16, 8]",
                 f"discriminator.n_out={10 if objective == 'semisup' else 1}"]
    if nets != "mlp":
        sets += [f"generator.net='{nets}'", f"discriminator.net='{nets}'"]
    if objective == "semisup":
        sets.append("discriminator.n_out=10")
    if objective == "acgan":  # AC-GAN needs its class head and a conditional G
        sets += ["discriminator.conditional='acgan'",
                 f"generator.conditional='{'input' if nets == 'mlp' else 'cbn'}'"]
    if objective in ("wgan_gp", "rpgan") and nets == "dcgan":
        sets.append("discriminator.batchnorm=false")  # per-example gradient penalties
    return sets


@pytest.mark.parametrize("nets", ["mlp", "dcgan", "improved_gan"])
@pytest.mark.parametrize("objective", sorted(OBJECTIVES.names()))
def test_every_objective_trains_and_evaluates_on_digits(tmp_path, objective, nets):
    if objective == "began" and nets != "mlp":
        pytest.skip("BEGAN has its own nets (the mlp case runs them)")
    if objective == "acgan" and nets == "improved_gan":
        pytest.skip("Salimans et al.'s MNIST nets take no class (AC-GAN needs a conditional G)")
    cfg = load_config(sets=digits_sets(tmp_path, objective, nets))
    t = Trainer(cfg)
    assert set(t.metric_names()) == {"fid", "kid", "is", "classes"}  # the digits' default
    with torch.no_grad():  # a generator far outside [-1, 1] unless its output is bounded
        for p in t.G.parameters():
            p.mul_(4.0)
    z = t.sample_z(64)
    args = (z, torch.arange(64) % 10) if objective == "acgan" else (z,)  # G(z, y)
    raw = t.G.eval()(*args).detach()
    t.G.train()
    result = fit(t, RunDir.create(cfg, tensorboard=False))
    assert t.step == 2 and result["fid"] > 0 and result["is"] >= 1, result
    assert 1 <= result["classes"] <= 10, result
    samples = t.generate(64)
    assert samples.min() >= -1 and samples.max() <= 1
    if objective == "began":  # no tanh: the range comes from clamping in generate
        assert raw.abs().max() > 1
    grids = list((tmp_path).glob("*/samples/*.png"))
    assert len(grids) == 2  # step 0 and step 2


def test_mlp_generator_ends_in_tanh_for_images_and_in_nothing_for_vectors(tmp_path):
    images = Trainer(load_config(sets=digits_sets(tmp_path, "nonsaturating", "mlp")))
    assert isinstance(images.G.out_act, torch.nn.Tanh)
    toys = Trainer(load_config(sets=tiny_sets(tmp_path)))
    assert isinstance(toys.G.out_act, torch.nn.Identity)
    with torch.no_grad():
        toys.G.out.bias.fill_(5.0)
    assert toys.generate(8).min() > 1.5  # vectors are not clamped


def _stop_at(trainer, step, exc):
    real = trainer.evaluator.evaluate

    def evaluate(*args):
        if trainer.step == step:
            raise exc
        return real(*args)

    trainer.evaluator.evaluate = evaluate


def test_a_run_whose_evaluation_raises_keeps_a_checkpoint_of_that_step(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=30, **{"train.ckpt_every": 0}))
    t = Trainer(cfg)
    _stop_at(t, 20, RuntimeError("metric exploded"))
    run = RunDir.create(cfg, tensorboard=False)
    with pytest.raises(RuntimeError, match="metric exploded"):
        fit(t, run)
    path, state = CheckpointManager(run.path).load_latest()
    assert state["step"] == 20 and path.name == "ckpt-000000020.safetensors"
    again = Trainer.from_run_dir(run.path)
    assert again.step == 20
    for name, p in t.G.state_dict().items():
        assert torch.equal(p, again.G.state_dict()[name]), name


def test_an_evaluation_raising_at_step_0_keeps_a_step_0_checkpoint(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=10))
    t = Trainer(cfg)
    _stop_at(t, 0, ValueError("bad samples"))
    run = RunDir.create(cfg, tensorboard=False)
    with pytest.raises(ValueError):
        fit(t, run)
    assert [p.name for p in CheckpointManager(run.path).list()] == ["ckpt-000000000.safetensors"]


@pytest.fixture(params=[(signal.SIGINT, signal.default_int_handler, KeyboardInterrupt),
                        (signal.SIGTERM, signal.SIG_DFL, Terminated)], ids=["ctrl-c", "sigterm"])
def stop_signal(request):
    """Ctrl-C, and SIGTERM (kill, timeout, a SLURM cancel), each with Python's default
    disposition for the test: a process started in the background by a shell without
    job control inherits SIGINT ignored, and then neither the loop's hold nor the
    signal the test sends would act."""
    sig, default, _ = request.param
    was = signal.signal(sig, default)
    yield request.param
    signal.signal(sig, was)


def test_a_stop_signal_during_a_step_finishes_it_saves_and_resumes_exactly(tmp_path,
                                                                           stop_signal):
    sig, default, error = stop_signal
    sets = tiny_sets(tmp_path, steps=20, **{"train.ckpt_every": 0, "train.eval_every": 0})
    cfg = load_config(sets=sets)
    t = Trainer(cfg)
    real_g_step = t.g_step

    def g_step():
        if t.step == 7:  # D has stepped, G has not: the signal arrives mid-step
            assert signal.getsignal(sig) is not default  # held (a default SIGTERM kills)
            os.kill(os.getpid(), sig)
        return real_g_step()

    t.g_step = g_step
    run = RunDir.create(cfg, tensorboard=False)
    with pytest.raises(error):
        fit(t, run)
    assert t.step == 8  # the step under way completed
    _, state = CheckpointManager(run.path).load_latest()
    assert state["step"] == 8
    assert signal.getsignal(sig) is default
    resumed = Trainer.from_run_dir(run.path)
    fit(resumed, RunDir.open(run.path, False))
    whole = Trainer(load_config(sets=sets))
    fit(whole, RunDir.create(load_config(sets=sets), tensorboard=False))
    for name, p in whole.G.state_dict().items():
        assert torch.equal(p, resumed.G.state_dict()[name]), name


def test_a_stop_signal_between_steps_stops_at_once_with_a_checkpoint(tmp_path, stop_signal):
    sig, default, error = stop_signal
    cfg = load_config(sets=tiny_sets(tmp_path, steps=20, **{"train.ckpt_every": 0,
                                                             "train.eval_every": 0}))
    t = Trainer(cfg)
    run = RunDir.create(cfg, tensorboard=False)
    real_log = run.log

    def log(step, kind, values):  # between steps: after step 5's logs are averaged
        real_log(step, kind, values)
        if step == 5:
            assert signal.getsignal(sig) is not default
            os.kill(os.getpid(), sig)

    run.log = log
    with pytest.raises(error):
        fit(t, run)
    assert t.step == 5
    _, state = CheckpointManager(run.path).load_latest()
    assert state["step"] == 5


def test_gankit_train_killed_exits_143_with_a_checkpoint(tmp_path):
    """The command as a user runs it: `kill PID` mid-run ends it with status 143 and
    a checkpoint of the last completed step, named on stderr."""
    import subprocess
    import sys
    import time

    sets = tiny_sets(tmp_path, steps=1_000_000, **{"train.ckpt_every": 0,
                                                    "train.eval_every": 0, "name": "k"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "gankit", "train"] + [a for x in sets for a in ("--set", x)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not any(
                '"train"' in p.read_text() for p in tmp_path.glob("k*/metrics.jsonl")):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    (run,) = tmp_path.glob("k*")
    _, state = CheckpointManager(run).load_latest()
    assert 5 <= state["step"] < 1_000_000
    assert f"stopped at step {state['step']} (Terminated); saved" in err


def test_divergence_keeps_the_last_good_checkpoint_and_writes_no_partial_step(tmp_path):
    cfg = load_config(sets=tiny_sets(tmp_path, steps=30))
    t = Trainer(cfg)
    real = t.objective.g_loss

    def poisoned(D, fake, r):
        loss, logs = real(D, fake, r)
        return (loss * float("nan") if t.step == 13 else loss), logs

    t.objective.g_loss = poisoned
    run = RunDir.create(cfg, tensorboard=False)
    with pytest.raises(Exception, match="step 13"):
        fit(t, run)
    assert [p.name for p in CheckpointManager(run.path).list()] == [
        "ckpt-000000010.safetensors"]
