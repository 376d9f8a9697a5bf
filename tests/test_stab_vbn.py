import pytest
import torch

from gankit.components import load_config
from gankit.config import from_dict
from gankit.nets.mlp import MLP
from gankit.train import Trainer
from stab_helpers import assert_resume_exact


def net(role, **opts):
    return getattr(MLP, role)(from_dict(MLP.Options, {"width": 16, "vbn": True,
                                                      "vbn_size": 8, **opts}), (2,))


@pytest.mark.parametrize("role,dim", [("generator", 16), ("discriminator", 2)])
def test_output_for_an_example_does_not_depend_on_the_rest_of_its_batch(role, dim):
    torch.manual_seed(0)
    n = net(role)
    n.set_reference(torch.randn(8, dim))
    x = torch.randn(1, dim)
    outs = []
    for others in (torch.randn(5, dim), 10 * torch.randn(40, dim) + 3, torch.empty(0, dim)):
        out = n(torch.cat([x, others]))
        outs.append(out[0] if role == "discriminator" else out)
        outs[-1] = outs[-1][:1]
    for out in outs[1:]:
        assert torch.allclose(out, outs[0], atol=1e-5)
    other_ref = n(x)[0] if role == "discriminator" else n(x)
    n.set_reference(torch.randn(8, dim) * 3)  # ...but it does depend on the reference
    changed = n(x)[0] if role == "discriminator" else n(x)
    assert not torch.allclose(changed, other_ref, atol=1e-3)


def test_batch_norm_by_contrast_depends_on_the_batch():
    torch.manual_seed(0)
    bn = MLP.generator(from_dict(MLP.Options, {"width": 16, "batchnorm": True}), (2,))
    x = torch.randn(1, 16)
    assert not torch.allclose(bn(torch.cat([x, torch.randn(5, 16)]))[:1],
                              bn(torch.cat([x, torch.randn(5, 16) * 5]))[:1], atol=1e-3)


def test_reference_batch_smaller_than_2_is_refused_with_reason():
    with pytest.raises(ValueError, match="fewer than 2 reference examples"):
        net("generator", vbn_size=1)


def test_net_without_reference_and_stabilizer_without_vbn_net_are_refused(tmp_path):
    with pytest.raises(ValueError, match="add \\[\\[stabilizers\\]\\] name = 'vbn'"):
        net("generator")(torch.randn(4, 16))
    with pytest.raises(ValueError, match="neither net has it"):
        Trainer(load_config(sets=["stabilizers=[{name='vbn'}]"]))


def test_stabilizer_fixes_references_from_noise_and_data(tmp_path):
    t = Trainer(load_config(sets=["stabilizers=[{name='vbn'}]", "generator.vbn=true",
                                  "discriminator.vbn=true", "generator.vbn_size=16",
                                  "discriminator.vbn_size=12"]))
    assert t.G.vbn_ref.shape == (16, 16) and t.D.vbn_ref.shape == (12, 2)
    radii = t.D.vbn_ref.norm(dim=1)  # real ring data: every point near radius 1
    assert torch.allclose(radii, torch.ones(12), atol=0.05)


def test_resume_is_exact_with_the_reference_batch_in_the_checkpoint(tmp_path):
    full = assert_resume_exact(tmp_path, ["stabilizers=[{name='vbn'}]", "generator.vbn=true",
                                          "generator.vbn_size=8"])
    assert bool(full["G"]["vbn_ready"]) and full["G"]["vbn_ref"].abs().sum() > 0


def test_one_vbn_for_vectors_and_conv_maps():
    # the 1d (mlp) and 2d (dcgan) layers were written twice: one refused fewer than 2
    # reference rows, the other clamped the reference variance; both now do both
    from gankit.nets.layers import VirtualBatchNorm1d, VirtualBatchNorm2d

    torch.manual_seed(0)
    v1, v2 = VirtualBatchNorm1d(6), VirtualBatchNorm2d(6)
    with torch.no_grad():
        for v in (v1, v2):
            v.gamma.copy_(torch.linspace(0.5, 2, 6).view_as(v.gamma))
            v.beta.copy_(torch.linspace(-1, 1, 6).view_as(v.beta))
    h = torch.randn(12, 6) * 3 + 1
    # a conv map of 1 x 1 pixels is a feature vector: the two layers agree on it
    assert torch.allclose(v2(h[:, :, None, None], 8).flatten(1), v1(h, 8), atol=1e-6)
    for v, x in ((v1, h), (v2, h[:, :, None, None])):
        with pytest.raises(ValueError, match="at least 2 examples, got 1"):
            v(x, 1)
    # a reference feature of nearly constant large values: E h^2 - (E h)^2 rounds below
    # 0 in float32 on some features; both layers clamp it and stay finite
    near = 3000.0 + 1e-3 * torch.randn(12, 6)
    assert bool(((near[:8] ** 2).mean(0) - near[:8].mean(0) ** 2 < -1e-5).any())
    assert torch.isfinite(v1(near, 8)).all()
    assert torch.isfinite(v2(near[:, :, None, None], 8)).all()
