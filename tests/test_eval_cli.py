import argparse
import json

import numpy as np
import pytest

from gankit.evaluate import add_eval_parser
from gankit.metrics.features import FeatureStats


def _run(*argv):
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["eval", *argv])
    return args.func(args)


def _npz(path, x):
    np.savez(path, x=x)
    return str(path)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def test_identity_metrics_written_as_json(tmp_path, capsys):
    rng = np.random.default_rng(0)
    real = _npz(tmp_path / "r.npz", rng.normal(size=(300, 2)))
    fake = _npz(tmp_path / "f.npz", rng.normal(size=(300, 2)) + 2)
    out = tmp_path / "res.json"
    assert _run("--real", real, "--fake", fake, "--features", "identity",
                "--metrics", "fid,kid,mmd,sinkhorn", "--out", str(out)) == 0
    res = json.loads(out.read_text())["metrics"]
    assert res["fid"] == pytest.approx(8.0, rel=0.25)  # |mean shift|^2 = 8
    assert res["kid"] > 0 and res["mmd2"] > 0 and res["sinkhorn"] > 0
    assert "fid" in capsys.readouterr().out


def test_same_distribution_scores_lower(tmp_path):
    rng = np.random.default_rng(1)
    real = _npz(tmp_path / "r.npz", rng.normal(size=(300, 3)))
    near = _npz(tmp_path / "n.npz", rng.normal(size=(300, 3)))
    far = _npz(tmp_path / "f.npz", rng.normal(size=(300, 3)) * 2)
    scores = []
    for fake in (near, far):
        out = tmp_path / "o.json"
        _run("--real", real, "--fake", fake, "--features", "identity", "--metrics", "fid,mmd",
             "--out", str(out))
        scores.append(json.loads(out.read_text())["metrics"])
    assert scores[0]["fid"] < 0.2 < scores[1]["fid"] and scores[0]["mmd2"] < scores[1]["mmd2"]


def test_digits_features_offline(tmp_path):
    from sklearn.datasets import load_digits

    from gankit.metrics.digits import load_digits_classifier

    clf = load_digits_classifier()
    assert clf.test_accuracy >= 0.96
    imgs = load_digits().images.astype(np.float32) / 8 - 1
    real = _npz(tmp_path / "r.npz", imgs[:400])
    good = _npz(tmp_path / "g.npz", imgs[400:800])
    noise = _npz(tmp_path / "z.npz", np.random.default_rng(0).uniform(-1, 1, (400, 8, 8)).astype(np.float32))
    res = []
    for fake in (good, noise):
        out = tmp_path / "o.json"
        assert _run("--real", real, "--fake", fake, "--features", "digits",
                    "--metrics", "fid,is,kid", "--out", str(out)) == 0
        res.append(json.loads(out.read_text())["metrics"])
    assert res[0]["fid"] < res[1]["fid"] and res[0]["kid"] < res[1]["kid"]
    assert res[0]["is"] > 5 and res[0]["is"] > res[1]["is"]


def test_image_folder_is_read(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name in ("real", "fake"):
        (tmp_path / name).mkdir()
        for i in range(6):
            arr = (rng.uniform(size=(8, 8)) * 255).astype(np.uint8)
            Image.fromarray(arr).save(tmp_path / name / f"{i}.png")
    out = tmp_path / "o.json"
    assert _run("--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                "--features", "identity", "--metrics", "fid,mmd", "--out", str(out)) == 0
    from_folders = json.loads(out.read_text())["metrics"]
    rng = np.random.default_rng(0)  # the same pixels as arrays
    arrays = [np.stack([(rng.uniform(size=(8, 8)) * 255).astype(np.uint8) for _ in range(6)])
              for _ in range(2)]
    assert _run("--real", _npz(tmp_path / "r.npz", arrays[0]), "--fake",
                _npz(tmp_path / "f.npz", arrays[1]), "--features", "identity", "--metrics",
                "fid,mmd", "--out", str(out)) == 0
    assert json.loads(out.read_text())["metrics"] == from_folders


def _expect(tmp_path, real, fake, msg, *extra):
    with pytest.raises(ValueError, match=msg):
        _run("--real", real, *(["--fake", fake] if fake is not None else []), *extra)


def test_error_messages(tmp_path):
    ok = _npz(tmp_path / "ok.npz", np.random.default_rng(0).normal(size=(20, 4)))
    ident = ("--features", "identity", "--metrics", "fid")
    nan = np.ones((20, 4))
    nan[3, 1] = np.nan
    _expect(tmp_path, ok, _npz(tmp_path / "nan.npz", nan), "NaN or inf", *ident)
    _expect(tmp_path, ok, _npz(tmp_path / "one.npz", np.ones((1, 4))), "at least 2", *ident)
    _expect(tmp_path, ok, _npz(tmp_path / "d5.npz", np.ones((20, 5))), "mismatched", *ident)
    _expect(tmp_path, ok, ok, "needs classifier logits", "--features", "identity", "--metrics", "is")
    _expect(tmp_path, ok, ok, "unknown metric", "--features", "identity", "--metrics", "fid,bogus")
    _expect(tmp_path, ok, str(tmp_path / "nope.npz"), "no such file", *ident)
    (tmp_path / "empty").mkdir()
    _expect(tmp_path, ok, str(tmp_path / "empty"), "empty folder", *ident)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "0.png").write_bytes(b"\x89PNG garbage")
    _expect(tmp_path, ok, str(tmp_path / "bad"), "unreadable image", *ident)


def test_image_errors_with_a_classifier(tmp_path):
    digits = ("--features", "digits", "--metrics", "fid")
    ok = _npz(tmp_path / "ok.npz", np.zeros((20, 8, 8), np.float32))
    _expect(tmp_path, ok, _npz(tmp_path / "i.npz", np.zeros((20, 8, 8), np.int64)), "wrong dtype", *digits)
    _expect(tmp_path, ok, _npz(tmp_path / "r.npz", np.full((20, 8, 8), 3.0)), "values span", *digits)
    _expect(tmp_path, ok, _npz(tmp_path / "s.npz", np.zeros((20, 5), np.float32)), "wrong image shape", *digits)


def test_cli_main_returns_2_on_bad_input(tmp_path, capsys):
    cli = pytest.importorskip("gankit.cli")
    ok = _npz(tmp_path / "ok.npz", np.zeros((20, 3)))
    code = cli.main(["eval", "--real", ok, "--fake", _npz(tmp_path / "one.npz", np.ones((1, 3))),
                     "--features", "identity"])
    assert code == 2 and "at least 2 samples" in capsys.readouterr().err


def test_saved_stats_give_the_fid_of_the_samples(tmp_path, capsys):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    real = _npz(tmp_path / "r.npz", x)
    fake = _npz(tmp_path / "f.npz", rng.normal(size=(300, 5)) + 0.5)
    stats = tmp_path / "real_stats.npz"
    assert _run("--real", real, "--features", "identity", "--save-stats", str(stats)) == 0
    assert "400 samples" in capsys.readouterr().out
    with np.load(stats) as f:  # what pytorch-fid reads: f["mu"], f["sigma"]
        np.testing.assert_allclose(f["mu"], x.mean(0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(f["sigma"], np.cov(x, rowvar=False), rtol=1e-12, atol=1e-12)
        assert int(f["n"]) == 400 and str(f["features"]) == "identity"
    res = []
    for src, metrics in ((real, "fid"), (str(stats), None)):
        out = tmp_path / "o.json"
        assert _run("--real", src, "--fake", fake, "--features", "identity", "--out", str(out),
                    *(["--metrics", metrics] if metrics else [])) == 0
        res.append(json.loads(out.read_text()))
    assert res[1]["metrics"]["fid"] == pytest.approx(res[0]["metrics"]["fid"], rel=1e-10)
    assert set(res[1]["metrics"]) == {"fid"}  # default metric with a stats file
    assert res[1]["n_real"] == 400 and res[1]["n_fake"] == 300


def test_two_pytorch_fid_stats_files_need_no_network(tmp_path):
    # pytorch-fid's files hold only mu and sigma; FID of N(0, I) and N(m, 4 I) in d dims
    # is |m|^2 + d (1 + 4 - 2 * 2); no Inception weights exist here, none are needed
    d = 8
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    np.savez(a, mu=np.zeros(d), sigma=np.eye(d))
    np.savez(b, mu=np.full(d, 0.5, np.float32), sigma=4 * np.eye(d, dtype=np.float32))
    out = tmp_path / "o.json"
    assert _run("--real", str(a), "--fake", str(b), "--features", "inception",
                "--out", str(out)) == 0
    assert json.loads(out.read_text())["metrics"]["fid"] == pytest.approx(d * 0.25 + d, rel=1e-12)


def test_stats_file_errors(tmp_path):
    ok = _npz(tmp_path / "ok.npz", np.random.default_rng(0).normal(size=(20, 3)))
    ident = ("--features", "identity")
    tagged = tmp_path / "t.npz"
    np.savez(tagged, mu=np.zeros(3), sigma=np.eye(3), n=np.int64(20), features=np.array("digits"))
    _expect(tmp_path, str(tagged), ok, "statistics of digits features", *ident)
    plain = tmp_path / "p.npz"
    np.savez(plain, mu=np.zeros(3), sigma=np.eye(3))
    _expect(tmp_path, str(plain), ok, "use --features inception", *ident)
    _expect(tmp_path, str(plain), ok, "metric\\(s\\) kid need samples", "--features", "inception",
            "--metrics", "fid,kid")
    bad = {"nosigma": {"mu": np.zeros(3)},
           "shape": {"mu": np.zeros(3), "sigma": np.eye(4)},
           "nan": {"mu": np.zeros(3), "sigma": np.diag([1.0, np.nan, 1.0])},
           "asym": {"mu": np.zeros(3), "sigma": np.triu(np.ones((3, 3)))},
           "strs": {"mu": np.array(["a", "b"]), "sigma": np.eye(2)},
           "negvar": {"mu": np.zeros(2), "sigma": -np.eye(2)}}
    msgs = {"nosigma": "missing key 'sigma'", "shape": r"'sigma' has shape \(4, 4\)",
            "nan": "'sigma' contains NaN", "asym": "not symmetric", "strs": "'mu' has dtype",
            "negvar": "negative variances"}
    for name, arrays in bad.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        _expect(tmp_path, str(path), str(path), f"{path}.*{msgs[name]}", "--features", "inception")
    _expect(tmp_path, ok, None, "--fake is required", *ident)
    _expect(tmp_path, ok, None, "must end in .npz", *ident, "--save-stats", str(tmp_path / "s.txt"))
    _expect(tmp_path, str(plain), None, "already a stats file", *ident, "--save-stats",
            str(tmp_path / "s.npz"))


def test_npy_input_is_read_memory_mapped(tmp_path):
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(150, 3)) + 1
    np.save(tmp_path / "r.npy", x)
    res = []
    for real in (str(tmp_path / "r.npy"), _npz(tmp_path / "r.npz", x)):
        out = tmp_path / "o.json"
        assert _run("--real", real, "--fake", _npz(tmp_path / "f.npz", y), "--features",
                    "identity", "--metrics", "fid,mmd", "--out", str(out)) == 0
        res.append(json.loads(out.read_text())["metrics"])
    assert res[0] == res[1]


def test_fid_alone_streams_statistics_and_agrees_with_the_feature_path(tmp_path):
    import gankit.evaluate as ev
    from gankit.metrics.fid import FID

    rng = np.random.default_rng(5)
    real = _npz(tmp_path / "r.npz", rng.normal(size=(300, 4)) @ rng.normal(size=(4, 4)))
    fake = _npz(tmp_path / "f.npz", rng.normal(size=(250, 4)) + 0.3)
    parser = argparse.ArgumentParser()
    ev.add_eval_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["eval", "--real", real, "--fake", fake, "--features", "identity"])
    streamed, _ = ev._featurize(args, ["fid"])
    held, _ = ev._featurize(args, ["fid", "kid"])
    assert streamed.real is None and streamed.fake is None  # no feature matrix is kept
    assert isinstance(streamed.real_stats, FeatureStats) and streamed.real_stats.n == 300
    assert held.real.shape == (300, 4)
    assert FID().from_features(streamed)["fid"] == pytest.approx(FID().from_features(held)["fid"], rel=1e-10)


def test_float_image_ranges(tmp_path):
    from sklearn.datasets import load_digits

    imgs = (load_digits().images / 16).astype(np.float32)  # [0, 1]
    real = _npz(tmp_path / "r.npz", imgs[:300])
    fake01 = imgs[300:600].copy()
    digits = ("--features", "digits", "--metrics", "fid")
    out = tmp_path / "o.json"

    def fid_of(x, *extra):
        assert _run("--real", real, "--fake", _npz(tmp_path / "f.npz", x), *digits,
                    "--out", str(out), *extra) == 0
        return json.loads(out.read_text())["metrics"]["fid"]

    clean = fid_of(fake01)
    nudged = fake01.copy()
    nudged[0, 0, 0] = -1e-6  # rounding noise does not flip the set to [-1, 1]
    assert fid_of(nudged) == pytest.approx(clean, rel=1e-6)
    assert fid_of(fake01 * 2 - 1) == pytest.approx(clean, rel=1e-5)  # tanh range: min -1
    assert fid_of(fake01 * 2 - 1, "--fake-range=-1,1") == pytest.approx(clean, rel=1e-5)
    dark = fake01 - 0.3
    _expect(tmp_path, real, _npz(tmp_path / "d.npz", dark), "neither clearly.*--fake-range=",
            *digits)
    _expect(tmp_path, real, _npz(tmp_path / "d.npz", dark), "with --fake-range=0,1", *digits,
            "--fake-range=0,1")


def _png_bytes(arr):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_image_files_16_bit_and_broken(tmp_path):
    from gankit.data.imageio import read_image as _read_image

    wide = np.array([[0, 65535], [32896, 257]], dtype=np.uint16)
    (tmp_path / "w.png").write_bytes(_png_bytes(wide))
    np.testing.assert_array_equal(_read_image(tmp_path / "w.png"), [[0, 255], [128, 1]])
    data = bytearray(_png_bytes((np.arange(64).reshape(8, 8) * 3).astype(np.uint8)))
    data[36] = 0  # a broken chunk: PIL raises SyntaxError, not OSError
    (tmp_path / "b.png").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="unreadable image file .*b.png"):
        _read_image(tmp_path / "b.png")


def test_more_input_errors(tmp_path):
    ok = _npz(tmp_path / "ok.npz", np.random.default_rng(0).normal(size=(20, 4)))
    ident = ("--features", "identity", "--metrics", "fid")
    np.savez(tmp_path / "empty.npz")
    _expect(tmp_path, ok, str(tmp_path / "empty.npz"), "contains no arrays", *ident)
    np.savez(tmp_path / "scalar.npz", x=np.float64(3.0))
    _expect(tmp_path, ok, str(tmp_path / "scalar.npz"), "holds a scalar", *ident)
    u8 = _npz(tmp_path / "u8.npz", np.zeros((20, 4), np.uint8))
    _expect(tmp_path, ok, u8, "compares raw values", *ident)
    nan = np.ones((20, 4))
    nan[3] = np.nan
    _expect(tmp_path, ok, _npz(tmp_path / "nan.npz", nan), "fake features: 1 sample", *ident)
    for flag, value, msg in (("--n", "1", "--n must be >= 2"),
                             ("--batch-size", "0", "--batch-size must be >= 1"),
                             ("--sinkhorn-eps", "0", "--sinkhorn-eps must be positive"),
                             ("--sinkhorn-n", "1", "--sinkhorn-n must be >= 2"),
                             ("--kid-subset-size", "1", "--kid-subset-size must be >= 2"),
                             ("--out", str(tmp_path / "no" / "o.json"), "--out .*no such dir")):
        _expect(tmp_path, ok, ok, msg, *ident, flag, value)


def test_digits_accuracy_and_sinkhorn_convergence_are_reported(tmp_path):
    from sklearn.datasets import load_digits

    imgs = load_digits().images.astype(np.float32) / 16
    out = tmp_path / "o.json"
    common = ("--real", _npz(tmp_path / "r.npz", imgs[:200]), "--fake",
              _npz(tmp_path / "f.npz", imgs[200:400]), "--features", "digits", "--metrics",
              "sinkhorn", "--sinkhorn-n", "200", "--out", str(out))
    assert _run(*common, "--sinkhorn-eps", "0.5") == 0
    rec = json.loads(out.read_text())
    assert rec["digits_test_accuracy"] >= 0.96
    assert 0 <= rec["metrics"]["sinkhorn_marginal_error"] <= 1e-6
    # the solver converges at the default 0.05; a 25x smaller eps still cannot in 1000
    with pytest.warns(UserWarning, match="sinkhorn: not converged in 1000 iterations"):
        assert _run(*common, "--sinkhorn-eps", "0.002") == 0
    assert json.loads(out.read_text())["metrics"]["sinkhorn_marginal_error"] > 1e-6


def test_fid_alone_keeps_features_when_a_set_has_fewer_samples_than_dimensions(tmp_path):
    import gankit.evaluate as ev
    from gankit.metrics.fid import FID, fid

    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 50)), rng.normal(size=(40, 50)) + 0.2
    parser = argparse.ArgumentParser()
    ev.add_eval_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["eval", "--real", _npz(tmp_path / "r.npz", x), "--fake",
                              _npz(tmp_path / "f.npz", y), "--features", "identity"])
    data, _ = ev._featurize(args, ["fid"])
    assert data.real is not None and data.real_stats is None  # the n x m route, no 50 x 50
    assert FID().from_features(data)["fid"] == pytest.approx(fid(x, y), rel=1e-12)


def test_outputs_that_are_directories_and_fake_side_stats_with_is(tmp_path):
    from gankit.checkpoint import atomic_write_bytes

    ok = _npz(tmp_path / "ok.npz", np.random.default_rng(0).normal(size=(20, 3)))
    (tmp_path / "outdir").mkdir()
    _expect(tmp_path, ok, ok, "exists and is not a file", "--features", "identity",
            "--metrics", "fid", "--out", str(tmp_path / "outdir"))
    with pytest.raises(IsADirectoryError):
        atomic_write_bytes(tmp_path / "outdir", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.npz", "outdir"]  # no temp file
    stats = tmp_path / "s.npz"
    np.savez(stats, mu=np.zeros(64), sigma=np.eye(64), n=np.int64(10),
             features=np.array("digits"))
    digits = _npz(tmp_path / "d.npz", np.zeros((20, 8, 8), np.float32))
    _expect(tmp_path, digits, str(stats), "metric\\(s\\) is need the fake samples",
            "--features", "digits", "--metrics", "fid,is")


def test_save_stats_keeps_a_small_fake_set_on_the_cross_product_route(tmp_path):
    import gankit.evaluate as ev

    rng = np.random.default_rng(7)
    parser = argparse.ArgumentParser()
    ev.add_eval_parser(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["eval", "--real", _npz(tmp_path / "r.npz", rng.normal(size=(80, 20))),
                              "--fake", _npz(tmp_path / "f.npz", rng.normal(size=(10, 20))),
                              "--features", "identity", "--save-stats", str(tmp_path / "s.npz")])
    data, _ = ev._featurize(args, ["fid"])
    assert isinstance(data.real_stats, FeatureStats) and data.real is None  # saved set
    assert data.fake is not None and data.fake_stats is None  # 10 < 20 dimensions


def test_image_folders_are_read_lazily_a_batch_at_a_time(tmp_path, monkeypatch):
    from PIL import Image

    import gankit.evaluate as ev

    rng = np.random.default_rng(1)
    for i in range(7):
        Image.fromarray((rng.uniform(size=(8, 8, 3)) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
    reads = []
    import gankit.data.imageio as io
    from gankit.metrics.extract import image_batches

    read = io.read_image
    monkeypatch.setattr(io, "read_image", lambda p: reads.append(p.name) or read(p))
    folder = ev.load_samples(str(tmp_path), n=5)
    assert folder.shape == (5, 8, 8, 3) and reads == ["0.png"]  # only the first, for its shape
    batches = list(image_batches(folder, "real", 2))
    assert [tuple(b.shape) for b in batches] == [(2, 3, 8, 8)] * 2 + [(1, 3, 8, 8)]
    assert reads == ["0.png"] + [f"{i}.png" for i in range(5)]
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(tmp_path / "7.png")
    with pytest.raises(ValueError, match="different shapes: 7.png is \\(9, 8, 3\\)"):
        list(image_batches(ev.load_samples(str(tmp_path)), "real", 4))
