import pytest
import torch

from stab_helpers import assert_resume_exact
from gankit.config import from_dict, load_config
from gankit.nets.mlp import MLP
from gankit.train import Trainer


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
