"""gankit sample: samples from a run's checkpoint alone."""
import numpy as np
import pytest
import torch
from scipy import stats

from gankit.cli import main
from gankit.nets.sampling import truncated_normal
from gankit.train import Trainer


def _train(tmp_path, *extra):
    sets = [f"out_dir='{tmp_path / 'runs'}'", "train.steps=30", "train.eval_every=0",
            "train.ckpt_every=10", "train.tensorboard=false", "train.g_ema=0.9",
            "generator.width=32", "discriminator.width=32", *extra]
    assert main(["train"] + [a for s in sets for a in ("--set", s)]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    return run


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("ring"))


def test_samples_equal_the_trainers_own_for_the_same_z(tmp_path, ring_run, capsys):
    run = ring_run
    trainer = Trainer.from_run_dir(run)
    assert main(["sample", str(run), "--n", "300", "--seed", "7",
                 "--out", str(tmp_path / "ema.npz")]) == 0
    assert "of step 30 (EMA weights; seed 7)" in capsys.readouterr().out
    ema = np.load(tmp_path / "ema.npz")["x"]
    np.testing.assert_array_equal(ema, trainer.generate(300, seed=7).numpy())
    assert main(["sample", str(run), "--n", "300", "--seed", "7", "--raw",
                 "--out", str(tmp_path / "raw.npz")]) == 0
    assert "(trained weights; seed 7)" in capsys.readouterr().out
    raw = np.load(tmp_path / "raw.npz")["x"]
    with torch.no_grad():
        z = torch.randn(300, trainer.G.z_dim, generator=torch.Generator().manual_seed(7))
        np.testing.assert_array_equal(raw, trainer.G.eval()(z).numpy())
    assert np.abs(raw - ema).max() > 1e-4  # the EMA is another net
    assert main(["sample", str(run), "--n", "5", "--step", "20",
                 "--out", str(tmp_path / "s20.npz")]) == 0
    assert np.abs(np.load(tmp_path / "s20.npz")["x"] - ema[:5]).max() > 0


def test_truncated_normal_resamples_within_psi():
    z = truncated_normal(20000, 4, 0.5, torch.Generator().manual_seed(0))
    assert z.abs().max() <= 0.5
    ref = stats.truncnorm(-0.5, 0.5)
    assert z.std().item() == pytest.approx(ref.std(), rel=0.02)
    # resampling keeps the normal's shape inside: more mass near 0 than a uniform
    assert (z.abs() < 0.25).double().mean().item() == pytest.approx(
        ref.cdf(0.25) - ref.cdf(-0.25), abs=0.01)


def test_truncated_samples_lie_within_psi_through_the_generator(tmp_path, ring_run):
    run = ring_run
    trainer = Trainer.from_run_dir(run)
    assert main(["sample", str(run), "--n", "200", "--truncation", "0.1",
                 "--out", str(tmp_path / "t.npz")]) == 0
    x = torch.from_numpy(np.load(tmp_path / "t.npz")["x"])
    with torch.no_grad():
        z = truncated_normal(200, trainer.G.z_dim, 0.1, torch.Generator().manual_seed(0))
        np.testing.assert_array_equal(x.numpy(), trainer.g_ema.sampler.eval()(z).numpy())


def test_image_runs_write_a_folder_of_pngs(tmp_path, capsys):
    from PIL import Image

    run = _train(tmp_path, "data.name='digits'", "generator.net='dcgan'",
                 "discriminator.net='dcgan'", "data.batch_size=16", "eval.metrics=[]",
                 "train.g_ema=0")
    out = tmp_path / "pngs"
    assert main(["sample", str(run), "--n", "12", "--out", str(out)]) == 0
    assert "(trained weights: the run kept no EMA; seed 0)" in capsys.readouterr().out
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"{i:02d}.png" for i in range(12)]
    assert np.asarray(Image.open(files[0])).dtype == np.uint8


@pytest.mark.parametrize("argv, message", [
    (["--n", "0"], "--n must be >= 1"),
    (["--step", "7"], "no checkpoint of step 7; it has steps 10, 20, 30"),
    (["--out", "{tmp}/folder"], "not images; write them to an .npz"),
    (["--out", "{tmp}"], "exists; give a new folder"),
    (["--truncation", "-1"], "truncation psi must be positive"),
])
def test_bad_sample_requests(tmp_path, capsys, argv, message, ring_run):
    run = ring_run
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "x.npz")]
    assert main(["sample", str(run), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "folder").exists()
    assert not list(tmp_path.glob(".*tmp*"))


def test_a_run_without_checkpoints(tmp_path, capsys):
    run = _train(tmp_path)
    for f in (run / "checkpoints").iterdir():
        f.unlink()
    assert main(["sample", str(run), "--out", str(tmp_path / "x.npz")]) == 2
    assert "has no checkpoint to sample from" in capsys.readouterr().err
