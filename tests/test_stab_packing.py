import pytest
import torch

from gankit.config import from_dict
from gankit.nets.mlp import MLP
from stab_helpers import cli_train


def test_pack_of_m_is_one_input_of_m_concatenated_samples():
    torch.manual_seed(0)
    D = MLP.discriminator(from_dict(MLP.Options, {"width": 8, "pack": 4}), (2,))
    x = torch.randn(12, 2)
    logits, features = D(x)
    assert logits.shape == (3, 1) and features.shape == (3, 8)
    assert D.body[0].in_features == 8
    manual = D.out(D.body(x[4:8].reshape(1, 8)))
    assert torch.allclose(logits[1], manual[0])


def test_batch_not_divisible_by_m_is_refused_with_reason(tmp_path, capsys):
    assert cli_train(tmp_path, 4, ["discriminator.pack=5"]) == 2  # batch 64
    err = capsys.readouterr().err
    assert "not a multiple of 5" in err and "data.batch_size divisible by 5" in err


def test_packing_is_refused_on_the_generator():
    with pytest.raises(ValueError, match="generator.pack"):
        MLP.generator(from_dict(MLP.Options, {"pack": 2}), (2,))
