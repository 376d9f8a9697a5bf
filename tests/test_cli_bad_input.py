"""A corpus of mistakes a new user makes, driven through ``gankit.cli.main``.

For each: exit status 2, exactly one line on stderr, starting ``error:`` and naming the
file, key or value at fault; no traceback anywhere; and nothing half-written (no run
directory for a run that never started, no ``--out`` file for an evaluation that failed,
a resumed run's files untouched). Every input is written here, in tmp_path.
"""
import gzip
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_sets
from gankit.cli import main

TINY = ["train.steps=2", "train.log_every=1", "train.eval_every=0", "train.ckpt_every=0",
        "eval.n_samples=16", "data.batch_size=8"]


def sets(*assignments):
    return sum([["--set", a] for a in assignments], [])


def train_args(tmp_path, *assignments):
    return ["train"] + sets(f"out_dir='{tmp_path / 'runs'}'", "train.tensorboard=false",
                            *TINY, *assignments)


# ----------------------------------------------------------------------------- writers
def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return path


def npz(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def truncated(path: Path, keep: int) -> Path:
    path.write_bytes(path.read_bytes()[:keep])
    return path


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape) + array.tobytes()


def mnist(folder: Path, n: int = 10, **replace) -> Path:
    """The four idx files; ``replace`` maps a file name to other bytes."""
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        files = {f"{prefix}-images-idx3-ubyte": idx_bytes(
                     rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                 f"{prefix}-labels-idx1-ubyte": idx_bytes(np.arange(n, dtype=np.uint8) % 10)}
        for name, data in files.items():
            write(folder / name, replace.get(name, data))
    return folder


def cifar(folder: Path, bad: bytes) -> Path:
    """The six CIFAR-10 batches, data_batch_2 replaced by ``bad``."""
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
        write(folder / name, bad if name == "data_batch_2" else pickle.dumps(batch))
    return folder


def svhn(folder: Path, **train) -> Path:
    """The two SVHN .mat files; ``train`` overrides what train_32x32.mat holds."""
    from scipy.io import savemat

    folder.mkdir(parents=True, exist_ok=True)
    good = {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.array([[1], [2], [3], [10]])}
    savemat(folder / "train_32x32.mat", train or good)
    savemat(folder / "test_32x32.mat", good)
    return folder


def pngs(folder: Path, n: int = 3, size=(8, 8), mode: str = "RGB") -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new(mode, size, 0).save(folder / f"{i}.png")
    return folder


def broken_chunk(folder: Path) -> Path:
    """A PNG whose IHDR chunk type is overwritten: PIL raises SyntaxError on it."""
    raw = bytearray((pngs(folder) / "1.png").read_bytes())
    raw[12:16] = b"XXXX"
    write(folder / "1.png", bytes(raw))
    return folder


# ----------------------------------------------------------------------------- the corpus
def data(name, path_of):
    """A train case on data set ``name`` whose data.path is ``path_of(tmp_path)``; the
    error must name that path (the file, or a file in that folder)."""
    def build(t):
        path = path_of(t)
        return train_args(t, f"data.name='{name}'", f"data.path='{path}'",
                          "eval.metrics=[]"), str(path)

    return build


CONFIGS = {
    "toml-syntax": lambda t: (["train", write(t / "a.toml", "[train\nsteps = 3\n")]
                              + train_args(t)[1:], "a.toml"),
    "toml-not-utf8": lambda t: (["train", write(t / "b.toml", b"\xff\xfe\x00x")]
                                + train_args(t)[1:], "b.toml"),
    "config-missing": lambda t: (["train", t / "none.toml"] + train_args(t)[1:], "none.toml"),
    "unknown-key": lambda t: (["train", write(t / "c.toml", "[train]\nstepz = 3\n")]
                              + train_args(t)[1:], "train.stepz"),
    "wrong-type": lambda t: (["train", write(t / "d.toml", "[g_optim]\nlr = 'fast'\n")]
                             + train_args(t)[1:], "g_optim.lr"),
    "stabilizers-not-a-list": lambda t: (
        ["train", write(t / "e.toml", "[stabilizers]\nname = 'r1'\n")] + train_args(t)[1:],
        "stabilizers"),
    "out-of-range": lambda t: (train_args(t, "train.d_steps=0"), "train.d_steps"),
    "unknown-objective": lambda t: (train_args(t, "objective.name='minmax'"), "minmax"),
    "unknown-net-option": lambda t: (train_args(t, "generator.widht=3"), "generator.widht"),
    "set-without-value": lambda t: (train_args(t, "trainsteps"), "trainsteps"),
    "bad-device": lambda t: (train_args(t, "device='gpu7'"), "gpu7"),
    "threads-absurd": lambda t: (train_args(t, "train.threads=100000"), "train.threads"),
    "name-with-slash": lambda t: (train_args(t, "name='a/../../b'"), "a/../../b"),
    "out-dir-is-a-file": lambda t: (["train"] + sets(
        f"out_dir='{write(t / 'runs', 'x')}'", *TINY), "out_dir"),
    "unknown-command": lambda t: (["trian"], "trian"),
    "unknown-flag": lambda t: (["train", "--sett", "x"], "--sett"),
    "config-and-resume": lambda t: (["train", "x.toml", "--resume", str(t)], "--resume"),
}

DATA = {
    "npz-truncated": data("npz", lambda t: truncated(
        npz(t / "d.npz", x=np.zeros((20, 8, 8), np.uint8)), 100)),
    "npz-empty-file": data("npz", lambda t: write(t / "d.npz", b"")),
    "npz-is-npy": data("npz", lambda t: write(t / "d.npz", (lambda p: (
        np.save(p, np.zeros((4, 8, 8), np.uint8)), p.read_bytes())[1])(t / "a.npy"))),
    "npz-object-array": data("npz", lambda t: npz(t / "d.npz", x=np.array([None, 1]))),
    "npz-no-x": data("npz", lambda t: npz(t / "d.npz", images=np.zeros((4, 8, 8), np.uint8))),
    "npz-flat-x": data("npz", lambda t: npz(t / "d.npz", x=np.zeros((20, 64), np.uint8))),
    "npz-int64-x": data("npz", lambda t: npz(t / "d.npz", x=np.zeros((4, 8, 8), np.int64))),
    "npz-nan-x": data("npz", lambda t: npz(t / "d.npz", x=np.full((4, 8, 8), np.nan))),
    "npz-no-images": data("npz", lambda t: npz(t / "d.npz", x=np.zeros((0, 8, 8), np.uint8))),
    "npz-zero-width": data("npz", lambda t: npz(t / "d.npz", x=np.zeros((4, 8, 0), np.uint8))),
    "npz-five-channels": data("npz", lambda t: npz(t / "d.npz",
                                                   x=np.zeros((4, 5, 8, 8), np.uint8))),
    "npz-short-y": data("npz", lambda t: npz(t / "d.npz", x=np.zeros((4, 8, 8), np.uint8),
                                             y=np.zeros(3, int))),
    "npz-x-test-shape": data("npz", lambda t: npz(t / "d.npz", x=np.zeros((4, 8, 8), np.uint8),
                                                  x_test=np.zeros((2, 4, 4), np.uint8))),
    "npz-missing": data("npz", lambda t: t / "none.npz"),
    "idx-truncated": data("mnist", lambda t: mnist(t / "m", **{
        "train-images-idx3-ubyte": idx_bytes(np.zeros((10, 28, 28), np.uint8))[:50]})),
    "idx-bad-magic": data("mnist", lambda t: mnist(t / "m", **{
        "train-labels-idx1-ubyte": b"PK\x03\x04junk"})),
    "idx-gzip-truncated": data("mnist", lambda t: (lambda f: (
        write(f / "train-images-idx3-ubyte.gz", gzip.compress(
            idx_bytes(np.zeros((10, 28, 28), np.uint8)))[:40]),
        (f / "train-images-idx3-ubyte").unlink(), f)[2])(mnist(t / "m"))),
    "idx-count-mismatch": data("mnist", lambda t: mnist(t / "m", **{
        "train-labels-idx1-ubyte": idx_bytes(np.zeros(4, np.uint8))})),
    "idx-no-images": data("mnist", lambda t: mnist(t / "m", n=0)),
    "idx-float-pixels": data("mnist", lambda t: mnist(t / "m", **{
        "train-images-idx3-ubyte": idx_bytes(np.zeros((10, 28, 28), ">f4"), 0x0D)})),
    "idx-labels-out-of-range": data("mnist", lambda t: mnist(t / "m", **{
        "train-labels-idx1-ubyte": idx_bytes(np.full(10, 12, np.uint8))})),
    "cifar-truncated": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]})[:300])),
    "cifar-empty-file": data("cifar10", lambda t: cifar(t / "c", b"")),
    "cifar-other-global": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(shutil.rmtree))),
    "cifar-wrong-shape": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(
        {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))),
    "cifar-float-pixels": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(
        {b"data": np.zeros((2, 3072)), b"labels": [0, 1]}))),
    "cifar-string-labels": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": ["cat", "dog"]}))),
    "cifar-scalar-labels": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": 5}))),
    "cifar-no-images": data("cifar10", lambda t: cifar(t / "c", pickle.dumps(
        {b"data": np.zeros((0, 3072), np.uint8), b"labels": []}))),
    "svhn-truncated": data("svhn", lambda t: (lambda f: (
        truncated(f / "train_32x32.mat", 300), f)[1])(svhn(t / "s"))),
    "svhn-empty-file": data("svhn", lambda t: (lambda f: (
        write(f / "train_32x32.mat", b""), f)[1])(svhn(t / "s"))),
    "svhn-float-pixels": data("svhn", lambda t: svhn(t / "s", X=np.zeros((32, 32, 3, 2)),
                                                     y=np.array([[1], [2]]))),
    "svhn-three-dims": data("svhn", lambda t: svhn(t / "s", X=np.zeros((32, 32, 2), np.uint8),
                                                   y=np.array([[1], [2]]))),
    "svhn-string-labels": data("svhn", lambda t: svhn(t / "s", X=np.zeros((32, 32, 3, 2), np.uint8),
                                                      y=np.array([["a"], ["b"]]))),
    "svhn-no-X": data("svhn", lambda t: svhn(t / "s", A=np.zeros(3))),
    "folder-no-images": data("folder", lambda t: (t / "f").mkdir() or t / "f"),
    "folder-empty-png": data("folder", lambda t: (write(pngs(t / "f") / "1.png", b""),
                                                  t / "f")[1]),
    "folder-truncated-png": data("folder", lambda t: (truncated(pngs(t / "f") / "1.png", 40),
                                                      t / "f")[1]),
    "folder-broken-chunk": data("folder", lambda t: broken_chunk(t / "f")),
    "folder-mixed-sizes": data("folder", lambda t: (pngs(t / "f" / "a", 1, (9, 8)),
                                                    pngs(t / "f" / "b", 2, (8, 8)), t / "f")[2]),
    "folder-text-as-jpeg": data("folder", lambda t: (write(pngs(t / "f") / "x.jpg", "hello"),
                                                     t / "f")[1]),
    "folder-mixed-depths": data("folder", lambda t: (pngs(t / "f" / "cls"), pngs(t / "f"))[1]),
}


def eval_args(t, real, fake=None, *extra):
    fake = fake or npz(t / "ok.npz", x=np.random.default_rng(0).normal(size=(8, 4)))
    return ["eval", "--real", str(real), "--fake", str(fake), "--features", "identity",
            "--metrics", "fid", "--out", str(t / "out.json"), *extra]


EVAL = {
    "eval-missing-file": lambda t: (eval_args(t, t / "none.npz"), "none.npz"),
    "eval-truncated-npz": lambda t: (eval_args(t, truncated(npz(
        t / "r.npz", x=np.zeros((8, 4))), 60)), "r.npz"),
    "eval-npy-named-npz": lambda t: (eval_args(t, write(t / "r.npz", (lambda p: (
        np.save(p, np.zeros((8, 4))), p.read_bytes())[1])(t / "a.npy"))), "r.npz"),
    "eval-truncated-npy": lambda t: (eval_args(t, (lambda p: (
        np.save(p, np.zeros((8, 4))), truncated(p, 100))[1])(t / "r.npy")), "r.npy"),
    "eval-broken-png": lambda t: (eval_args(t, broken_chunk(t / "f"), pngs(t / "g")), "1.png"),
    "eval-empty-folder": lambda t: (eval_args(t, (t / "f").mkdir() or t / "f"), "f"),
    "eval-n-not-a-number": lambda t: (eval_args(t, t / "ok.npz", None, "--n", "ten"), "--n"),
    "eval-n-zero": lambda t: (eval_args(t, npz(t / "r.npz", x=np.zeros((8, 4))), None,
                                        "--n", "0"), "--n"),
    "eval-unknown-features": lambda t: (eval_args(t, t / "ok.npz")[:5] + ["--features", "vgg"],
                                        "vgg"),
    "eval-unknown-metric": lambda t: (eval_args(t, npz(t / "r.npz", x=np.zeros((8, 4))),
                                                None, "--metrics", "fdi"), "fdi"),
    "eval-stats-without-sigma": lambda t: (eval_args(t, npz(t / "s.npz", mu=np.zeros(4))),
                                           "sigma"),
}


@pytest.mark.parametrize("case", list(CONFIGS) + list(DATA) + list(EVAL))
def test_one_error_line_and_nothing_written(case, tmp_path, capsys):
    build = {**CONFIGS, **DATA, **EVAL}[case]
    args, named = build(tmp_path)
    before = _listing(tmp_path)
    code = main([str(a) for a in args])
    _assert_one_error_line(code, capsys, named)
    assert _listing(tmp_path) == before, "files written by a failed command"


# ----------------------------------------------------------------------------- checkpoints
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A two-step toy run with a checkpoint and a snapshot at each step."""
    out = tmp_path_factory.mktemp("run")
    args = ["train"] + sets(*tiny_sets(out, steps=2), "train.ckpt_every=1",
                            "train.eval_every=1")
    assert main(args) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def _corrupt_all(run: Path, how) -> None:
    files = sorted((run / "checkpoints").glob("ckpt-*.safetensors"))
    assert len(files) >= 2
    for path in files:
        how(path)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


CHECKPOINTS = {
    "all-truncated": (lambda p: truncated(p, 50), "ckpt-000000002"),
    "all-bit-flipped": (_flip_last_byte, "checksum"),
    "all-pickles": (lambda p: p.write_bytes(pickle.dumps({"step": 1})), "ckpt-000000002"),
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
@pytest.mark.parametrize("command", ["resume", "eval"])
def test_corrupt_checkpoints(case, command, finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    how, named = CHECKPOINTS[case]
    _corrupt_all(run, how)
    before = _listing(run, contents=True)
    args = (["train", "--resume", str(run), "--set", "train.steps=4"] if command == "resume"
            else eval_args(tmp_path, run, None, "--n", "8"))
    code = main(args)
    _assert_one_error_line(code, capsys, named)
    assert _listing(run, contents=True) == before, "a failed resume changed the run"
    assert not (tmp_path / "out.json").exists()


RUN_FILES = {
    "metrics-row-cut": ("metrics.jsonl", lambda p: p.write_text(p.read_text() + '{"step": 3, "k'),
                        "metrics.jsonl, line"),
    "metrics-row-a-list": ("metrics.jsonl", lambda p: p.write_text("[1, 2]\n"), "line 1"),
    "metrics-not-utf8": ("metrics.jsonl", lambda p: p.write_bytes(b"\xff\xfe\n"), "line 1"),
    "snapshot-empty": ("snapshots/step-000000000.npy", lambda p: p.write_bytes(b""),
                       "step-000000000.npy"),
    "snapshot-truncated": ("snapshots/step-000000000.npy", lambda p: truncated(p, 20),
                           "step-000000000.npy"),
    "config-wrong-type": ("config.toml", lambda p: p.write_text("seed = 'x'\n"), "seed"),
    "config-syntax": ("config.toml", lambda p: p.write_text("[[[["), "config.toml"),
    "config-missing": ("config.toml", lambda p: p.unlink(), "not a gankit run"),
}


@pytest.mark.parametrize("case", list(RUN_FILES))
def test_damaged_run_files(case, finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    name, damage, named = RUN_FILES[case]
    damage(run / name)
    _assert_one_error_line(main(["report", str(run)]), capsys, named)


# ----------------------------------------------------------------------------- helpers
def _assert_one_error_line(code, capsys, named) -> None:
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    if named:
        assert str(named) in lines[0], (named, lines[0])


def _listing(root: Path, contents: bool = False):
    files = sorted(p for p in root.rglob("*"))
    if not contents:
        return [str(p) for p in files]
    return [(str(p), p.read_bytes() if p.is_file() else None) for p in files]


def test_resuming_a_run_whose_config_was_edited(tmp_path, capsys):
    from gankit.cli import main

    sets = [f"out_dir='{tmp_path}'", "train.steps=4", "train.ckpt_every=2",
            "train.tensorboard=false", "train.eval_every=0"]
    assert main(["train"] + [a for s in sets for a in ("--set", s)]) == 0
    (run,) = tmp_path.iterdir()
    config = run / "config.toml"
    config.write_text(config.read_text().replace("width = 128", "width = 64", 1))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--set", "train.steps=6"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit the run's config.toml" in err[0]
    assert "Traceback" not in err[0]
