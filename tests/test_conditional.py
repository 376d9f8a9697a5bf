"""Class-conditional GANs: conditional batch norm, the projection discriminator, AC-GAN,
labelled batches, per-class metrics, sampling by class, and resume."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from conftest import tiny_sets
from gankit.checkpoint import CheckpointManager
from gankit.cli import main
from gankit.components import load_config
from gankit.config import NetConfig
from gankit.data import build_dataset
from gankit.metrics import training
from gankit.metrics.conditional import landed, per_class
from gankit.nets import build_net
from gankit.nets.conditional import BoundD, ConditionalBatchNorm, ProjectionHead
from gankit.objectives import build_objective
from gankit.train import Trainer

COND = ["generator.conditional='input'", "discriminator.conditional='projection'"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def cli(args):
    return main([str(a) for a in args])


def train_args(tmp_path, *extra, steps=20):
    return ["train"] + sum([["--set", s] for s in tiny_sets(tmp_path, steps=steps)
                            + list(extra)], [])


def only_run(path: Path) -> Path:
    (run,) = [p for p in path.iterdir() if p.is_dir()]
    return run


# ----------------------------------------------------------------------------- nets
@pytest.mark.parametrize("spatial", [True, False])
def test_conditional_batch_norm_with_one_class_is_batch_norm(spatial):
    torch.manual_seed(0)
    c = 5
    bn = (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(c)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(c))
        bn.bias.copy_(torch.randn(c))
    cbn = ConditionalBatchNorm(c, 1, spatial=spatial)
    with torch.no_grad():
        cbn.gamma.weight[0] = bn.weight
        cbn.beta.weight[0] = bn.bias
    h = torch.randn(8, c, 3, 3) * 2 + 1 if spatial else torch.randn(8, c) * 2 + 1
    y = torch.zeros(8, dtype=torch.long)
    torch.testing.assert_close(cbn(h, y), bn(h))  # training mode: batch statistics
    torch.testing.assert_close(cbn.bn.running_mean, bn.running_mean)
    torch.testing.assert_close(cbn.bn.running_var, bn.running_var)
    cbn.eval(), bn.eval()
    torch.testing.assert_close(cbn(h, y), bn(h))  # eval mode: running statistics


def test_conditional_batch_norm_scales_each_example_by_its_class():
    cbn = ConditionalBatchNorm(2, 3, spatial=False)
    with torch.no_grad():
        cbn.gamma.weight.copy_(torch.tensor([[1.0, 1.0], [2.0, 3.0], [0.0, 1.0]]))
        cbn.beta.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, -1.0], [5.0, 0.0]]))
    h = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # batch mean (2, 4), biased var (1, 4)
    out = cbn(h, torch.tensor([1, 2]))
    normed = torch.tensor([[-1.0, -1.0], [1.0, 1.0]]) / torch.sqrt(torch.tensor(1 + 1e-5))
    normed[:, 1] = torch.tensor([-2.0, 2.0]) / torch.sqrt(torch.tensor(4 + 1e-5))
    expect = torch.stack([normed[0] * torch.tensor([2.0, 3.0]) + torch.tensor([1.0, -1.0]),
                          normed[1] * torch.tensor([0.0, 1.0]) + torch.tensor([5.0, 0.0])])
    torch.testing.assert_close(out, expect)


def test_projection_term_by_hand():
    head = ProjectionHead(3, 2)
    with torch.no_grad():
        head.embed.weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [-1.0, 0.5, 0.0]]))
    phi = torch.tensor([[1.0, 2.0, 3.0], [4.0, -2.0, 1.0]])
    # class 1 for row 0: -1 + 1 + 0 = 0; class 0 for row 1: 4 + 0 + 2 = 6
    torch.testing.assert_close(head(phi, torch.tensor([1, 0])), torch.tensor([[0.0], [6.0]]))


@pytest.mark.parametrize("net, shape", [("mlp", (2,)), ("dcgan", (1, 16, 16))])
def test_projection_discriminator_adds_embedding_dot_features(net, shape):
    torch.manual_seed(0)
    D = build_net("discriminator", NetConfig(net=net, options={
        "conditional": "projection", "width": 8}), shape, 4).eval()
    x, y = torch.randn(6, *shape), torch.tensor([0, 1, 2, 3, 0, 1])
    logits, feats = D(x, y)
    # psi(phi(x)) is the output layer alone; the projection term is V[y] . phi(x)
    phi = D.body(x) if net == "dcgan" else D.body(x.flatten(1))
    phi = phi.flatten(1)
    torch.testing.assert_close(feats, phi)
    V = D.cond_head.head.embed.weight
    expect = D.out(phi) + (V[y] * phi).sum(1, keepdim=True)
    torch.testing.assert_close(logits, expect)
    other = D(x, (y + 1) % 4)[0]
    assert not torch.allclose(other, logits)


@pytest.mark.parametrize("net, options, shape", [
    ("mlp", {"conditional": "input"}, (2,)),
    ("mlp", {"conditional": "cbn", "batchnorm": True}, (2,)),
    ("dcgan", {"conditional": "cbn"}, (1, 16, 16)),
    ("dcgan", {"conditional": "input"}, (1, 16, 16)),
])
def test_conditional_generator_samples_change_with_the_label(net, options, shape):
    torch.manual_seed(0)
    G = build_net("generator", NetConfig(net=net, options={**options, "width": 16}),
                  shape, 3)
    if options["conditional"] == "cbn":  # away from the identical initial gains
        with torch.no_grad():
            for m in G.modules():
                if isinstance(m, ConditionalBatchNorm):
                    m.gamma.weight.normal_(1.0, 0.5)
                    m.beta.weight.normal_(0.0, 0.5)
    G.eval()
    z = torch.randn(1, G.z_dim).repeat(3, 1)  # one z, three classes
    x = G(z, torch.arange(3))
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert (x[a] - x[b]).abs().max() > 1e-3
    torch.testing.assert_close(G(z[:1], torch.tensor([2])), x[2:])  # eval: per example
    with pytest.raises(ValueError, match="call it as G"):
        G(z)


@pytest.mark.parametrize("role, options, message", [
    ("generator", {"conditional": "projection"}, "conditions a discriminator"),
    ("discriminator", {"conditional": "cbn"}, "conditions a generator"),
    ("generator", {"conditional": "cbn"}, "set generator.batchnorm = true"),
    ("discriminator", {"conditional": "projection", "pack": 2}, "set pack = 1"),
    ("generator", {"conditional": "input", "vbn": True}, "reference batch has no classes"),
])
def test_nets_refuse_conditioning_they_cannot_do(role, options, message):
    with pytest.raises(ValueError, match=message):
        build_net(role, NetConfig(net="mlp", options=options), (2,), 4)


def test_bound_discriminator_gives_each_position_its_label():
    calls = []
    D = BoundD(lambda x, y: calls.append(y) or (x.sum(1, keepdim=True), x), torch.arange(5))
    D(torch.zeros(5, 2))
    D(torch.zeros(3, 2))  # a prefix (R1 on the first n, RpGAN's pairs)
    assert [c.tolist() for c in calls] == [[0, 1, 2, 3, 4], [0, 1, 2]]
    with pytest.raises(ValueError, match="has labels for 5"):
        D(torch.zeros(6, 2))


# ----------------------------------------------------------------------------- data
@pytest.mark.parametrize("name", ["ring", "grid"])
def test_toy_labels_are_the_modes_and_draws_are_unchanged(name):
    cfg = load_config(sets=[f"data.name='{name}'"]).data
    a, b = build_dataset(cfg, seed=3), build_dataset(cfg, seed=3)
    x, y = a.sample_with_labels(500)
    torch.testing.assert_close(x, b.sample(500), rtol=0, atol=0)  # the same draws
    nearest = torch.cdist(x, a.centres).argmin(1)
    assert torch.equal(nearest, y) and a.num_classes == len(a.centres)


def test_image_labels_go_with_their_images():
    data = build_dataset(load_config(sets=["data.name='digits'"]).data, seed=0)
    x, y = data.sample_with_labels(40)
    for img, label in zip(x, y):
        matches = (data.examples(torch.arange(len(data))) - img).abs().flatten(1).amax(1) == 0
        assert label in data.labels[matches]


# ----------------------------------------------------------------------------- objectives
def test_acgan_adds_class_cross_entropy_to_both_losses():
    torch.manual_seed(0)
    D = build_net("discriminator", NetConfig(options={"conditional": "acgan", "width": 8}),
                  (2,), 3)
    acgan = build_objective(load_config(sets=["objective.name='acgan'"]).objective)
    game = build_objective(load_config(sets=["objective.name='nonsaturating'"]).objective)
    acgan.head = D.class_logits
    y = torch.tensor([0, 1, 2, 1])
    bound = BoundD(D, y)
    real, fake = torch.randn(4, 2), torch.randn(4, 2)
    d_acgan, logs = acgan.d_loss(bound, real, fake)
    d_game, _ = game.d_loss(bound, real, fake)
    ce = lambda x: F.cross_entropy(D.class_logits(D(x)[1]), y)  # noqa: E731
    torch.testing.assert_close(d_acgan, d_game + ce(real) + ce(fake))
    g_acgan, _ = acgan.g_loss(bound, fake, None)
    torch.testing.assert_close(g_acgan, game.g_loss(bound, fake, None)[0] + ce(fake))
    assert {"d_class_real", "d_class_fake", "class_acc_real"} <= set(logs)
    acgan.opts.d_on_fake = False  # D's classifier learns the real examples' classes only
    torch.testing.assert_close(acgan.d_loss(bound, real, fake)[0], d_game + ce(real))


# ----------------------------------------------------------------------------- metrics
def test_landed_needs_the_asked_mode_and_high_quality():
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    samples = torch.tensor([[0.0, 0.02], [0.0, 0.02], [1.0, 0.0], [0.5, 0.0]])
    classes = torch.tensor([0, 1, 1, 0])
    hit = landed(samples, classes, centres, std=0.01)
    assert hit.tolist() == [True, False, True, False]  # 0.02 < 3 std; wrong mode; far
    assert per_class(hit, classes, 2) == [50.0, 50.0]


class _Asked:
    """A stand-in trainer: its samples were asked for these classes."""

    def __init__(self, k):
        self.k = k

    def sample_classes(self, n):
        return torch.arange(n) % self.k


def test_class_metrics_score_real_images_of_the_asked_class_well():
    data = build_dataset(load_config(sets=["data.name='digits'"]).data, seed=0)
    right = torch.cat([data.examples((data.labels == k).nonzero().flatten()[:40])
                       for k in range(10)])
    order = torch.arange(400).view(10, 40).T.flatten()  # class k at positions i % 10 == k
    samples = right[order]
    evaluator = training.Evaluator(["class_acc", "intra_fid"], data)
    good = evaluator.evaluate(_Asked(10), samples)
    wrong = evaluator.evaluate(_Asked(10), samples.roll(1, 0))  # every class shifted
    assert good["class_acc"] > 90 and wrong["class_acc"] < 10
    assert len(good["class_acc_by_class"]) == 10
    assert good["intra_fid"] < wrong["intra_fid"] / 3
    assert good["class_acc"] == pytest.approx(np.mean(good["class_acc_by_class"]))


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("extra", [
    ["objective.name='hinge'"],
    ["objective.name='wgan_gp'"],
    ["objective.name='rpgan'"],
    ["objective.name='acgan'", "discriminator.conditional='acgan'"],
    ["objective.name='acgan'", "objective.game='rpgan'", "discriminator.conditional='acgan'"],
])
def test_objectives_train_class_conditionally(tmp_path, extra):
    cfg = load_config(sets=tiny_sets(tmp_path) + COND + extra)
    t = Trainer(cfg)
    for _ in range(3):
        logs = t.train_step()
    assert all(torch.isfinite(v).all() for v in logs.values())


def test_r1_and_label_smoothing_compose_with_conditioning(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[[stabilizers]]\nname = 'r1'\nsamples = 16\n"
                    "[[stabilizers]]\nname = 'label_smoothing'\n")
    cfg = load_config(path, tiny_sets(tmp_path) + COND)
    t = Trainer(cfg)
    logs = t.train_step()
    assert "d_penalty" in logs and torch.isfinite(logs["d_penalty"])


def test_resume_is_exact_with_the_conditional_parameters(tmp_path):
    sets = COND + ["objective.name='acgan'", "discriminator.conditional='acgan'",
                   "generator.conditional='cbn'", "generator.batchnorm=true",
                   "eval.metrics=['modes','class_modes']"]
    assert cli(train_args(tmp_path / "full", *sets, steps=40)) == 0
    assert cli(train_args(tmp_path / "half", *sets, steps=20)) == 0
    run = only_run(tmp_path / "half")
    assert cli(["train", "--resume", run, "--set", "train.steps=40"]) == 0
    _, full = CheckpointManager(only_run(tmp_path / "full")).load_latest()
    _, resumed = CheckpointManager(run).load_latest()
    keys = [k for k in full["G"] if "gamma" in k or "beta" in k]
    keys += [k for k in full["D"] if "cond_head" in k]
    assert len(keys) >= 4 and resumed["num_classes"] == 8
    for part in ("G", "D"):
        for key, value in full[part].items():
            assert torch.equal(resumed[part][key], value), (part, key)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if r["kind"] == "eval"][-1]
    assert len(last["class_hq_by_class"]) == 8 and 0 <= last["class_hq_min"] <= 100


def test_image_runs_write_one_row_per_class(tmp_path):
    from PIL import Image

    sets = ["data.name='digits'", "data.size=8", "generator.net='dcgan'",
            "discriminator.net='dcgan'", "generator.conditional='cbn'",
            "discriminator.conditional='projection'", "eval.metrics=[]",
            "data.batch_size=16"]
    assert cli(train_args(tmp_path, *sets, steps=10)) == 0
    run = only_run(tmp_path)
    grid = np.asarray(Image.open(run / "samples" / "step-000000010.png"))
    # 8 px images enlarged 8x with 1 px separators: 10 rows, 8 columns
    assert grid.shape == (10 * 65 + 1, 8 * 65 + 1)
    trainer = Trainer.from_run_dir(run)
    images, cols = trainer.sample_grid(123)
    G = trainer.g_ema.sampler.eval()
    z = torch.randn(cols, G.z_dim, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        row3 = G(z, torch.full((cols,), 3))
    torch.testing.assert_close(images[3 * cols:4 * cols], row3.clamp(-1, 1))


def test_sample_by_class(tmp_path, capsys):
    assert cli(train_args(tmp_path / "runs", *COND, steps=10)) == 0
    run = only_run(tmp_path / "runs")
    out = tmp_path / "k5.npz"
    assert cli(["sample", run, "--n", "50", "--class", "5", "--seed", "3", "--out", out]) == 0
    got = np.load(out)
    assert (got["y"] == 5).all()
    trainer = Trainer.from_run_dir(run)
    z = torch.randn(50, trainer.G.z_dim, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expect = trainer.g_ema.sampler.eval()(z, torch.full((50,), 5))
    np.testing.assert_array_equal(got["x"], expect.numpy())
    assert cli(["sample", run, "--n", "20", "--out", tmp_path / "all.npz"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "all.npz")["y"], np.arange(20) % 8)
    np.testing.assert_array_equal(np.load(tmp_path / "all.npz")["x"],
                                  trainer.generate(20, seed=0).numpy())


# ----------------------------------------------------------------------------- bad input
def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("cls", ["8", "-1"])
def test_sample_refuses_a_class_out_of_range(tmp_path, capsys, cls):
    assert cli(train_args(tmp_path / "runs", *COND, steps=10)) == 0
    run = only_run(tmp_path / "runs")
    capsys.readouterr()
    assert cli(["sample", run, "--class", cls, "--out", tmp_path / "x.npz"]) == 2
    line = _one_error_line(capsys)
    assert f"--class {cls} is out of range" in line and "0..7" in line
    assert not (tmp_path / "x.npz").exists()


def test_sample_refuses_a_class_of_an_unconditional_run(tmp_path, capsys):
    assert cli(train_args(tmp_path / "runs", steps=10)) == 0
    run = only_run(tmp_path / "runs")
    capsys.readouterr()
    assert cli(["sample", run, "--class", "1", "--out", tmp_path / "x.npz"]) == 2
    assert "not class-conditional" in _one_error_line(capsys)


@pytest.mark.parametrize("extra, message", [
    (["generator.conditional='input'"], "set discriminator.conditional too"),
    (["discriminator.conditional='projection'"], "set generator.conditional too"),
    (COND + ["discriminator.conditional='acgan'"], "does not train"),
    (COND + ["objective.name='acgan'"], "set discriminator.conditional = 'acgan'"),
    (COND + ["objective.name='sinkhorn'"], "cannot be played class by class"),
    (["eval.metrics=['class_modes']"], "this run is unconditional"),
    (COND + ["data.name='spiral'", "eval.metrics=[]"], "data set 'spiral' has no class labels"),
])
def test_bad_conditioning_is_one_line_and_no_run_directory(tmp_path, capsys, extra, message):
    assert cli(train_args(tmp_path, *extra)) == 2
    assert message in _one_error_line(capsys)
    assert not any(p.is_dir() for p in tmp_path.iterdir())
