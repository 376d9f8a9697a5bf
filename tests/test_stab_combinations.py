"""Every stabilizer combines with every objective in a short CLI run (issue 4)."""
import json

import pytest

from gankit import objectives  # noqa: F401  (registers the objectives)
from gankit.registry import OBJECTIVES
from stab_helpers import cli_train, only_run

TECHNIQUES = {
    "historical_averaging": ["stabilizers=[{name='historical_averaging', weight=0.01}]"],
    "label_smoothing": ["stabilizers=[{name='label_smoothing'}]"],
    "instance_noise": ["stabilizers=[{name='instance_noise', sigma0=0.2, steps=4}]"],
    "vbn": ["stabilizers=[{name='vbn'}]", "generator.vbn=true", "generator.vbn_size=16"],
    "minibatch_discrimination": ["discriminator.mbd_kernels=4"],
    "weightnorm_noise": ["discriminator.weightnorm=true", "discriminator.noise_input=0.1",
                         "discriminator.noise_hidden=0.1"],
    "packing": ["discriminator.pack=4"],
    "r1": ["stabilizers=[{name='r1', gamma=1.0, on='both'}]"],
    "all_at_once": ["stabilizers=[{name='historical_averaging', weight=0.01}, "
                    "{name='instance_noise', sigma0=0.2, steps=4}, {name='vbn'}]",
                    "generator.vbn=true", "generator.vbn_size=16",
                    "discriminator.mbd_kernels=4", "discriminator.pack=2",
                    "discriminator.weightnorm=true"],
}
OBJECTIVE_NAMES = [n for n in ("minimax", "nonsaturating", "wgan") if n in OBJECTIVES]


@pytest.mark.parametrize("objective", OBJECTIVE_NAMES)
@pytest.mark.parametrize("technique", sorted(TECHNIQUES))
def test_short_cli_run(tmp_path, capsys, technique, objective):
    extra = TECHNIQUES[technique] + [f"objective.name='{objective}'"]
    code = cli_train(tmp_path, 6, extra)
    if technique == "label_smoothing" and not OBJECTIVES.get(objective).uses_labels:
        assert code == 2 and "no targets to smooth" in capsys.readouterr().err
        assert not tmp_path.exists() or not any(tmp_path.iterdir())
        return
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(l) for l in (only_run(tmp_path) / "metrics.jsonl").read_text()
            .splitlines()]
    final = [r for r in rows if r["kind"] == "eval"][-1]
    assert final["step"] == 6 and 0 <= final["hq"] <= 100


def test_wgan_is_in_the_parametrisation():
    assert "wgan" in OBJECTIVE_NAMES
