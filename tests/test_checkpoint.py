import pickle

import pytest
import torch

from gankit.checkpoint import CheckpointError, CheckpointManager, load_checkpoint, save_checkpoint


def state():
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    return {"step": 7, "net": net.state_dict(), "opt": opt.state_dict(),
            "rng": torch.get_rng_state(), "k_t": 0.25, "name": "x",
            "nested": {"t": (1, 2.5, None), "inf": float("inf")}}


def test_round_trip_keeps_tensors_and_python_values(tmp_path):
    s = state()
    save_checkpoint(tmp_path / "c.safetensors", s)
    back = load_checkpoint(tmp_path / "c.safetensors")
    assert back["step"] == 7 and back["k_t"] == 0.25 and back["nested"]["t"] == (1, 2.5, None)
    assert back["nested"]["inf"] == float("inf")
    assert torch.equal(back["rng"], s["rng"])
    assert set(back["opt"]["state"]) == {0, 1}  # int keys survive (optimizer needs them)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net.load_state_dict(back["net"])
    opt.load_state_dict(back["opt"])
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"], s["opt"]["state"][0]["exp_avg"])


def test_flipped_byte_is_detected(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, state())
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the tensor payload
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="c.safetensors.*checksum"):
        load_checkpoint(path)


def test_truncated_file_falls_back_to_previous_with_warning(tmp_path):
    mgr = CheckpointManager(tmp_path, keep=3)
    mgr.save(10, {"step": 10, "w": torch.ones(3)})
    newest = mgr.save(20, {"step": 20, "w": torch.zeros(3)})
    newest.write_bytes(newest.read_bytes()[:50])
    with pytest.warns(UserWarning, match="ckpt-000000020.*unreadable"):
        path, s = mgr.load_latest()
    assert s["step"] == 10 and path.name == "ckpt-000000010.safetensors"


def test_keep_last_k(tmp_path):
    mgr = CheckpointManager(tmp_path, keep=2)
    for step in (1, 2, 3, 4):
        mgr.save(step, {"step": step})
    assert [p.name for p in mgr.list()] == ["ckpt-000000003.safetensors",
                                             "ckpt-000000004.safetensors"]
    assert (tmp_path / "checkpoints" / "latest").read_text().strip() == "ckpt-000000004.safetensors"


class Payload:
    def __reduce__(self):
        return (print, ("payload ran",))


def test_a_pickle_is_refused_and_not_executed(tmp_path, capsys):
    path = tmp_path / "checkpoints" / "ckpt-000000001.safetensors"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"step": Payload()}))
    with pytest.raises(CheckpointError, match="unreadable"):
        load_checkpoint(path)
    assert "payload ran" not in capsys.readouterr().out


def test_no_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        CheckpointManager(tmp_path).load_latest()


def test_all_corrupt_is_one_error_naming_the_newest_and_no_warnings(tmp_path):
    import warnings

    mgr = CheckpointManager(tmp_path)
    for step in (1, 2):
        mgr.save(step, {"step": step, "w": torch.ones(2)})
    for path in mgr.list():
        path.write_bytes(path.read_bytes()[:50])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning per file would fail here
        with pytest.raises(CheckpointError, match=r"all 2 failed verification \(newest: "
                                                  r"checkpoint .*ckpt-000000002.*unreadable"):
            mgr.load_latest()


def test_verified_state_that_does_not_decode_is_a_checkpoint_error(tmp_path):
    from safetensors.torch import save as st_save

    from gankit.checkpoint import FORMAT, _digest

    structure = '{"w": {"__tensor__": "state/missing"}}'
    meta = {"format": FORMAT, "structure": structure, "sha256": _digest(structure, {})}
    path = tmp_path / "c.safetensors"
    path.write_bytes(st_save({}, metadata=meta))
    with pytest.raises(CheckpointError, match=r"c.safetensors.*does not decode"):
        load_checkpoint(path)
