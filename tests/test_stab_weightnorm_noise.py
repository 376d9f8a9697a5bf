import torch

from gankit.config import from_dict
from gankit.nets.layers import GaussianNoise, WeightNormLinear
from gankit.nets.mlp import MLP
from stab_helpers import assert_resume_exact


def test_weight_norm_row_lengths_are_g_whatever_v():
    layer = WeightNormLinear(5, 3)
    with torch.no_grad():
        layer.v.mul_(torch.tensor([[10.0], [0.1], [3.0]]))
        layer.g.copy_(torch.tensor([1.0, 2.0, 0.5]))
    assert torch.allclose(layer.weight().norm(dim=1), torch.tensor([1.0, 2.0, 0.5]))
    x = torch.randn(4, 5)
    assert torch.allclose(layer(x), x @ layer.weight().T + layer.bias)


def test_noise_layer_reproducible_under_the_global_seed_and_off_in_eval():
    layer = GaussianNoise(0.5)
    x = torch.zeros(1000, 4)
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    assert torch.equal(a, layer(x))
    assert abs(float(a.std()) - 0.5) < 0.02
    layer.eval()
    assert torch.equal(layer(x), x)


def test_paper_mnist_discriminator_options_build_and_resume_exactly(tmp_path):
    D = MLP.discriminator(from_dict(MLP.Options, {"weightnorm": True, "noise_input": 0.3,
                                                  "noise_hidden": 0.5}), (2,))
    assert isinstance(D.body[0], GaussianNoise) and isinstance(D.out, WeightNormLinear)
    assert_resume_exact(tmp_path, ["discriminator.weightnorm=true",
                                   "discriminator.noise_input=0.3",
                                   "discriminator.noise_hidden=0.5"])
