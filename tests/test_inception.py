import pytest
import torch

from gankit.metrics.inception import InceptionV3FID, load_inception, resize_tf1


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return InceptionV3FID().eval()


def test_layout_matches_the_pytorch_fid_state_dict(net):
    sd = net.state_dict()
    assert len(sd) == 566  # 94 conv+bn units x 6 entries + fc weight and bias
    assert sd["fc.weight"].shape == (1008, 2048)
    assert sd["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert sd["Mixed_5b.branch_pool.conv.weight"].shape == (32, 192, 1, 1)
    assert sd["Mixed_6e.branch7x7dbl_5.conv.weight"].shape == (192, 192, 1, 7)
    assert sd["Mixed_7c.branch3x3dbl_3b.bn.running_var"].shape == (384,)
    assert not any(k.startswith("AuxLogits") for k in sd)


def test_forward_shapes_and_resize(net):
    with torch.no_grad():
        feats, logits = net(torch.rand(2, 3, 32, 32))
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    assert torch.isfinite(feats).all() and (feats >= 0).all()  # average of ReLUs


def test_tf1_bilinear_resize_has_no_half_pixel_offset():
    x = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 4, 4)
    row = resize_tf1(x, 8)[0, 0, 0]
    # TF1 align_corners=False: src = dst * in / out, clamped at the last pixel
    assert torch.allclose(row, torch.tensor([0, 0.5, 1, 1.5, 2, 2.5, 3, 3.0]))


def test_saved_random_weights_round_trip(net, tmp_path, monkeypatch):
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), path)
    loaded = load_inception(str(path))
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    monkeypatch.setenv("GANKIT_INCEPTION_WEIGHTS", str(path))
    assert torch.equal(load_inception().fc.bias, net.fc.bias)


def test_file_without_step_counters_still_loads(net, tmp_path):
    sd = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / "w.pth")
    assert torch.equal(load_inception(str(tmp_path / "w.pth")).fc.weight, net.fc.weight)


def test_mismatched_files_are_refused(net, tmp_path):
    sd = dict(net.state_dict())
    sd.pop("Mixed_6b.branch1x1.conv.weight")
    sd["AuxLogits.fc.weight"] = torch.zeros(1008, 768)
    sd["fc.weight"] = torch.zeros(1000, 2048)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ValueError) as info:
        load_inception(str(tmp_path / "bad.pth"))
    msg = str(info.value)
    assert "Mixed_6b.branch1x1.conv.weight" in msg and "AuxLogits.fc.weight" in msg
    assert "fc.weight: file (1000, 2048) vs model (1008, 2048)" in msg


def test_unreadable_or_absent_weights(tmp_path, monkeypatch):
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read"):
        load_inception(str(tmp_path / "junk.pth"))
    with pytest.raises(ValueError, match="not found"):
        load_inception(str(tmp_path / "missing.pth"))
    monkeypatch.delenv("GANKIT_INCEPTION_WEIGHTS", raising=False)
    with pytest.raises(ValueError, match="GANKIT_INCEPTION_WEIGHTS"):
        load_inception()


@pytest.mark.parametrize("x, msg", [
    (torch.rand(2, 1, 32, 32), "shape"),
    (torch.rand(2, 3, 32, 32) * 3, "outside"),
    (torch.randint(0, 255, (2, 3, 32, 32)), "dtype"),
    (torch.full((2, 3, 32, 32), float("nan")), "NaN"),
])
def test_bad_images_are_refused(net, x, msg):
    with pytest.raises(ValueError, match=msg):
        net.preprocess(x)


def test_minus_one_one_range_maps_like_zero_one():
    torch.manual_seed(0)
    a, b = InceptionV3FID("0,1"), InceptionV3FID("-1,1")
    x = torch.rand(1, 3, 20, 20)
    assert torch.allclose(a.preprocess(x), b.preprocess(x * 2 - 1), atol=1e-6)


def _randomise_batchnorm(module, seed=1):
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for t, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.2, 2.0),
                              (m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5)):
                t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)


@torch.no_grad()
def test_eval_conv_folds_batchnorm_exactly():
    from gankit.metrics.inception import Conv

    torch.manual_seed(0)
    unit = Conv(8, 16, 3, stride=2, padding=1)
    _randomise_batchnorm(unit)
    x = torch.randn(4, 8, 17, 17, dtype=torch.float64)
    unit = unit.double().eval()
    reference = torch.relu(unit.bn(unit.conv(x)))  # conv -> eval batch norm -> ReLU
    assert torch.allclose(unit(x), reference, rtol=1e-12, atol=1e-12)
    unit.train()
    assert torch.allclose(unit(x), torch.relu(unit.bn(unit.conv(x))))  # batch stats


@torch.no_grad()
def test_features_of_an_image_do_not_depend_on_its_batch(net):
    x = torch.rand(3, 3, 24, 24)
    alone = torch.cat([net.features(x[i:i + 1]) for i in range(3)])
    assert torch.allclose(net.features(x), alone, rtol=1e-4, atol=1e-6)
