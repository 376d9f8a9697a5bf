"""Training on images: sample grids, the generator EMA, exact resume, every objective."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.checkpoint import CheckpointManager
from gankit.cli import main
from gankit.components import load_config
from gankit.ema import GeneratorEMA
from gankit.grids import tile
from gankit.registry import OBJECTIVES
from gankit.train import Trainer


def image_sets(tmp_path, steps=20, **extra):
    sets = [f"out_dir='{tmp_path}'", f"train.steps={steps}", "train.log_every=5",
            "train.eval_every=10", "train.ckpt_every=10", "train.tensorboard=false",
            "eval.n_samples=32", "data.batch_size=16", "data.name='digits'",
            "generator.net='dcgan'", "discriminator.net='dcgan'", "generator.width=8",
            "discriminator.width=8", "generator.z_dim=8"]
    return sets + [f"{k}={v}" for k, v in extra.items()]


def train(args):
    return main(["train"] + [str(a) for a in args])


def as_args(sets):
    return sum([["--set", s] for s in sets], [])


def only_run(folder):
    (run,) = [p for p in folder.iterdir() if p.is_dir()]
    return run


def test_tile_places_images_in_rows_with_grey_padding():
    images = torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 1.0, 0.0)])
    pixels = tile(images, nrow=2)
    assert pixels.shape == (7, 7) and pixels.dtype == np.uint8
    assert pixels[1, 1] == 0 and pixels[1, 4] == 255 and pixels[4, 1] == 128
    assert pixels[0, 0] == 128  # padding
    with pytest.raises(ValueError, match=r"shape \(N, 1 or 3, H, W\)"):
        tile(torch.zeros(3, 2))


def test_ema_is_the_exponential_average_and_off_means_g_itself():
    G = torch.nn.Linear(2, 1)
    ema = GeneratorEMA(G, 0.5)
    old = G.weight.detach().clone()
    with torch.no_grad():
        G.weight.add_(1.0)
    ema.update()  # warm-up: decay min(0.5, 1/10) = 0.1
    assert torch.allclose(ema.sampler.weight, 0.1 * old + 0.9 * G.weight)
    ema.updates = 100
    before = ema.sampler.weight.detach().clone()
    ema.update()  # past the warm-up: decay beta = 0.5
    assert torch.allclose(ema.sampler.weight, 0.5 * before + 0.5 * G.weight)
    assert GeneratorEMA(G, 0.0).sampler is G and GeneratorEMA(G, 0.0).state_dict() == {}


def no_plots(monkeypatch):
    """Skip the report's matplotlib figures (seconds each; drawn once per test file)."""
    monkeypatch.setattr("gankit.report.make_report", lambda *args, **kw: [])


def test_grids_written_from_a_fixed_z_and_resume_with_ema_is_exact(tmp_path, monkeypatch):
    no_plots(monkeypatch)
    sets = image_sets(tmp_path / "full", steps=20, **{"train.g_ema": 0.9})
    assert train(as_args(sets)) == 0
    full_run = only_run(tmp_path / "full")
    _, full = CheckpointManager(full_run).load_latest()

    sets = image_sets(tmp_path / "half", steps=10, **{"train.g_ema": 0.9})
    assert train(as_args(sets)) == 0
    run = only_run(tmp_path / "half")
    monkeypatch.undo()  # the resumed run draws the report, with its image grid figure
    assert train(["--resume", run, "--set", "train.steps=20"]) == 0
    _, resumed = CheckpointManager(run).load_latest()

    assert resumed["step"] == full["step"] == 20 and full["G_ema"]
    for part, a, b in (("G", full["G"], resumed["G"]), ("D", full["D"], resumed["D"]),
                       ("G_ema", full["G_ema"]["net"], resumed["G_ema"]["net"])):
        for key, value in a.items():
            assert torch.equal(b[key], value), (part, key)
    assert full["G_ema"]["updates"] == 20
    assert not torch.equal(full["G_ema"]["net"]["project.weight"], full["G"]["project.weight"])

    grids = sorted(p.name for p in (run / "samples").iterdir())
    assert grids == [f"step-{s:09d}.png" for s in (0, 10, 20)]
    for name in grids:  # same z, same weights -> identical pictures
        assert np.array_equal(np.asarray(Image.open(run / "samples" / name)),
                              np.asarray(Image.open(full_run / "samples" / name)))
    first, last = (np.asarray(Image.open(run / "samples" / g)) for g in (grids[0], grids[-1]))
    assert first.shape[0] >= 256 and not np.array_equal(first, last)
    evolution = Image.open(run / "plots" / "samples_evolution.png")
    assert evolution.width == 3 * first.shape[1] + 2 * 8  # the three grids side by side
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["kind"] == "eval"] == [0, 10, 20]


def test_toy_runs_keep_scatter_snapshots_and_write_no_grids(tmp_path, monkeypatch):
    no_plots(monkeypatch)
    sets = [f"out_dir='{tmp_path}'", "train.steps=4", "train.eval_every=2",
            "train.tensorboard=false", "eval.n_samples=50", "data.batch_size=16"]
    assert train(as_args(sets)) == 0
    run = only_run(tmp_path)
    assert len(list((run / "snapshots").glob("*.npy"))) == 3 and not (run / "samples").exists()


def test_every_objective_runs_on_the_image_nets_or_says_why_not(tmp_path):
    trained, refused = [], {}
    for name in OBJECTIVES.names():
        extra = {"objective.name": f"'{name}'"}
        if name == "semisup":
            extra["discriminator.n_out"] = 10
        cfg = load_config(sets=image_sets(tmp_path, **extra))
        try:
            t = Trainer(cfg)
        except ValueError as exc:
            refused[name] = str(exc)
            continue
        for _ in range(2):
            logs = t.train_step()
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in logs.values()), name
        assert t.generate(4).shape == (4, 1, 8, 8)
        trained.append(name)
    assert {"minimax", "nonsaturating", "semisup"} <= set(trained), refused
    for name in ("wgan", "wgan_gp", "feature_matching") :
        assert name in trained or name not in OBJECTIVES.names(), refused.get(name)
    assert all(" set " in msg or "use " in msg for msg in refused.values()), refused


def test_every_stabilizer_runs_on_the_image_nets_or_says_why_not(tmp_path):
    from gankit.registry import STABILIZERS

    trained, refused = [], {}
    for name in STABILIZERS.names():
        cfg = load_config(sets=image_sets(tmp_path) + [f"stabilizers=[{{name='{name}'}}]"])
        try:
            t = Trainer(cfg)
        except ValueError as exc:
            refused[name] = str(exc)
            continue
        logs = [t.train_step() for _ in range(2)][-1]
        assert all(torch.isfinite(torch.as_tensor(v)).all() for v in logs.values()), name
        trained.append(name)
    for name in ("historical_averaging", "instance_noise", "label_smoothing"):
        assert name in trained or name not in STABILIZERS.names(), refused.get(name)
    if "vbn" in STABILIZERS.names():  # refused above (no VBN net); on with generator.vbn
        t = Trainer(load_config(sets=image_sets(tmp_path, **{"generator.vbn": "true"})
                                + ["stabilizers=[{name='vbn'}]"]))
        assert bool(t.G.vbn_ready) and torch.isfinite(t.train_step()["g_loss"])
    assert all(" set " in msg or "use " in msg for msg in refused.values()), refused


@pytest.mark.parametrize("preset,eval_key", [("dcgan_digits", None),
                                             ("semisup_digits", "test_accuracy")])
def test_image_presets_train_from_the_cli(tmp_path, monkeypatch, preset, eval_key):
    no_plots(monkeypatch)
    sets = [f"out_dir='{tmp_path}'", "train.steps=3", "train.eval_every=0",
            "train.tensorboard=false", "eval.n_samples=8"]
    assert train([f"configs/{preset}.toml"] + as_args(sets)) == 0
    run = only_run(tmp_path)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 3]
    if eval_key:
        assert all(0 <= r[eval_key] <= 100 for r in evals)
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-000000000.png", "step-000000003.png"]
