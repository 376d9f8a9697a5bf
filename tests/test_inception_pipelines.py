"""Inception's input pipelines, each against its reference's preprocessing written here
from the published formula (TF1 resize_bilinear for ttur, F.interpolate for
pytorch-fid, PIL for clean-fid), in float64, to float precision."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from gankit.cli import main
from gankit.metrics.inception import InceptionV3FID
from gankit.metrics.inception_input import (
    DEFAULT_PIPELINE,
    PIPELINES,
    get_pipeline,
    pil_bicubic_matrix,
    resize_pil_bicubic,
    resize_tf1,
    resize_torch_bilinear,
)
from gankit.metrics.protocol import describe, parse_protocol, protocol_pipeline

SIZES = [(32, 32), (8, 8), (28, 40), (400, 333), (512, 512)]  # up, far up, mixed, down


def _images(h, w, n=2, seed=0):
    """uint8 images (as files hold them) and gankit's [0, 1] float32 view of them."""
    k = np.random.default_rng(seed).integers(0, 256, size=(n, 3, h, w), dtype=np.uint8)
    return k, torch.from_numpy(k.astype(np.float32) / np.float32(255))


def _tf1_resize_reference(v, size=299):
    """TF1 ``resize_bilinear(align_corners=False)`` (resize_bilinear_op.cc, legacy
    scaler): in = out * (in_size / out_size) in float32, lower = floor(in), upper =
    min(ceil(in), in_size - 1), lerp = in - floor(in); the interpolation in float64."""
    def axis(n_in):
        src = np.arange(size, dtype=np.float32) * np.float32(n_in / size)
        lo = np.floor(src).astype(np.int64)
        hi = np.minimum(np.ceil(src).astype(np.int64), n_in - 1)
        return lo, hi, (src - lo).astype(np.float64)
    (ylo, yhi, dy), (xlo, xhi, dx) = axis(v.shape[-2]), axis(v.shape[-1])
    v = v.astype(np.float64)
    tl, tr = v[..., ylo, :][..., xlo], v[..., ylo, :][..., xhi]
    bl, br = v[..., yhi, :][..., xlo], v[..., yhi, :][..., xhi]
    top, bottom = tl + (tr - tl) * dx, bl + (br - bl) * dx
    return top + (bottom - top) * dy[:, None]


def _torch_bilinear_reference(v, size=299):
    """PyTorch's CPU bilinear (align_corners=False) as its float32 kernel computes the
    coordinates (upsample_bilinear2d: src = scale * (dst + 0.5) - 0.5 in float32,
    clamped at 0, lambda = src - floor(src)); the interpolation in float64."""
    def axis(n_in):
        dst = np.arange(size, dtype=np.float32) + np.float32(0.5)
        src = np.maximum(np.float32(n_in / size) * dst - np.float32(0.5), np.float32(0))
        lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        lam = np.clip(src - lo, 0, 1).astype(np.float64)
        return lo, np.minimum(lo + 1, n_in - 1), lam
    (ylo, yhi, ly), (xlo, xhi, lx) = axis(v.shape[-2]), axis(v.shape[-1])
    v = v.astype(np.float64)
    top = v[..., ylo, :][..., xlo] * (1 - lx) + v[..., ylo, :][..., xhi] * lx
    bottom = v[..., yhi, :][..., xlo] * (1 - lx) + v[..., yhi, :][..., xhi] * lx
    return top * (1 - ly)[:, None] + bottom * ly[:, None]


def _clean_fid_reference(k, size=299):
    """clean-fid's ``clean`` mode: each channel of the 0..255 image as a float32 PIL
    image (mode F), bicubic to 299, clipped to [0, 255]; then (v - 128) / 128."""
    out = np.empty(k.shape[:2] + (size, size))
    for i, c in np.ndindex(*k.shape[:2]):
        img = Image.fromarray(k[i, c].astype(np.float32))
        assert img.mode == "F"
        out[i, c] = np.asarray(img.resize((size, size), Image.BICUBIC)).clip(0, 255)
    return (out - 128) / 128


def _close(ours, reference, atol=1e-6):
    ours = ours.double().numpy()
    assert ours.shape == reference.shape
    err = np.abs(ours - reference).max()
    assert err < atol, err


@pytest.mark.parametrize("h, w", SIZES)
def test_ttur_is_tf1_bilinear_of_0_255_values_then_minus_128_over_128(h, w):
    k, x = _images(h, w)
    _close(get_pipeline("ttur").prepare(x), (_tf1_resize_reference(k) - 128) / 128)


@pytest.mark.parametrize("h, w", SIZES)
def test_pytorch_fid_is_torch_bilinear_of_0_1_values_then_2x_minus_1(h, w):
    k, x = _images(h, w)
    ours = get_pipeline("pytorch-fid").prepare(x)
    # pytorch-fid's own call runs in float32, source coordinates included: an ulp of a
    # coordinate near max(h, w) (<= 2^-23 max(h, w) px) moves a value by as much times
    # its step to the next pixel (<= 1 in [0, 1]), twice that after 2x - 1
    atol = 1e-6 + 2.0 ** -22 * max(h, w)
    _close(ours, 2 * _torch_bilinear_reference(k / 255.0) - 1, atol)
    ref = F.interpolate(torch.from_numpy(k / 255.0), size=(299, 299), mode="bilinear",
                        align_corners=False)
    _close(ours, (2 * ref - 1).numpy(), atol)


@pytest.mark.parametrize("h, w", SIZES)
def test_clean_fid_is_pil_bicubic_per_channel_clipped_then_minus_128_over_128(h, w):
    k, x = _images(h, w)
    _close(get_pipeline("clean-fid").prepare(x), _clean_fid_reference(k))


def test_pil_bicubic_weights_equal_pil_on_float_images():
    # a unit impulse resized by PIL gives one column of its weight matrix, for both
    # upsampling (cubic of support 2) and downsampling (support widened by in/out)
    for n_in, n_out in ((7, 19), (19, 7), (32, 299), (512, 299)):
        eye = np.eye(n_in, dtype=np.float32)
        cols = [np.asarray(Image.fromarray(eye[j][None, :]).resize((n_out, 1), Image.BICUBIC))[0]
                for j in range(n_in)]
        np.testing.assert_allclose(pil_bicubic_matrix(n_in, n_out).numpy(),
                                   np.stack(cols, 1), rtol=0, atol=1e-7)


def test_an_image_of_299_px_goes_through_every_resize_unchanged():
    _, x = _images(299, 299, n=1)
    v = x * 255
    for resize in (resize_tf1, resize_torch_bilinear, resize_pil_bicubic):
        assert torch.equal(resize(v), v)
    # the references leave it unchanged too: pytorch-fid's interpolate at scale 1, PIL,
    # TF1's formula at scale 1, and PIL's bicubic weights are the identity
    assert torch.equal(F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False), x)
    assert np.array_equal(_tf1_resize_reference(v.numpy()), v.double().numpy())
    assert torch.equal(pil_bicubic_matrix(299, 299), torch.eye(299, dtype=torch.float64))
    plane = v[0, 0].numpy()
    assert np.array_equal(np.asarray(Image.fromarray(plane).resize((299, 299), Image.BICUBIC)),
                          plane)
    for name in PIPELINES:  # then only the scaling differs
        scaled = (v - 128) / 128 if name != "pytorch-fid" else 2 * x - 1
        assert torch.equal(get_pipeline(name).prepare(x), scaled), name


def test_the_pipelines_differ_below_299_px():
    _, x = _images(32, 32)
    outs = {name: get_pipeline(name).prepare(x) for name in PIPELINES}
    for a in PIPELINES:
        for b in PIPELINES:
            assert a == b or (outs[a] - outs[b]).abs().max() > 1e-2, (a, b)


def test_the_network_feeds_its_pipeline_from_either_input_range():
    _, x = _images(20, 24)
    for name in PIPELINES:
        want = get_pipeline(name).prepare(x)
        assert torch.equal(InceptionV3FID(pipeline=name).preprocess(x), want)
        signed = InceptionV3FID("-1,1", pipeline=name).preprocess(x * 2 - 1)
        assert (signed - want).abs().max() < 1e-5
    with pytest.raises(ValueError, match="unknown Inception pipeline 'tf2'.*clean-fid"):
        InceptionV3FID(pipeline="tf2")


def test_protocol_names_and_details_differ_per_pipeline():
    assert DEFAULT_PIPELINE == "ttur"
    d = {p: describe("fid", 10000, "inception", pipeline=p, scaling="real auto")
         for p in PIPELINES}
    assert [d[p]["name"] for p in PIPELINES] == \
        ["fid10k-inception", "fid10k-inception-pytorchfid", "fid10k-inception-cleanfid"]
    assert describe("fid", 10000, "inception", scaling="real auto") == d["ttur"]
    for p in PIPELINES:
        assert d[p]["resize"].startswith(p + ":") and d[p]["scaling"].startswith(p + ":")
        assert d[p]["scaling"].endswith("; input real auto")
        assert parse_protocol(d[p]["name"], ["fid"]) == ("fid", 10000, "inception")
        assert protocol_pipeline(d[p]["name"]) == p
    assert protocol_pipeline("fid500-digits") is None
    for bad in ("fid10k-inception-ttur", "fid10k-inception-tf", "fid500-digits-cleanfid"):
        with pytest.raises(ValueError, match="pipeline suffix"):
            parse_protocol(bad, ["fid"])
    with pytest.raises(ValueError, match="inception features only"):
        describe("fid", 500, "digits", pipeline="clean-fid")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(InceptionV3FID().state_dict(), path)  # random weights: nothing downloads
    return str(path)


def test_eval_names_the_pipeline_and_refuses_conflicts(tmp_path, weights, capsys):
    rng = np.random.default_rng(0)
    for side in ("real", "fake"):
        np.savez(tmp_path / f"{side}.npz", x=rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8))
    base = ["eval", "--real", str(tmp_path / "real.npz"), "--fake", str(tmp_path / "fake.npz"),
            "--inception-weights", weights, "--batch-size", "6"]
    out = tmp_path / "o.json"
    # the protocol's name sets the pipeline (as --inception-pipeline clean-fid would)
    assert main(base + ["--protocol", "fid3-inception-cleanfid", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["protocol"] == {"fid": "fid3-inception-cleanfid"}
    assert record["inception_pipeline"] == "clean-fid"
    details = record["protocol_details"]["fid3-inception-cleanfid"]
    assert details["resize"].startswith("clean-fid: PIL bicubic")
    assert details["scaling"] == "clean-fid: (v - 128) / 128 of 0..255 values; input real " \
        "auto, fake auto"
    for extra, msg in ((["--protocol", "fid3-inception", "--inception-pipeline", "clean-fid"],
                        "means --inception-pipeline ttur, not clean-fid"),
                       (["--features", "digits", "--inception-pipeline", "pytorch-fid"],
                        "applies to --features inception only")):
        capsys.readouterr()
        assert main(base + extra + ["--out", str(tmp_path / "o2.json")]) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "o2.json").exists()


def test_stats_files_remember_a_non_default_pipeline(tmp_path, weights, capsys):
    rng = np.random.default_rng(1)
    real, fake = tmp_path / "real.npz", tmp_path / "fake.npz"
    np.savez(real, x=rng.integers(0, 256, (2, 10, 10, 3), dtype=np.uint8))
    np.savez(fake, x=rng.integers(0, 256, (2, 10, 10, 3), dtype=np.uint8))
    stats = tmp_path / "s.npz"
    w = ["--inception-weights", weights]
    assert main(["eval", "--real", str(real), "--save-stats", str(stats), *w,
                 "--inception-pipeline", "clean-fid"]) == 0
    assert str(np.load(stats)["features"]) == "inception-cleanfid"
    capsys.readouterr()
    assert main(["eval", "--real", str(stats), "--fake", str(fake), *w]) == 2
    assert "statistics of inception-cleanfid features, but these are inception" in \
        capsys.readouterr().err
    assert main(["eval", "--real", str(stats), "--fake", str(fake), *w,  # IS: no 2048^2 eigh
                 "--inception-pipeline", "clean-fid", "--metrics", "is"]) == 0
    assert "(is2-inception-cleanfid)" in capsys.readouterr().out
