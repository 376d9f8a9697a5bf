import math

import pytest
import torch

from gankit.components import load_config
from gankit.objectives.base import Objective
from gankit.registry import OBJECTIVES
from gankit.train import Trainer


def trainer(tmp_path, objective="nonsaturating", **opts):
    body = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                     for k, v in opts.items())
    sep = ", " if body else ""
    return Trainer(load_config(sets=[f"out_dir='{tmp_path}'", f"objective.name='{objective}'",
                                     f"stabilizers=[{{name='label_smoothing'{sep}{body}}}]"]))


def fixed_D(real_logit, fake_logit):
    def D(x):
        value = real_logit if x[0, 0] > 0 else fake_logit
        return torch.full((len(x), 1), value), x
    return D


def bce(logit, target):
    p = 1 / (1 + math.exp(-logit))
    return -(target * math.log(p) + (1 - target) * math.log(1 - p))


@pytest.mark.parametrize("objective", ["minimax", "nonsaturating"])
def test_only_real_targets_change_hand_computed_losses(tmp_path, objective):
    t = trainer(tmp_path, objective)
    real, fake = torch.ones(4, 2), -torch.ones(4, 2)
    D = fixed_D(2.0, -1.0)
    d_loss, _ = t.objective.d_loss(D, real, fake)
    assert abs(float(d_loss) - (bce(2.0, 0.9) + bce(-1.0, 0.0))) < 1e-6
    assert abs(float(d_loss) - (bce(2.0, 1.0) + bce(-1.0, 0.0))) > 1e-2
    plain = OBJECTIVES.get(objective)(t.objective.opts)
    g_smoothed, _ = t.objective.g_loss(D, fake, None)
    g_plain, _ = plain.g_loss(D, fake, None)
    assert torch.equal(g_smoothed, g_plain)  # G's loss is not touched
    assert (t.objective.real_label, t.objective.fake_label) == (0.9, 0.0)


def test_smoothing_generated_targets_is_refused_unless_asked_for(tmp_path):
    with pytest.raises(ValueError, match="Sec. 3.4.*allow_fake_smoothing"):
        trainer(tmp_path, beta=0.1)
    t = trainer(tmp_path, beta=0.1, allow_fake_smoothing=True)
    assert t.objective.fake_label == 0.1


class _NoLabels(Objective):
    uses_labels = False


def test_refused_for_objectives_without_labels(tmp_path, monkeypatch):
    # registered for this test only: loops over OBJECTIVES elsewhere must not see it
    monkeypatch.setitem(OBJECTIVES._items, "no_labels_test", _NoLabels)
    with pytest.raises(ValueError, match="no targets to smooth"):
        trainer(tmp_path, objective="no_labels_test")
