"""Plug-ins get a named SetupContext, not the trainer; building reads the config only."""
import dataclasses

import pytest
import torch

from gankit import seeds
from gankit.components import load_config
from gankit.config import NetConfig, ObjectiveConfig
from gankit.evalmode import eval_mode
from gankit.nets.mlp import MLP
from gankit.plugins import SetupContext, build, component_options
from gankit.registry import NETS, OBJECTIVES, STABILIZERS
from gankit.stabilizers.base import Stabilizer
from gankit.train import Trainer


class _Probe(Stabilizer):
    seen = []

    def setup(self, ctx):
        self.seen.append(ctx)


def probed(monkeypatch, *sets):
    monkeypatch.setitem(STABILIZERS._items, "probe_test", _Probe)
    _Probe.seen = []
    t = Trainer(load_config(sets=["stabilizers=[{name='probe_test'}]", "seed=3",
                                  "discriminator.width=8", "generator.width=8",
                                  "data.batch_size=16", *sets]))
    (ctx,) = _Probe.seen
    return t, ctx


def test_a_stabilizer_sees_what_the_context_names(monkeypatch):
    t, ctx = probed(monkeypatch, "discriminator.pack=2")
    assert isinstance(ctx, SetupContext) and not isinstance(ctx, Trainer)
    assert ctx.G is t.G and ctx.D is t.D and ctx.device == t.device
    assert isinstance(ctx.d_options, MLP.Options)
    assert (ctx.d_options.width, ctx.d_options.pack) == (8, 2)
    assert (ctx.objective_name, ctx.batch_size, ctx.seed) == ("nonsaturating", 16, 3)
    assert ctx.seed_for(seeds.INSTANCE_NOISE) == (3 * 1_000_003 + 104_729) % 2**63
    assert ctx.real_examples(5).shape == (5, 2) and ctx.sample_z(4).shape == (4, t.G.z_dim)
    assert ctx.labelled is t.data
    ctx.set_label_targets(0.8, 0.1)  # the one named way to change the objective
    assert (t.objective.real_label, t.objective.fake_label) == (0.8, 0.1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.seed = 4


def test_objectives_without_labels_offer_no_targets(monkeypatch):
    _, ctx = probed(monkeypatch, "objective.name='wgan'")
    assert ctx.set_label_targets is None


def test_one_builder_for_every_kind_reads_the_section_without_changing_it():
    section = ObjectiveConfig(name="wgan", options={"clip": 0.02})
    objective = build(OBJECTIVES, "objective", section)
    assert objective.opts.clip == 0.02 and section.options == {"clip": 0.02}
    net = NetConfig(net="mlp", options={"width": 4})
    G = build(NETS, "generator", net, (2,), make="generator")
    assert G.body[0].out_features == 4 and net.options == {"width": 4}
    assert component_options(NETS, net, "generator") == MLP.Options(width=4)


def test_eval_mode_restores_each_modules_own_mode_even_on_errors():
    a, b = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2).eval()
    with eval_mode(a, b):
        assert not a.training and not b.training
    assert a.training and not b.training
    with pytest.raises(RuntimeError):
        with eval_mode(a):
            raise RuntimeError("boom")
    assert a.training


def test_generating_and_the_dry_run_leave_the_nets_modes_alone(monkeypatch):
    t, _ = probed(monkeypatch, "generator.batchnorm=true")
    assert t.G.training and t.D.training  # after the dry run
    before = t.G.body[1].running_mean.clone()
    t.generate(32)
    assert t.G.training and torch.equal(t.G.body[1].running_mean, before)
    t.G.eval()
    t.generate(8)
    assert not t.G.training
