"""Image data readers, each tested on small files written here in the published format."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.data.formats import load_array_pickle
from gankit.data.images import DataFileError


def make(name, seed=0, **options):
    return build_dataset(DataConfig(name=name, options=options), seed)


# ----------------------------------------------------------------------------- writers
def write_idx(path, array, gz=False):
    array = np.asarray(array, dtype=np.uint8)
    head = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = head + array.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def write_mnist(folder, n=20, gz=False, labels=None):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 10 if labels is None else np.asarray(labels)
    for prefix, count in (("train", n), ("t10k", n // 2)):
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}",
                  rng.integers(0, 256, (count, 28, 28)), gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y[:count], gz)


def py2_cifar_batch(data, labels):
    """A protocol-2 pickle as Python 2's cPickle wrote the CIFAR-10 batches: str keys and
    raw bytes as SHORT_BINSTRING/BINSTRING, arrays via numpy.core.multiarray._reconstruct."""
    def s(b):
        return b"U" + bytes([len(b)]) + b
    n = len(data)
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
             b"K\x00\x85" + s(b"b") + b"\x87R"
             b"(K\x01M" + struct.pack("<H", n) + b"M\x00\x0c\x86"
             b"cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R"
             b"(K\x03" + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
             b"\x89T" + struct.pack("<I", data.size) + data.tobytes() + b"tb")
    labels_op = b"](" + b"".join(b"K" + bytes([int(v)]) for v in labels) + b"e"
    return (b"\x80\x02}(" + s(b"batch_label") + s(b"training batch 1 of 5")
            + s(b"labels") + labels_op + s(b"data") + array + b"u.")  # u = SETITEMS


def write_cifar(folder, n=6):
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        (folder / name).write_bytes(py2_cifar_batch(data, np.arange(n) % 10))


# ----------------------------------------------------------------------------- digits
@pytest.mark.parametrize("size", [8, 16])
def test_digits_shape_range_labels_and_fixed_split(size):
    d = make("digits", size=size)
    x = d.sample(64)
    assert d.shape == (1, size, size) and x.shape == (64, 1, size, size)
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.99 and x.max() > 0.9
    assert len(d) == 1297 and d.num_classes == 10
    assert torch.equal(torch.bincount(d.labels).gt(100), torch.ones(10, dtype=torch.bool))
    xt, yt = d.test_set()
    assert xt.shape == (500, 1, size, size) and yt.shape == (500,)
    other = make("digits", seed=5, size=size)
    assert torch.equal(other.test_set()[1], yt)  # the split does not depend on the seed


def test_data_order_is_seeded_and_resumes_exactly():
    a, b = make("digits", seed=3), make("digits", seed=3)
    for _ in range(30):  # crosses an epoch boundary (1297 / 64 batches per epoch)
        a.sample(64)
    state = a.state_dict()
    expected = a.sample(64)
    b.load_state_dict(state)
    assert torch.equal(b.sample(64), expected)
    assert not torch.equal(make("digits", seed=4).sample(64), make("digits", seed=3).sample(64))


def test_one_epoch_visits_every_training_image_once():
    d = make("digits", test_size=1297)  # 500 training images
    seen = torch.cat([d._next_indices(100) for _ in range(5)])
    assert torch.equal(seen.sort().values, torch.arange(500))


# ----------------------------------------------------------------------------- MNIST
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_idx_files(tmp_path, gz, name):
    write_mnist(tmp_path, gz=gz)
    d = make(name, path=str(tmp_path))
    x = d.sample(8)
    assert d.shape == (1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(d.labels, torch.arange(20) % 10)
    raw = np.frombuffer((gzip.open if gz else open)(
        tmp_path / f"train-images-idx3-ubyte{'.gz' if gz else ''}", "rb").read()[16:], np.uint8)
    assert torch.allclose(d.examples(torch.tensor([0]))[0, 0].flatten(),
                          torch.from_numpy(raw[:784].astype(np.float32)) / 127.5 - 1)
    assert d.test_set()[0].shape == (10, 1, 28, 28)
    assert make(name, path=str(tmp_path), size=32).sample(2).shape == (2, 1, 32, 32)


def test_mnist_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(DataFileError, match="data.path is empty"):
        make("mnist")
    write_mnist(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte is missing.*layout"):
        make("mnist", path=str(tmp_path))
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte: truncated"):
        make("mnist", path=str(tmp_path))
    path.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(DataFileError, match=r"not an idx file.*expected idx format"):
        make("mnist", path=str(tmp_path))


def test_mnist_labels_out_of_range(tmp_path):
    write_mnist(tmp_path, labels=[3] * 19 + [12])
    with pytest.raises(ValueError, match=r"label 12 is out of range; labels must be "
                                         r"integers 0..9"):
        make("mnist", path=str(tmp_path))


# ----------------------------------------------------------------------------- CIFAR-10
def test_cifar10_python2_batches(tmp_path):
    write_cifar(tmp_path)
    d = make("cifar10", path=str(tmp_path))
    assert d.shape == (3, 32, 32) and len(d) == 30 and d.num_classes == 10
    raw = pickle.loads(py2_cifar_batch(np.zeros((1, 3072), np.uint8), [0]), encoding="bytes")
    assert raw[b"data"].shape == (1, 3072)  # the fixture is a genuine pickle
    first = np.frombuffer((tmp_path / "data_batch_1").read_bytes()[-(6 * 3072 + 4):-4],
                          np.uint8)[:3072]
    expect = torch.from_numpy(first.astype(np.float32)).view(3, 32, 32) / 127.5 - 1
    assert torch.allclose(d.examples(torch.tensor([0]))[0], expect)
    assert make("cifar10", path=str(tmp_path), grayscale=True).shape == (1, 32, 32)


def test_cifar10_modern_pickle_and_subfolder(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.full((2, 3072), 255, np.uint8), b"labels": [1, 9]}
        (sub / name).write_bytes(pickle.dumps(batch, protocol=4))
    d = make("cifar10", path=str(tmp_path))
    assert len(d) == 10 and float(d.sample(3).min()) == 1.0


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_cifar10_pickle_with_other_globals_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_cifar(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataFileError, match=r"data_batch_3: not a CIFAR-10 python batch.*"
                                            r"refusing to load global"):
        make("cifar10", path=str(tmp_path))
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "x").write_bytes(pickle.dumps(torch.nn.Linear))
    with pytest.raises(DataFileError, match="refusing"):
        load_array_pickle(tmp_path / "x")


# ----------------------------------------------------------------------------- SVHN
def test_svhn_mat_files(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    for name, n in (("train_32x32.mat", 12), ("test_32x32.mat", 4)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        savemat(tmp_path / name, {"X": x, "y": (np.arange(n) % 10 + 1)[:, None]})
    d = make("svhn", path=str(tmp_path))
    assert d.shape == (3, 32, 32) and len(d) == 12
    assert d.labels.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]  # class 10 is digit 0
    xt, yt = d.test_set()
    assert xt.shape == (4, 3, 32, 32) and -1 <= float(xt.min()) and float(xt.max()) <= 1
    (tmp_path / "test_32x32.mat").write_bytes(b"not a mat file")
    with pytest.raises(DataFileError, match=r"test_32x32.mat: not a readable .mat"):
        make("svhn", path=str(tmp_path))


# ----------------------------------------------------------------------------- folder
def save_png(path, size, colour):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def test_image_folder_with_class_subfolders(tmp_path):
    for k, cls in enumerate(["cat", "dog"]):
        for i in range(3):
            save_png(tmp_path / cls / f"{i}.png", (16, 16), (255 * k, 0, 0))
    d = make("folder", path=str(tmp_path))
    assert d.shape == (3, 16, 16) and d.num_classes == 2
    assert d.labels.tolist() == [0, 0, 0, 1, 1, 1]
    x = d.examples(torch.tensor([0, 5]))
    assert float(x[0, 0].mean()) == -1.0 and float(x[1, 0].mean()) == 1.0
    assert make("folder", path=str(tmp_path), grayscale=True, size=8).shape == (1, 8, 8)


def test_image_folder_mixed_sizes_refused_unless_resized(tmp_path):
    save_png(tmp_path / "a.png", (16, 16), (0, 0, 0))
    save_png(tmp_path / "b.jpg", (24, 20), (9, 9, 9))
    with pytest.raises(DataFileError, match=r"different sizes.*a.png is 16x16 but .*b.jpg "
                                            r"is 24x20.*set data.size"):
        make("folder", path=str(tmp_path))
    d = make("folder", path=str(tmp_path), size=16)
    assert d.shape == (3, 16, 16) and d.labels is None
    with pytest.raises(ValueError, match="has no labels"):
        d.labelled_subset(1)


# ----------------------------------------------------------------------------- npz
def test_npz_uint8_and_float_with_test_split(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.full((5, 8, 8), 255, np.uint8), y=np.array([0, 1, 2, 0, 1]),
             x_test=np.zeros((2, 1, 8, 8), np.float32), y_test=np.array([2, 2]))
    d = make("npz", path=str(path))
    assert d.shape == (1, 8, 8) and d.num_classes == 3 and float(d.sample(2).min()) == 1.0
    assert d.test_set()[1].tolist() == [2, 2]
    np.savez(path, x=np.full((2, 3, 4, 4), 2.0, np.float32))
    with pytest.raises(DataFileError, match=r"outside \[-1, 1\]"):
        make("npz", path=str(path))


def test_npz_labels_out_of_range(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"label -1 is out of range"):
        make("npz", path=str(path))
    np.savez(path, x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, 5, 1]))
    with pytest.raises(ValueError, match=r"label 5 is out of range; labels must be "
                                         r"integers 0..2"):
        make("npz", path=str(path), num_classes=3)


# ----------------------------------------------------------------------------- labels
def test_labelled_subset_is_fixed_by_the_seed_and_balanced():
    d = make("digits", seed=11)
    subset = d.labelled_subset(10)
    assert torch.equal(torch.bincount(d.labels[subset]), torch.full((10,), 10))
    assert torch.equal(make("digits", seed=11).labelled_subset(10), subset)
    assert not torch.equal(make("digits", seed=12).labelled_subset(10), subset)
    x, y = d.sample_labelled(32, subset)
    assert x.shape == (32, 1, 8, 8) and set(y.tolist()) <= set(range(10))


def test_label_count_larger_than_a_class():
    d = make("digits")
    with pytest.raises(ValueError, match=r"labels_per_class = 500 but class \d has only "
                                         r"\d+ training examples; lower it to at most \d+"):
        d.labelled_subset(500)


def test_toy_data_has_no_labels_but_still_samples():
    ring = make("ring")
    assert ring.labels is None and ring.test_set() is None and ring.sample(4).shape == (4, 2)
    with pytest.raises(ValueError, match="ring has no labels|Ring has no labels"):
        ring.labelled_subset(1)


def test_npz_test_labels_out_of_range_are_refused_when_loading(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 4, 4), np.uint8), y=np.array([0, 1, 1]),
             x_test=np.zeros((1, 4, 4), np.uint8), y_test=np.array([2]))
    with pytest.raises(ValueError, match=r"test labels: label 2 is out of range; labels "
                                         r"must be integers 0..1"):
        make("npz", path=str(path), num_classes=2)


def test_image_folder_reads_16_bit_pngs_rounded_and_grey_beside_colour(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((4, 4), 32768, np.uint16)).save(tmp_path / "a.png")  # I;16
    assert Image.open(tmp_path / "a.png").mode.startswith("I;16")
    d = make("folder", path=str(tmp_path))
    assert d.shape == (1, 4, 4)  # 32768 / 65535 of white is 128 / 255, not clipped to 255
    assert torch.allclose(d.examples(torch.tensor([0])), torch.tensor(128 / 127.5 - 1), atol=1e-6)
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "b.png")
    d = make("folder", path=str(tmp_path))
    x = d.examples(torch.tensor([0, 1]))
    assert d.shape == (3, 4, 4) and torch.equal(x[0, 0], x[0, 1]) and torch.equal(x[0, 1], x[0, 2])
    assert x[1, :, 0, 0].tolist() == [1.0, -1.0, -1.0]


def test_image_folder_and_npz_errors_name_the_file(tmp_path):
    save_png(tmp_path / "f" / "a.png", (4, 4), (0, 0, 0))
    raw = bytearray((tmp_path / "f" / "a.png").read_bytes())
    raw[12:16] = b"XXXX"  # the IHDR chunk type: PIL raises SyntaxError
    (tmp_path / "f" / "a.png").write_bytes(bytes(raw))
    with pytest.raises(DataFileError, match=r"unreadable image file .*a.png"):
        make("folder", path=str(tmp_path / "f"))
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((20, 8, 8), np.uint8))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataFileError, match=r"cannot read .*d.npz"):
        make("npz", path=str(path))
    np.savez(path, x=np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(DataFileError, match=r"d.npz\['x'\]: shape \(0, 1, 8, 8\)"):
        make("npz", path=str(path))


def test_npy_of_images(tmp_path):
    np.save(tmp_path / "x.npy", np.full((3, 2, 2), 255, np.uint8))
    d = make("npz", path=str(tmp_path / "x.npy"))
    assert d.shape == (1, 2, 2) and len(d) == 3 and d.labels is None
