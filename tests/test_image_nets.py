"""DCGAN and Improved-GAN nets: shapes, ranges, and refusals that say what to change."""
import pytest
import torch

from gankit.config import NetConfig
from gankit.nets import build_net


def nets(name, shape, **options):
    cfg = NetConfig(net=name, options=options)
    G = build_net("generator", cfg, shape)
    cfg = NetConfig(net=name, options=options)
    return G, build_net("discriminator", cfg, shape)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 16, 16), (1, 28, 28), (3, 32, 32),
                                   (3, 64, 64)])
def test_dcgan_shapes_and_range(shape):
    G, D = nets("dcgan", shape, width=8, z_dim=10)
    x = G(torch.randn(4, 10))
    assert x.shape == (4, *shape) and x.abs().max() <= 1
    logits, features = D(x)
    assert logits.shape == (4, 1) and features.shape == (4, D.feature_dim)
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == {8: 1, 16: 2, 28: 2, 32: 3, 64: 4}[shape[1]]
    assert convs[-1].out_channels == shape[0]


def test_dcgan_follows_radford_guidelines():
    G, D = nets("dcgan", (3, 32, 32))
    assert isinstance(G.body[-1], torch.nn.Tanh)
    assert not isinstance(D.body[1], torch.nn.BatchNorm2d)  # no BN on the D input layer
    assert isinstance(D.body[1], torch.nn.LeakyReLU) and D.body[1].negative_slope == 0.2
    assert abs(float(D.body[0].weight.detach().std()) - 0.02) < 0.005
    _, D_plain = nets("dcgan", (3, 32, 32), batchnorm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in D_plain.modules())


@pytest.mark.parametrize("shape,message", [
    ((1, 12, 12), r"8, 16, 28, 32, 64 or 128 px.*not 12 px; set data.size"),
    ((1, 16, 8), r"square images, got 16x8; set data.size"),
    ((2,), r"needs image data of shape \(C, H, W\).*use net = 'mlp'"),
])
def test_dcgan_refuses_unsupported_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        nets("dcgan", shape)


def test_wrong_channel_counts_say_what_to_change():
    with pytest.raises(ValueError, match=r"generator.channels = 3 but the data has "
                                         r"1-channel images; set generator.channels = 0"):
        nets("dcgan", (1, 16, 16), channels=3)
    with pytest.raises(ValueError, match=r"takes 1-channel images.*3 channels; set "
                                         r"data.grayscale = true, or use net = 'dcgan'"):
        nets("improved_gan", (3, 32, 32))
    _, D = nets("dcgan", (1, 16, 16), width=4)
    with pytest.raises(ValueError, match=r"built for images of shape \(1, 16, 16\) but "
                                         r"got \(3, 16, 16\)"):
        D(torch.zeros(2, 3, 16, 16))


def test_improved_gan_nets_match_the_paper():
    G, D = nets("improved_gan", (1, 28, 28))
    widths = [m.out_features for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [500, 500, 784] and G.z_dist == "uniform" and G.z_dim == 100
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 2
    d_widths = [m.out_features for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert d_widths == [1000, 500, 250, 250, 250, 10]
    assert all(hasattr(m, "parametrizations") for m in D.modules()
               if isinstance(m, torch.nn.Linear))  # weight norm on every D layer
    x = G(torch.rand(6, 100) * 2 - 1)
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    logits, features = D(x)
    assert logits.shape == (6, 10) and features.shape == (6, 250)


def test_improved_gan_noise_only_in_training():
    _, D = nets("improved_gan", (1, 8, 8), d_widths=[32, 16])
    x = torch.zeros(3, 1, 8, 8)
    assert not torch.equal(D(x)[0], D(x)[0])
    D.eval()
    assert torch.equal(D(x)[0], D(x)[0])


def test_dcgan_generator_virtual_batch_norm_is_independent_of_the_batch():
    G = build_net("generator", NetConfig(net="dcgan", options=dict(
        width=4, z_dim=6, vbn=True, vbn_size=8)), (1, 16, 16))
    with pytest.raises(ValueError, match=r"no reference batch was set; add \[\[stabilizers\]\]"):
        G(torch.randn(2, 6))
    G.set_reference(torch.randn(8, 6))
    z = torch.randn(5, 6)
    alone = G(z[:1])
    together = G(z)
    assert together.shape == (5, 1, 16, 16)
    assert torch.allclose(alone[0], together[0], atol=1e-5)  # no dependence on batch-mates
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules())
    with pytest.raises(ValueError, match="set generator.vbn = true instead"):
        nets("dcgan", (1, 16, 16), vbn=True)
