"""load_weights / save_weights / `fsrcnn-fast convert`: the file type picks the importer, the native
writer stores multi-scale models with their shared layers once, and conversions keep the function."""

from dataclasses import replace

import numpy as np
import pytest
from safetensors import safe_open

import netgen
import oracle
from fsrcnn_fast import Model, load_weights, save_weights
from fsrcnn_fast.cli import main


def test_unknown_suffix_and_missing_file(tmp_path):
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"0")
    with pytest.raises(ValueError, match=r"unknown weights file type '\.bin'.*\.pth"):
        load_weights(bad)
    with pytest.raises(FileNotFoundError):
        load_weights(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="cannot write '.txt'"):
        save_weights(netgen.fsrcnn(np.random.default_rng(0), d=4, s=2, m=1), tmp_path / "x.txt")


@pytest.mark.parametrize("border", ["zero", "replicate"])
@pytest.mark.parametrize("shared_slope", [False, True])
def test_native_round_trip(tmp_path, border, shared_slope):
    rng = np.random.default_rng(1)
    spec = netgen.fsrcnn(rng, d=8, s=4, m=2, scale=3, offset=3, border=border, shared_slope=shared_slope)
    save_weights(spec, tmp_path / "m.safetensors")
    (back,) = load_weights(tmp_path / "m.safetensors")
    assert back.scale == 3 and back.tail.offset == 3 and back.layers[0].border == border
    for a, b in zip(spec.layers, back.layers):
        assert np.array_equal(a.weight, b.weight) and np.array_equal(a.slope, b.slope)
    y = rng.uniform(0, 1, (9, 13)).astype(np.float32)
    np.testing.assert_array_equal(Model(back).run_y(y), Model(spec).run_y(y))


def test_multiscale_file_stores_shared_layers_once(tmp_path):
    rng = np.random.default_rng(2)
    base = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=3, offset=3)
    specs = [base] + [replace(netgen.fsrcnn(rng, d=8, s=4, m=1, scale=s, offset=3), layers=base.layers) for s in (2, 4)]
    path = tmp_path / "multi.safetensors"
    save_weights(specs, path)
    with safe_open(str(path), framework="numpy") as f:
        keys = set(f.keys())
        assert f.metadata()["scales"] == "3,2,4"
    assert "feature.weight" in keys and "x2.deconv.weight" in keys and "deconv.weight" not in keys
    model = Model.load(path)
    assert model.scales == (2, 3, 4) and model.scale == 3
    img = rng.uniform(0, 1, (7, 9))
    every = model.upscale_all(img)
    for sp in specs:
        np.testing.assert_array_equal(every[sp.scale], Model(sp).upscale(img))


def test_native_writer_refuses_what_it_cannot_store(tmp_path):
    rng = np.random.default_rng(3)
    a = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=2, border="zero")
    b = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=3, border="replicate")
    with pytest.raises(ValueError, match="one border mode"):
        save_weights([a, b], tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="same scale"):
        save_weights([a, a], tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="holds one scale"):
        save_weights([a, replace(a, scale=3, tail=replace(a.tail, scale=3))], tmp_path / "x.onnx")


def test_convert_cli_pytorch_to_native_keeps_the_function(tmp_path, shared_data, capsys):
    src = shared_data / "weights" / "yjn870_fsrcnn_pytorch_pr6" / "fsrcnn_x3.pth"
    dst = tmp_path / "y3.safetensors"
    assert main(["convert", str(src), str(dst)]) == 0
    assert "fsrcnn x3, border zero" in capsys.readouterr().out
    y = np.random.default_rng(4).uniform(0, 1, (11, 14)).astype(np.float32)
    ours = Model.load(dst)
    np.testing.assert_array_equal(ours.run_y(y), Model.load(src).run_y(y))
    np.testing.assert_allclose(ours.run_y(y), oracle.run(ours.spec, y), atol=1e-4)


def test_convert_cli_reports_errors(tmp_path, shared_data, capsys):
    src = shared_data / "weights" / "official_fsrcnn_via_yaBorn" / "model" / "FSRCNN" / "x3.mat"
    pytest.importorskip("scipy")
    assert main(["convert", str(src), str(tmp_path / "a3.pth")]) == 2
    assert "replicate" in capsys.readouterr().err
    assert not (tmp_path / "a3.pth").exists()


def test_per_scale_deconv_offsets(tmp_path):
    rng = np.random.default_rng(10)
    base = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=3, offset=3)
    specs = [base, replace(netgen.fsrcnn(rng, d=8, s=4, m=1, scale=2, offset=4), layers=base.layers)]
    save_weights(specs, tmp_path / "m.safetensors")
    with safe_open(str(tmp_path / "m.safetensors"), framework="numpy") as f:
        assert f.metadata()["deconv_offset"] == "3:3,2:4"
    back = {sp.scale: sp for sp in load_weights(tmp_path / "m.safetensors")}
    assert back[3].tail.offset == 3 and back[2].tail.offset == 4
