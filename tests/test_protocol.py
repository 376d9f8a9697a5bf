"""Evaluation protocols: every value carries the name and details it was measured under."""
import json

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.metrics.protocol import (
    check_comparable,
    count_label,
    describe,
    parse_protocol,
    weights_digest,
)
from gankit.sweep_spec import SweepSpec, expand
from gankit.sweep_table import format_table, summarise


def test_names_and_parsing():
    assert [count_label(n) for n in (500, 2500, 10000, 50000, 12345)] == \
        ["500", "2500", "10k", "50k", "12345"]
    assert describe("fid", 10000, "inception")["name"] == "fid10k-inception"
    assert describe("modes", 2500)["name"] == "modes2500"
    metrics = ["fid", "kid", "prdc"]
    assert parse_protocol("fid10k-inception", metrics) == ("fid", 10000, "inception")
    assert parse_protocol("prdc2500-identity", metrics) == ("prdc", 2500, "identity")
    for bad, msg in (("fid10k-vgg", "no features 'vgg'"), ("modes2500", "no metric 'modes'"),
                     ("fid", "a protocol is <metric><n>-<features>"), ("fid1-digits", "2 samples")):
        with pytest.raises(ValueError, match=msg):
            parse_protocol(bad, metrics)


def test_weights_digest_tells_weights_apart():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert weights_digest(a) == weights_digest(b) and len(weights_digest(a)) == 16
    with torch.no_grad():
        b.bias[0] += 1e-7
    assert weights_digest(a) != weights_digest(b) and weights_digest(None) == ""


def test_a_column_of_mixed_protocols_is_refused():
    ours = describe("fid", 500, "digits", "ab", 500, "Digits (1, 16, 16)", 0, "[-1, 1]")
    raw8 = dict(ours, reference="digits.npz")  # same name, other reference set
    check_comparable("fid", [("a", ours), ("b", dict(ours))])
    with pytest.raises(ValueError, match="mixes evaluation protocols: .* differ in reference"):
        check_comparable("fid", [("a", ours), ("b", raw8)])
    spec = SweepSpec(expand([None], ["data.name=ring,grid"], []), [0])
    row = lambda n: {"step": 1, "kind": "eval", "hq": 90.0,  # noqa: E731
                     "protocol": {"hq": f"modes{n}"},
                     "protocol_details": {f"modes{n}": describe("modes", n)}}
    summarise(spec, {"default,data.name=ring": {0: row(2500)},
                     "default,data.name=grid": {0: row(2500)}})
    with pytest.raises(ValueError, match="column 'hq' mixes .*modes2500.*modes500"):
        summarise(spec, {"default,data.name=ring": {0: row(2500), 1: row(500)},
                         "default,data.name=grid": {0: row(2500), 1: row(2500)}})


def test_variants_under_other_protocols_get_means_but_no_paired_difference():
    # e.g. --axis data.name=ring,grid: each data set's modes metric has its own reference
    spec = SweepSpec(expand([None], ["data.name=ring,grid"], []), [0, 1, 2],
                     baseline="default,data.name=ring")
    row = lambda hq, ref: {"step": 1, "kind": "eval", "hq": hq,  # noqa: E731
                           "protocol": {"hq": "modes2500"},
                           "protocol_details": {"modes2500": dict(describe("modes", 2500),
                                                                  reference=ref)}}
    ring = {s: row(98.0 + s, "ring") for s in range(3)}
    summary = summarise(spec, {"default,data.name=ring": ring,
                               "default,data.name=grid": {s: row(97.0 + s, "grid")
                                                          for s in range(3)}})
    grid = summary["variants"]["default,data.name=grid"]["hq"]
    assert grid["interval"]["mean"] == pytest.approx(98.0) and "vs_baseline" not in grid
    summary = summarise(spec, {"default,data.name=ring": ring,
                               "default,data.name=grid": {s: row(97.0 + s, "ring")
                                                          for s in range(3)}})
    diff = summary["variants"]["default,data.name=grid"]["hq"]["vs_baseline"]["diff"]
    assert diff["mean"] == pytest.approx(-1.0)
    assert "different protocols" in format_table(summary)


def test_training_logs_the_protocol_of_every_value(tmp_path):
    sets = [f"out_dir='{tmp_path}'", "train.steps=2", "train.eval_every=2",
            "train.tensorboard=false", "eval.n_samples=300", "eval.metrics=['modes','prdc']"]
    assert main(["train"] + [a for s in sets for a in ("--set", s)]) == 0
    (run,) = tmp_path.iterdir()
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if r["kind"] == "eval"][-1]
    assert last["protocol"]["hq"] == "modes300" and last["protocol"]["coverage"] == \
        "prdc300-identity"
    details = last["protocol_details"]["prdc300-identity"]
    assert details["n_real"] == 300 and details["features"] == "identity"
    assert "Ring" in details["reference"] or "ring" in details["reference"].lower()


def test_gankit_eval_writes_and_checks_protocols(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", x=rng.normal(size=(300, 3)))
    np.savez(tmp_path / "f.npz", x=rng.normal(size=(300, 3)))
    out = tmp_path / "o.json"
    common = ["eval", "--real", str(tmp_path / "r.npz"), "--fake", str(tmp_path / "f.npz"),
              "--out", str(out)]
    assert main(common + ["--protocol", "fid300-identity"]) == 0
    rec = json.loads(out.read_text())
    assert rec["protocol"] == {"fid": "fid300-identity"} and rec["features"] == "identity"
    assert "(fid300-identity)" in capsys.readouterr().out
    assert main(common + ["--protocol", "fid10k-identity"]) == 2
    assert "needs as many samples as it names" in capsys.readouterr().err
    assert main(common + ["--protocol", "fid300-identity", "--features", "digits"]) == 2
    assert "means --features identity, not digits" in capsys.readouterr().err
    assert main(common + ["--protocol", "modes2500"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown protocol 'modes2500'" in err[0]
