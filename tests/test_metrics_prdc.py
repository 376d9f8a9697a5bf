"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020)."""
import json

import numpy as np
import pytest

from gankit.metrics import prdc as pr

prdc_ref = pytest.importorskip("prdc")


def _sets(seed, n=300, m=250, d=8, shift=0.3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)) * 1.2 + shift


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_strict_balls_equal_the_prdc_package(k, seed, capsys):
    real, fake = _sets(seed)
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=k)
    ours = {**pr.precision_recall(real, fake, k, strict=True),
            **pr.density_coverage(real, fake, k, strict=True)}
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-12), key


def test_blocks_do_not_change_the_result(monkeypatch):
    real, fake = _sets(2, n=200, m=180)
    whole = {**pr.precision_recall(real, fake), **pr.density_coverage(real, fake)}
    monkeypatch.setattr(pr, "_BLOCK_ENTRIES", 700)  # a few rows per block
    assert {**pr.precision_recall(real, fake), **pr.density_coverage(real, fake)} == whole


def test_boundary_points_count_only_for_non_strict_balls():
    real = np.array([[0.0], [2.0], [4.0]])  # k = 1: every real ball has radius 2
    fake = np.array([[6.0], [8.0]])  # 6 lies on the boundary of the ball around 4
    assert pr.precision_recall(real, fake, k=1, strict=False)["precision"] == 0.5
    assert pr.precision_recall(real, fake, k=1, strict=True)["precision"] == 0.0
    assert pr.density_coverage(real, fake, k=1, strict=False) == {"density": 0.5,
                                                                  "coverage": 1 / 3}
    assert pr.density_coverage(real, fake, k=1, strict=True) == {"density": 0.0,
                                                                 "coverage": 0.0}


def test_two_samples_of_one_distribution():
    # Naeem et al. (2020, Sec. 3): E[coverage] = 1 - 2^-k for as many fakes as reals, and
    # E[density] = 1; precision and recall are close to 1 too
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2))
    dc = pr.density_coverage(real, fake, k=5)
    assert dc["coverage"] == pytest.approx(1 - 2 ** -5, abs=0.015)
    assert dc["density"] == pytest.approx(1.0, abs=0.05)
    p = pr.precision_recall(real, fake, k=3)
    assert p["precision"] > 0.9 and p["recall"] > 0.9
    # samples crowded at the centre: all of them plausible, most of the data not covered
    narrow = {**pr.precision_recall(real, 0.3 * fake), **pr.density_coverage(real, 0.3 * fake)}
    assert narrow["precision"] > 0.95 and narrow["recall"] < 0.6 and narrow["coverage"] < 0.6


def test_too_few_samples_for_k_is_an_error():
    with pytest.raises(ValueError, match="k = 5 nearest neighbours need more than k"):
        pr.density_coverage(np.zeros((5, 2)), np.zeros((9, 2)), k=5)


def test_gankit_eval_reports_prdc(tmp_path):
    from gankit.cli import main

    real, fake = _sets(4, n=120, m=120, d=3)
    np.savez(tmp_path / "r.npz", x=real)
    np.savez(tmp_path / "f.npz", x=fake)
    out = tmp_path / "o.json"
    assert main(["eval", "--real", str(tmp_path / "r.npz"), "--fake", str(tmp_path / "f.npz"),
                 "--features", "identity", "--metrics", "prdc", "--out", str(out)]) == 0
    got = json.loads(out.read_text())["metrics"]
    want = {**pr.precision_recall(real, fake), **pr.density_coverage(real, fake)}
    assert got == pytest.approx(want, abs=1e-15)


def test_toy_runs_log_prdc_on_raw_samples(tmp_path):
    from gankit.cli import main

    sets = [f"out_dir='{tmp_path}'", "train.steps=4", "train.eval_every=4",
            "train.tensorboard=false", "eval.n_samples=200", "eval.metrics=['modes','prdc']"]
    assert main(["train"] + sum([["--set", s] for s in sets], [])) == 0
    (run,) = tmp_path.iterdir()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if r["kind"] == "eval"][-1]
    assert {"modes", "precision", "recall", "density", "coverage"} <= set(last)
    assert 0 <= last["coverage"] <= 1 and last["density"] >= 0
