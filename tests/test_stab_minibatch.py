import pytest
import torch

from gankit.config import from_dict
from gankit.nets.layers import MinibatchDiscrimination
from gankit.nets.mlp import MLP


def test_features_separate_identical_samples_from_diverse_ones():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(in_dim=6, kernels=4, kernel_dim=3, init_std=1.0)
    same = torch.randn(1, 6).repeat(16, 1)
    diverse = torch.randn(16, 6)
    o_same = layer(same)[:, 6:]
    o_diverse = layer(diverse)[:, 6:]
    assert torch.allclose(o_same, torch.full_like(o_same, 16.0))  # every c_b = exp(0) = 1
    assert o_diverse.max() < 8.0  # diverse examples are far apart in most kernels
    assert torch.equal(layer(diverse)[:, :6], diverse)  # f(x_i) is passed on unchanged


def test_closeness_matches_the_paper_formula_for_one_pair():
    torch.manual_seed(1)
    layer = MinibatchDiscrimination(in_dim=3, kernels=2, kernel_dim=4)
    f = torch.randn(2, 3)
    M = (f @ layer.T).view(2, 2, 4)
    c = torch.exp(-(M[0] - M[1]).abs().sum(-1))  # c_b(x_0, x_1) for b = 0, 1
    assert torch.allclose(layer.closeness(f)[0], 1 + c)


def test_discriminator_sees_the_batch_real_and_fake_calls_stay_separate():
    torch.manual_seed(0)
    D = MLP.discriminator(from_dict(MLP.Options, {"width": 16, "mbd_kernels": 8,
                                                  "feature_layer": 1}), (2,))
    x = torch.randn(1, 2)
    a = D(torch.cat([x, x.repeat(7, 1)]))[0][0]
    b = D(torch.cat([x, torch.randn(7, 2) * 3]))[0][0]
    assert not torch.allclose(a, b, atol=1e-4)
    assert D.body[4].in_features == 16 + 8  # o(x) widens the layer after the features


def test_generator_has_no_feature_layer_and_is_refused():
    with pytest.raises(ValueError, match="generator has no such layer"):
        MLP.generator(from_dict(MLP.Options, {"mbd_kernels": 4}), (2,))


def test_broadcast_and_cdist_paths_agree_and_the_small_one_has_a_second_derivative(monkeypatch):
    torch.manual_seed(2)
    layer = MinibatchDiscrimination(in_dim=5, kernels=3, kernel_dim=4, init_std=0.5)
    f = torch.randn(12, 5, dtype=torch.float64, requires_grad=True)
    layer.T.data = layer.T.data.double()
    small = layer.closeness(f)
    # R1's double backward: the gradient of a function of the input gradient
    (g,) = torch.autograd.grad(small.sum(), f, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), layer.T)
    assert torch.isfinite(gg).all() and gg.abs().sum() > 0
    monkeypatch.setattr(MinibatchDiscrimination, "BROADCAST_MAX", 0)
    big = layer.closeness(f)
    assert torch.allclose(small, big, rtol=1e-12, atol=1e-12)


def test_r1_trains_through_minibatch_discrimination():
    from gankit.components import load_config
    from gankit.train import Trainer

    cfg = load_config("configs/ns_r1_ema.toml", ["data.name=ring", "data.batch_size=64",
                                                 "stabilizers.0.every=1",  # R1 each step
                                                 "discriminator.mbd_kernels=4",
                                                 "discriminator.mbd_dim=4"])
    trainer = Trainer(cfg)
    for _ in range(3):
        logs = trainer.train_step()
    assert torch.isfinite(logs["d_penalty"]) and float(logs["d_penalty"]) > 0


def test_dcgan_discriminator_sees_the_batch_and_returns_the_features_unchanged():
    from gankit.nets.dcgan import DCGAN

    torch.manual_seed(0)
    opts = {"width": 8, "mbd_kernels": 6, "mbd_dim": 3}
    D = DCGAN.discriminator(from_dict(DCGAN.Options, opts), (1, 16, 16)).eval()
    plain = DCGAN.discriminator(from_dict(DCGAN.Options, {"width": 8}), (1, 16, 16)).eval()
    assert D.out.in_features == plain.out.in_features + 6
    x = torch.rand(1, 1, 16, 16) * 2 - 1
    same = D(torch.cat([x, x.repeat(7, 1, 1, 1)]))
    diverse = D(torch.cat([x, torch.rand(7, 1, 16, 16) * 2 - 1]))
    # the first example's logit depends on the rest of its batch, its features do not
    assert not torch.allclose(same[0][0], diverse[0][0], atol=1e-4)
    assert torch.equal(same[1][0], diverse[1][0])
    assert same[1].shape == (8, D.feature_dim)


def test_dcgan_generator_refuses_minibatch_discrimination():
    from gankit.nets.dcgan import DCGAN

    with pytest.raises(ValueError, match="generator.mbd_kernels"):
        DCGAN.generator(from_dict(DCGAN.Options, {"mbd_kernels": 4}), (1, 16, 16))


def test_feature_matching_with_r1_trains_through_dcgan_minibatch_discrimination():
    from gankit.components import load_config
    from gankit.train import Trainer

    cfg = load_config("feature_matching_r1_ema_digits", [
        "data.batch_size=16", "stabilizers.0.every=1", "stabilizers.0.samples=8",
        "discriminator.mbd_kernels=8", "discriminator.mbd_dim=3"])
    trainer = Trainer(cfg)
    for _ in range(2):
        logs = trainer.train_step()
    assert torch.isfinite(logs["d_penalty"]) and float(logs["d_penalty"]) > 0
    assert torch.isfinite(logs["g_loss"])
