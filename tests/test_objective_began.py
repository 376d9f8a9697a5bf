import pytest
import torch

from gankit.checkpoint import load_checkpoint, save_checkpoint
from gankit.components import load_config
from gankit.config import NetConfig, ObjectiveConfig
from gankit.errors import ConfigError
from gankit.nets import build_net
from gankit.objectives import build_objective
from gankit.train import Trainer


class ScaleAE(torch.nn.Module):
    """An 'autoencoder' with D(v) = a v, so L(v) = (1 - a) mean |v| by hand."""

    autoencoder = True

    def __init__(self, a=0.5):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, x):
        return self.a * x, x


REAL = torch.tensor([[0.5, 1.0], [2.0, -1.0]])  # mean |v| = 4.5 / 4
FAKE = torch.tensor([[-1.0, 0.0], [0.3, 2.0]])  # mean |v| = 3.3 / 4


def began(**options):
    return build_objective(ObjectiveConfig(name="began", options=options))


def test_discriminator_loss_is_L_real_minus_k_L_fake():
    loss, logs = began(k_0=0.3).d_loss(ScaleAE(0.5), REAL, FAKE)
    assert logs["L_real"].item() == pytest.approx(0.5 * 4.5 / 4)
    assert logs["L_fake_d"].item() == pytest.approx(0.5 * 3.3 / 4)
    assert loss.item() == pytest.approx(0.5 * 4.5 / 4 - 0.3 * 0.5 * 3.3 / 4)


def test_eta_2_is_the_squared_error_in_both_players_losses():
    # D(v) = 0.5 v: the pixel errors are 0.5 |v|, squared 0.25 v^2 (eq. 1 with eta = 2)
    sq_real = 0.25 * (0.25 + 1.0 + 4.0 + 1.0) / 4
    sq_fake = 0.25 * (1.0 + 0.0 + 0.09 + 4.0) / 4
    obj = began(k_0=0.3, eta=2)
    loss, logs = obj.d_loss(ScaleAE(0.5), REAL, FAKE)
    assert logs["L_real"].item() == pytest.approx(sq_real)
    assert logs["L_fake_d"].item() == pytest.approx(sq_fake)
    assert loss.item() == pytest.approx(sq_real - 0.3 * sq_fake)
    g_loss, _ = obj.g_loss(ScaleAE(0.5), FAKE, None)
    assert g_loss.item() == pytest.approx(sq_fake)


def test_eta_other_than_1_or_2_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"objective\.eta: 3 is not allowed; choose one of 1, 2"):
        began(eta=3)


def test_generator_loss_is_L_fake_and_a_step_lowers_it():
    obj = began()
    x = FAKE.clone().requires_grad_(True)
    loss, _ = obj.g_loss(ScaleAE(0.5), x, None)
    assert loss.item() == pytest.approx(0.5 * 3.3 / 4)
    loss.backward()
    with torch.no_grad():
        x -= 0.5 * x.grad
    after, _ = obj.g_loss(ScaleAE(0.5), x, None)
    assert after.item() < loss.item()


def test_k_update_and_convergence_measure_by_hand():
    obj = began(gamma=0.5, lambda_k=0.1, k_0=0.2)
    logs = {"L_real": torch.tensor(1.0), "L_fake_g": torch.tensor(0.2)}
    obj.after_g_step(logs)  # k += 0.1 (0.5 * 1.0 - 0.2)
    assert obj.k == pytest.approx(0.23)
    assert logs["k_t"].item() == pytest.approx(0.23)
    assert logs["M_global"].item() == pytest.approx(1.0 + 0.3)


@pytest.mark.parametrize("l_fake,direction", [(0.1, +1), (0.9, -1)])
def test_k_moves_towards_equilibrium_and_stays_in_0_1(l_fake, direction):
    # G's samples reconstructed better than gamma L(x): D must attend more to them (k up);
    # worse: k down. Large lambda_k drives k to the boundary, where it is clipped.
    obj = began(gamma=0.5, lambda_k=0.5, k_0=0.5)
    ks = []
    for _ in range(20):
        obj.after_g_step({"L_real": torch.tensor(1.0), "L_fake_g": torch.tensor(l_fake)})
        ks.append(obj.k)
    assert direction * (ks[0] - 0.5) > 0
    assert all(0.0 <= k <= 1.0 for k in ks)
    assert ks[-1] == (1.0 if direction > 0 else 0.0)


@pytest.mark.parametrize("gamma, bound, pinning, turning, after_turn", [
    # L_fake far above gamma L_real drives k down to the floor; then the balance turns
    (0.5, {"k_min": 0.2}, 0.9, 0.1, 0.2 + 0.5 * 0.4),
    # L_fake far below gamma L_real drives k up to a ceiling below the paper's 1
    (1.0, {"k_max": 0.8}, 0.2, 1.4, 0.8 - 0.5 * 0.4),
])
def test_k_t_stays_within_k_min_and_k_max_and_leaves_a_bound_when_the_balance_turns(
        gamma, bound, pinning, turning, after_turn):
    obj = began(gamma=gamma, lambda_k=0.5, k_0=0.5, **bound)
    for _ in range(20):
        obj.after_g_step({"L_real": torch.tensor(1.0), "L_fake_g": torch.tensor(pinning)})
    assert obj.k == next(iter(bound.values()))
    obj.after_g_step({"L_real": torch.tensor(1.0), "L_fake_g": torch.tensor(turning)})
    assert obj.k == pytest.approx(after_turn)


def test_k_min_above_k_max_is_refused_with_both_values():
    with pytest.raises(ValueError, match=r"k_min = 0.6 is above k_max = 0.5"):
        began(k_min=0.6, k_max=0.5)


def test_k_hold_lets_k_t_rise_past_it_then_floors_it_there_and_resumes_held():
    # Below k_hold the control is free both ways; once k_t has reached k_hold, a balance
    # that would pull k_t back down stops at k_hold, after a resume too.
    obj = began(gamma=0.5, lambda_k=0.1, k_0=0.5, k_hold=0.8)
    down, up = {"L_real": torch.tensor(1.0), "L_fake_g": torch.tensor(0.9)}, \
        {"L_real": torch.tensor(1.0), "L_fake_g": torch.tensor(0.1)}
    obj.after_g_step(dict(down))
    assert obj.k == pytest.approx(0.5 - 0.1 * 0.4)  # not held yet: free to fall
    while obj.k < 0.8:
        obj.after_g_step(dict(up))
    for _ in range(30):
        obj.after_g_step(dict(down))
    assert obj.k == pytest.approx(0.8)
    restored = began(gamma=0.5, lambda_k=0.1, k_0=0.5, k_hold=0.8)
    restored.load_state_dict(obj.state_dict())
    restored.after_g_step(dict(down))
    assert restored.k == pytest.approx(0.8)  # still held after a resume


def test_k_hold_above_k_max_is_refused_with_both_values():
    with pytest.raises(ValueError, match=r"k_hold = 0.9 is above k_max = 0.8"):
        began(k_hold=0.9, k_max=0.8)


def test_began_refuses_a_non_autoencoder_discriminator():
    cfg = load_config(sets=["objective.name='began'"])  # default D: mlp
    with pytest.raises(ValueError, match="needs an autoencoder discriminator.*MLP"):
        Trainer(cfg)


def test_a_reconstruction_of_the_wrong_shape_is_refused():
    D = lambda x: (x[:, :1], x)  # noqa: E731
    with pytest.raises(ValueError, match="reconstruct"):
        began().d_loss(D, REAL, FAKE)


def _trainer(tmp_path):
    return Trainer(load_config(sets=[
        "objective.name='began'", "objective.lambda_k=0.05", "objective.k_0=0.5",
        "discriminator.net='began'", "generator.net='began'", "discriminator.width=16",
        "generator.width=16", "data.batch_size=16", f"out_dir='{tmp_path}'"]))


def test_k_t_is_logged_in_training_and_restored_exactly_from_a_checkpoint(tmp_path):
    a = _trainer(tmp_path)
    logs = [a.train_step() for _ in range(10)]
    assert {"k_t", "M_global", "L_real"} <= set(logs[-1])
    assert all(0.0 <= float(l["k_t"]) <= 1.0 for l in logs)
    assert a.objective.k != 0.5  # it moved
    save_checkpoint(tmp_path / "c.safetensors", a.state_dict())
    b = _trainer(tmp_path)
    b.load_state_dict(load_checkpoint(tmp_path / "c.safetensors"))
    assert b.objective.k == a.objective.k
    for _ in range(5):
        a.train_step(), b.train_step()
    assert b.objective.k == a.objective.k


def test_began_nets_for_vectors_and_images():
    for shape in [(2,), (1, 8, 8)]:
        D = build_net("discriminator", NetConfig(net="began", options={"h_dim": 5}), shape)
        G = build_net("generator", NetConfig(net="began"), shape)
        x = G(torch.zeros(3, G.z_dim))
        recon, h = D(x)
        assert x.shape == recon.shape == (3,) + shape and h.shape == (3, 5)
        kinds = {type(m).__name__ for m in list(D.modules()) + list(G.modules())}
        assert "ELU" in kinds and not kinds & {"BatchNorm1d", "BatchNorm2d",
                                                "ConvTranspose2d", "ReLU"}
    ups = [m for m in G.modules() if isinstance(m, torch.nn.Upsample)]
    assert len(ups) == 2 and all(u.mode == "nearest" for u in ups)


def test_began_image_net_refuses_a_size_it_cannot_halve():
    with pytest.raises(ValueError, match="not divisible by 2\\^levels = 4"):
        build_net("discriminator", NetConfig(net="began"), (1, 6, 6))


def _m_global_run(obj, values):
    """Feed after_g_step logs whose M_global = L_real (L_fake_g = gamma L_real)."""
    scales = []
    for v in values:
        obj.after_g_step({"L_real": torch.tensor(v), "L_fake_g": torch.tensor(0.5 * v)})
        scales.append(obj.lr_scale())
    return scales


def test_lr_halves_when_the_window_mean_of_m_global_stalls_and_not_while_it_falls():
    obj = began(gamma=0.5, lambda_k=0.0, stall_window=3, stall_tolerance=0.01)
    # windows of 3: means 3, 2 (a 33% fall: progress), 1.995 (0.25% fall: a stall),
    # 1.995 again (no fall from the new best: a second stall), then 1.0 (progress)
    values = [3.0] * 3 + [2.0] * 3 + [1.995] * 3 + [1.995] * 3 + [1.0] * 3
    scales = _m_global_run(obj, values)
    assert scales == [1.0] * 8 + [0.5] * 3 + [0.25] * 4
    never = began(gamma=0.5, lambda_k=0.0)  # stall_window 0: the paper's decay off
    assert set(_m_global_run(never, values)) == {1.0}


def test_stall_decay_sets_both_optimizers_lr_and_resumes_exactly(tmp_path):
    def trainer():
        return Trainer(load_config(sets=[
            "objective.name='began'", "objective.stall_window=2",
            "objective.stall_tolerance=1.0",  # every window after the first is a stall
            "discriminator.net='began'", "generator.net='began'", "discriminator.width=16",
            "generator.width=16", "data.batch_size=16", "g_optim.lr=0.001",
            "d_optim.lr=0.002", f"out_dir='{tmp_path}'"]))
    a = trainer()
    logs = [a.train_step() for _ in range(6)]
    # windows end after steps 2, 4, 6: the first sets the best, the next two halve
    assert [float(x["lr_scale"]) for x in logs] == [1, 1, 1, 0.5, 0.5, 0.25]
    a.train_step()  # the next step runs at the decayed rates
    assert a.g_opt.param_groups[0]["lr"] == pytest.approx(0.001 * 0.25)
    assert a.d_opt.param_groups[0]["lr"] == pytest.approx(0.002 * 0.25)
    save_checkpoint(tmp_path / "c.safetensors", a.state_dict())
    b = trainer()
    b.load_state_dict(load_checkpoint(tmp_path / "c.safetensors"))
    for _ in range(4):
        la, lb = a.train_step(), b.train_step()
        assert float(la["lr_scale"]) == float(lb["lr_scale"])
        assert float(la["M_global"]) == float(lb["M_global"])
    assert b.g_opt.param_groups[0]["lr"] == a.g_opt.param_groups[0]["lr"] < 0.001 * 0.25


def test_latent_constraint_adds_alpha_times_the_l1_distance_of_h_to_z():
    z = torch.tensor([[0.2, -0.4], [1.0, 0.0]])  # ScaleAE's h is its input: h = FAKE
    loss, logs = began(k_0=0.3, latent_constraint=0.25).d_loss(ScaleAE(0.5), REAL, FAKE,
                                                                z=z)
    distance = (FAKE - z).abs().mean().item()  # (1.2 + 0.4 + 0.7 + 2.0) / 4
    assert distance == pytest.approx(4.3 / 4)
    assert logs["latent_constraint"].item() == pytest.approx(distance)
    assert loss.item() == pytest.approx(0.5 * 4.5 / 4 - 0.3 * 0.5 * 3.3 / 4
                                        + 0.25 * distance)
    with pytest.raises(ValueError, match="needs the noise z"):
        began(latent_constraint=0.25).d_loss(ScaleAE(0.5), REAL, FAKE)


def _cs_trainer(tmp_path, *sets):
    return Trainer(load_config(sets=[
        "objective.name='began'", "discriminator.net='began'", "generator.net='began'",
        "data.batch_size=64", f"out_dir='{tmp_path}'", *sets]))


def test_latent_constraint_trains_ds_encoder_to_recover_the_z_of_each_fake(tmp_path):
    # the trainer hands d_loss the z its fakes came from (2-dimensional, like the
    # ring's points, so the initial G can be inverted): D steps alone teach D's encoder
    # G's inverse, and the distance falls far below 1/2 (h = 0) and 2/3 (h independent
    # of z, both uniform on [-1, 1]), the floors were d_loss handed a fresh z
    t = _cs_trainer(tmp_path, "objective.latent_constraint=1.0",
                    "discriminator.h_dim=2", "generator.z_dim=2")
    logs = [float(t.d_step()["latent_constraint"]) for _ in range(300)]
    assert logs[0] > 0.4
    assert sum(logs[-20:]) / 20 < 0.2


def test_latent_constraint_needs_h_of_zs_dimension(tmp_path):
    with pytest.raises(ValueError, match="h_dim is 8, generator.z_dim is 16"):
        _cs_trainer(tmp_path, "objective.latent_constraint=0.1", "discriminator.h_dim=8",
                    "generator.z_dim=16")
    _cs_trainer(tmp_path, "discriminator.h_dim=8", "generator.z_dim=16")  # alpha 0: fine
