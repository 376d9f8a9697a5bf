"""RpGAN (Huang et al. 2024), the hinge loss and spectral normalisation of SN-GAN (Miyato
et al. 2018), R1 + R2 with R3GAN's gamma schedule, and their presets."""
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import tiny_sets
from gankit.cli import main
from gankit.components import load_config
from gankit.loop import fit
from gankit.nets.dcgan import DCGAN, DCGANDiscriminator
from gankit.nets.mlp import MLP, MLPDiscriminator
from gankit.objectives.hinge import Hinge
from gankit.objectives.rpgan import RpGAN
from gankit.rundir import RunDir
from gankit.stabilizers.gradient_penalty import GradientPenalty
from gankit.train import Trainer

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def sum_critic(x):
    """D(x) = sum of the coordinates: scores chosen by choosing x."""
    return x.sum(1, keepdim=True), x


def softplus(v):
    return math.log1p(math.exp(v))


def test_rpgan_losses_equal_a_hand_computation():
    real = torch.tensor([[2.0], [0.5], [-1.0]])
    fake = torch.tensor([[-2.0], [0.0], [0.5]])
    obj = RpGAN(RpGAN.Options())
    d_loss, logs = obj.d_loss(sum_critic, real, fake)
    # pairs (2, -2), (0.5, 0), (-1, 0.5): D's gaps 4, 0.5, -1.5
    want_d = (softplus(-4.0) + softplus(-0.5) + softplus(1.5)) / 3
    assert float(d_loss) == pytest.approx(want_d, rel=1e-6)
    assert float(logs["d_gap"]) == pytest.approx(1.0)
    g_loss, _ = obj.g_loss(sum_critic, fake, real)
    want_g = (softplus(4.0) + softplus(0.5) + softplus(-1.5)) / 3
    assert float(g_loss) == pytest.approx(want_g, rel=1e-6)
    # the pairing matters: shuffling the fakes changes the loss (a mean of D would not)
    shuffled, _ = obj.d_loss(sum_critic, real, fake[[2, 0, 1]])
    assert abs(float(shuffled) - want_d) > 1e-3
    with pytest.raises(ValueError, match="real minibatch"):
        obj.g_loss(sum_critic, fake, None)


def test_hinge_losses_equal_a_hand_computation():
    real = torch.tensor([[2.0], [0.5], [-1.0]])
    fake = torch.tensor([[-2.0], [0.0], [0.5]])
    obj = Hinge(Hinge.Options())
    d_loss, _ = obj.d_loss(sum_critic, real, fake)
    # relu(1 - r) = 0, 0.5, 2; relu(1 + f) = 0, 1, 1.5
    assert float(d_loss) == pytest.approx(2.5 / 3 + 2.5 / 3)
    g_loss, _ = obj.g_loss(sum_critic, fake, None)
    assert float(g_loss) == pytest.approx(0.5)  # -mean(f)


def _weights(net):
    """The effective (normalised) weight matrices of a spectrally normalised net."""
    return [m.weight.flatten(1) for m in net.modules()
            if isinstance(m, (nn.Linear, nn.Conv2d)) and hasattr(m, "parametrizations")]


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
def test_spectral_norm_makes_each_layers_largest_singular_value_one(family):
    torch.manual_seed(0)
    if family == "mlp":
        D = MLPDiscriminator(MLP.Options(width=32, spectral_norm=True), (2,))
        x = torch.randn(64, 2)
    else:
        D = DCGANDiscriminator(DCGAN.Options(width=8, spectral_norm=True,
                                             batchnorm=False), (1, 16, 16))
        x = torch.randn(16, 1, 16, 16)
    plain = (MLPDiscriminator(MLP.Options(width=32), (2,)) if family == "mlp" else
             DCGANDiscriminator(DCGAN.Options(width=8, batchnorm=False), (1, 16, 16)))
    assert len(_weights(D)) == (4 if family == "mlp" else 3)
    for _ in range(30):  # one power iteration per training forward pass
        D(x)
    D.eval()
    with torch.no_grad():
        sigmas = [float(torch.linalg.matrix_norm(w, 2)) for w in _weights(D)]
        raw = [float(torch.linalg.matrix_norm(m.weight.flatten(1), 2))
               for m in plain.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert all(abs(s - 1) < 1e-2 for s in sigmas), sigmas
    assert any(abs(s - 1) > 0.1 for s in raw), raw  # without it they are not 1


def test_spectral_norm_on_the_generator_or_with_weightnorm_is_refused():
    with pytest.raises(ValueError, match="set discriminator.spectral_norm"):
        MLP.generator(MLP.Options(spectral_norm=True), (2,))
    with pytest.raises(ValueError, match="set discriminator.spectral_norm"):
        DCGAN.generator(DCGAN.Options(spectral_norm=True), (1, 16, 16))
    with pytest.raises(ValueError, match="choose one"):
        MLP.discriminator(MLP.Options(spectral_norm=True, weightnorm=True), (2,))


def _sn_discriminator(family, k, seed=0):
    torch.manual_seed(seed)
    if family == "mlp":
        return MLPDiscriminator(MLP.Options(width=32, spectral_norm=True, lipschitz=k), (2,))
    return DCGANDiscriminator(DCGAN.Options(width=8, spectral_norm=True, batchnorm=False,
                                            lipschitz=k), (1, 16, 16))


@pytest.mark.parametrize("family", ["mlp", "dcgan"])
def test_lipschitz_scales_the_logits_by_k_and_leaves_the_features(family):
    shape = (2,) if family == "mlp" else (1, 16, 16)
    x = torch.randn(64, *shape)
    one, three = _sn_discriminator(family, 1.0), _sn_discriminator(family, 3.0)
    for _ in range(50):  # converge the power iterations (the same in both nets)
        one(x), three(x)
    one.eval(), three.eval()
    with torch.no_grad():
        l1, f1 = one(x)
        l3, f3 = three(x)
    torch.testing.assert_close(l3, 3 * l1, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(f3, f1)  # the features stay the normalised net's


def test_lipschitz_k_lets_d_separate_points_k_times_closer():
    """Two points 0.1 apart: trained to tell them apart, a 1-Lipschitz D's outputs can
    differ by at most 0.1, a 3-Lipschitz one's by 0.3, and it uses the room."""
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[0.1, 0.0]])
    gaps = {}
    for k in (1.0, 3.0):
        D = _sn_discriminator("mlp", k)
        opt = torch.optim.Adam(D.parameters(), lr=1e-2)
        for _ in range(300):
            loss = -(D(a)[0] - D(b)[0]).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        D.eval()
        with torch.no_grad():
            gaps[k] = float(D(a)[0] - D(b)[0])
    assert 0.05 < gaps[1.0] <= 0.1 * 1.02, gaps
    assert 0.1 * 1.02 < gaps[3.0] <= 0.3 * 1.02, gaps


def test_lipschitz_without_spectral_norm_or_on_the_generator_is_refused():
    with pytest.raises(ValueError, match="lipschitz = 2.0.*spectral_norm is off"):
        MLP.discriminator(MLP.Options(lipschitz=2.0), (2,))
    with pytest.raises(ValueError, match="lipschitz = 2.0.*spectral_norm is off"):
        DCGAN.discriminator(DCGAN.Options(lipschitz=2.0), (1, 16, 16))
    with pytest.raises(ValueError, match="generator.lipschitz = 2.0"):
        MLP.generator(MLP.Options(lipschitz=2.0), (2,))


def test_spectral_norm_resume_is_exact_and_checkpoints_the_power_iteration(tmp_path):
    sets = tiny_sets(tmp_path, steps=20, **{"discriminator.spectral_norm": "true",
                                            "objective.name": "'hinge'",
                                            "train.eval_every": 0})
    cfg = load_config(sets=sets)
    half = Trainer(load_config(sets=sets[:1] + ["train.steps=10"] + sets[2:]))
    run = RunDir.create(half.cfg, tensorboard=False)
    fit(half, run)
    assert any(k.endswith("_u") for k in half.state_dict()["D"])
    resumed = Trainer.from_run_dir(run.path, ["train.steps=20"])
    assert resumed.step == 10
    fit(resumed, RunDir.open(run.path, False))
    whole = Trainer(cfg)
    fit(whole, RunDir.create(cfg, tensorboard=False))
    for name, value in whole.D.state_dict().items():
        assert torch.equal(value, resumed.D.state_dict()[name]), name
    for name, value in whole.G.state_dict().items():
        assert torch.equal(value, resumed.G.state_dict()[name]), name


def _per_example_sq_grad_norms(D, x):
    """||grad_x D(x_i)||^2 one example at a time, by plain autograd."""
    out = []
    for row in x:
        row = row.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(row[None])[0].sum(), row)
        out.append(float(g.pow(2).sum()))
    return out


def test_r2_and_r1_plus_r2_equal_autograd_per_example():
    torch.manual_seed(1)
    D = MLPDiscriminator(MLP.Options(width=16, activation="tanh"), (3,))
    real, fake = torch.randn(8, 3), torch.randn(8, 3) * 2
    r1 = sum(_per_example_sq_grad_norms(D, real)) / 8
    r2 = sum(_per_example_sq_grad_norms(D, fake)) / 8
    assert r1 > 0 and r2 > 0 and abs(r1 - r2) > 1e-4
    for on, want in (("fake", r2), ("real", r1), ("both", r1 + r2)):
        stab = GradientPenalty(GradientPenalty.Options(gamma=3.0, on=on))
        got = stab.d_penalty(D, real, fake)
        assert float(got) == pytest.approx(1.5 * want, rel=1e-5), on
    got.backward()  # differentiable in D's weights
    assert D.out.weight.grad is not None and D.out.weight.grad.abs().sum() > 0


def test_gamma_follows_r3gans_cosine_and_resumes_with_the_step_count():
    opts = GradientPenalty.Options(gamma=0.05, gamma_final=0.005, gamma_steps=100)
    stab = GradientPenalty(opts)
    assert stab.gamma(0) == pytest.approx(0.05)
    assert stab.gamma(50) == pytest.approx(0.0275)  # halfway down the cosine
    assert stab.gamma(25) == pytest.approx(0.05 - 0.045 * (1 - math.cos(math.pi / 4)) / 2)
    assert stab.gamma(100) == stab.gamma(10_000) == pytest.approx(0.005)
    assert GradientPenalty(GradientPenalty.Options(gamma=2.0)).gamma(10_000) == 2.0
    D = MLPDiscriminator(MLP.Options(width=8), (2,))
    x = torch.randn(4, 2)
    first = float(stab.d_penalty(D, x, x))
    stab.load_state_dict({"calls": 50})
    assert float(stab.d_penalty(D, x, x)) == pytest.approx(first * 0.0275 / 0.05, rel=1e-5)


def test_r3gan_preset_moves_lr_beta2_and_gamma_along_one_span():
    # R3GAN's CIFAR-10 schedules (their train.py): lr 2e-4 -> 5e-5, beta2 0.9 -> 0.99 and
    # gamma 0.05 -> 0.005, all over the same decay_nimg; one D step per G step here, so
    # the G-step span of the optimizers equals the D-step span of gamma.
    cfg = load_config(CONFIGS / "rpgan_r3gan.toml")
    (r1,) = cfg.stabilizers
    assert cfg.train.d_steps == 1
    for o in (cfg.g_optim, cfg.d_optim):
        assert (o.name, o.beta1, o.lr_decay, o.lr, o.lr_final, o.beta2, o.beta2_final) == (
            "adam", 0.0, "cosine", 2e-4, 5e-5, 0.9, 0.99)
        assert o.decay_steps == r1.options["gamma_steps"] == 4000


PRESETS = ["rpgan_r3gan", "hinge_sngan", "rpgan_toy", "hinge_sn_toy", "rpgan_digits",
           "hinge_sn_digits"]


@pytest.mark.parametrize("preset", PRESETS)
def test_new_presets_train_a_few_steps_from_the_cli(tmp_path, preset):
    sets = tiny_sets(tmp_path, steps=3) + ["train.eval_every=3", "train.log_every=1",
                                           "data.batch_size=32", "eval.n_samples=64"]
    if preset.endswith("digits"):
        sets = [s for s in sets if "width" not in s] + [
            "generator.width=8", "discriminator.width=8", "data.batch_size=16"]
    assert main(["train", str(CONFIGS / f"{preset}.toml")]
                + sum([["--set", s] for s in sets], [])) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    cfg = load_config(run / "config.toml")
    assert cfg.objective.name in ("rpgan", "hinge")
    if cfg.objective.name == "rpgan":
        assert [(s.name, s.options["on"]) for s in cfg.stabilizers] == [("r1", "both")]
    else:
        assert cfg.discriminator.options["spectral_norm"] is True
    assert (run / "checkpoints" / "ckpt-000000003.safetensors").exists()


@pytest.mark.parametrize("preset, sets, reason", [
    ("rpgan_toy", ["generator.net='began'", "discriminator.net='began'"],
     "autoencoder"),
    ("hinge_sngan", ["generator.net='began'", "discriminator.net='began'"],
     "spectral_norm"),
    ("hinge_sngan", ["stabilizers=[{name='label_smoothing'}]"], "label"),
    ("hinge_sngan", ["generator.spectral_norm=true"], "discriminator.spectral_norm"),
    ("hinge_sn_toy", ["discriminator.weightnorm=true"], "choose one"),
    ("rpgan_toy", ["discriminator.n_out=2"], "one output logit|n_out"),
])
def test_a_preset_with_a_net_or_stabilizer_it_cannot_use_is_refused_first(
        tmp_path, capsys, preset, sets, reason):
    args = ["train", str(CONFIGS / f"{preset}.toml"), "--set", f"out_dir='{tmp_path}'"]
    assert main(args + sum([["--set", s] for s in sets], [])) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and any(r in err for r in reason.split("|")), err
    assert not any(tmp_path.iterdir())
