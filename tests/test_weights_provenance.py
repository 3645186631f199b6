"""A network never runs at a scale or offset it was not made for (issue 19): for every format, a x2 file asked
for x3 is refused naming the file, its scale and where that came from; a file that cannot tell its scale needs
scale=; a Caffe model needs offset=; and the loaded network records where its scale and offset came from."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import netgen
from datafiles import require_file
from fsrcnn_fast import Model, upscale
from fsrcnn_fast.cli import main
from fsrcnn_fast.weights.errors import WeightsError
from fsrcnn_fast.weights.formats import load_weights, save_weights
from fsrcnn_fast.weights.provenance import SOURCES, decide_offset, decide_scale

ROOT = Path(__file__).resolve().parents[1]


def _fuzz_tool():
    if "fuzz_weights" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fuzz_weights", ROOT / "tools" / "fuzz_weights.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["fuzz_weights"] = module
        spec.loader.exec_module(module)
    return sys.modules["fuzz_weights"]


def _small(scale: int, seed: int = 0, **kw):
    return netgen.fsrcnn(np.random.default_rng(seed), d=8, s=4, m=1, scale=scale, **kw)


def _caffemodel(tmp_path: Path, scale: int, name: str = "net.caffemodel") -> Path:
    import test_caffe_weights as caffe_tests

    path = tmp_path / name
    path.write_bytes(caffe_tests._caffemodel(_small(scale, offset=4)))
    return path


def _x2_file(kind: str, tmp_path: Path, shared_data_dir: Path) -> tuple[Path, str]:
    """A x2 network in format ``kind`` and where its scale comes from."""
    if kind in (".safetensors", ".onnx", ".pth", ".pt"):
        if kind == ".onnx":
            pytest.importorskip("onnx")
        path = tmp_path / f"fsrcnn_x2{kind}"
        save_weights(_small(2), path)
        return path, {".safetensors": "metadata", ".onnx": "graph"}.get(kind, "file name")
    if kind in (".h5", ".keras"):
        pytest.importorskip("h5py")
        tool = _fuzz_tool()
        path = tmp_path / f"model{kind}"
        if kind == ".keras":
            tool._write_keras_archive(_small(2, offset=3), path)
        else:
            tool._write_keras_h5(_small(2, offset=3), path, with_model=True)
        return path, "graph"
    if kind == ".caffemodel":
        return _caffemodel(tmp_path, 2), "graph"
    if kind == ".mat":
        pytest.importorskip("scipy")
        return require_file(shared_data_dir / "weights/official_fsrcnn_via_yaBorn/model/FSRCNN/x2.mat"), "file name"
    if kind == ".pb":
        return require_file(shared_data_dir / "weights/saafke_opencv_dnn_superres/FSRCNN_x2.pb"), "graph"
    raise KeyError(kind)


KINDS = [".safetensors", ".onnx", ".pth", ".pt", ".h5", ".keras", ".caffemodel", ".mat", ".pb"]
OPTIONS = {".caffemodel": {"offset": 4}}


@pytest.fixture
def data_dir():
    """As tests/conftest.py's data_dir (not imported: in a run from the root, "conftest" is the root's)."""
    return Path(os.environ.get("FSRCNN_DATA", ROOT.parent / "shared" / "data"))


@pytest.mark.parametrize("kind", KINDS)
def test_x2_file_at_scale_3_is_refused(kind, tmp_path, data_dir):
    path, source = _x2_file(kind, tmp_path, data_dir)
    options = OPTIONS.get(kind, {})
    (spec,) = load_weights(path, **options)
    assert spec.scale == 2 and spec.provenance["scale"] == source
    with pytest.raises(WeightsError) as info:
        load_weights(path, 3, **options)
    message = str(info.value)
    assert str(path) in message and "upscales by 2, not 3" in message and f"from its {source}" in message
    with pytest.raises(WeightsError, match="upscales by 2, not 3"):
        Model.load(path, scale=3, **options)
    assert Model.load(path, scale=2, **options).scale == 2


@pytest.mark.parametrize("kind", [".pth", ".pt", ".h5", ".caffemodel-srcnn", ".onnx-srcnn"])
def test_no_scale_known_is_refused(kind, tmp_path):
    if kind in (".pth", ".pt"):
        path = tmp_path / f"net{kind}"
        save_weights(_small(2), path)
    elif kind == ".h5":
        pytest.importorskip("h5py")
        path = tmp_path / "net.weights.h5"
        _fuzz_tool()._write_keras_h5(_small(2, offset=3), path, with_model=False)
    elif kind == ".onnx-srcnn":
        pytest.importorskip("onnx")
        from fsrcnn_fast.weights.onnx_io import _to_model, _onnx

        model = _to_model(netgen.srcnn(np.random.default_rng(1), 5, 1, 3, n1=4, n2=2, scale=2), 17)
        del model.metadata_props[:]  # an SRCNN graph from elsewhere: no fsrcnn_fast.scale
        path = tmp_path / "srcnn.onnx"
        _onnx().save(model, str(path))
    else:
        import test_caffe_weights as caffe_tests

        path = tmp_path / "srcnn.caffemodel"
        path.write_bytes(caffe_tests._caffemodel(netgen.srcnn(np.random.default_rng(6), 5, 1, 3, n1=8, n2=4,
                                                                border="zero")))
    with pytest.raises(WeightsError) as info:
        load_weights(path)
    assert str(path) in str(info.value) and "scale=" in str(info.value)
    (spec,) = load_weights(path, 2)
    assert spec.scale == 2 and spec.provenance["scale"] == "argument"


def test_chxy95_needs_its_scale(data_dir):
    pytest.importorskip("scipy")
    path = require_file(data_dir / "weights/chxy95_fsrcnn/weights.mat")
    with pytest.raises(WeightsError, match=r"weights\.mat: cannot tell the scale.*pass scale="):
        load_weights(path)
    (spec,) = load_weights(path, 3)
    assert spec.provenance == {"scale": "argument", "offset": "default"}


def test_real_yjn870_x2_at_3_is_refused(data_dir, tmp_path):
    """The issue's first example: fsrcnn_x2.pth ran at x3 (Set5 12.89 dB) through the API and the CLI."""
    path = require_file(data_dir / "weights/yjn870_fsrcnn_pytorch_pr6/fsrcnn_x2.pth")
    with pytest.raises(WeightsError, match=r"fsrcnn_x2\.pth: its name gives scale 2, not the 3 asked for"):
        Model.load(path, scale=3)
    x3 = require_file(data_dir / "weights/yjn870_fsrcnn_pytorch_pr6/fsrcnn_x3.pth")
    with pytest.raises(WeightsError, match="upscales by 3, not 2"):
        Model.load(x3, scale=2)
    img = np.random.default_rng(0).integers(0, 256, (9, 11), dtype=np.uint8)
    assert upscale(img, weights=path).shape == (18, 22)  # the weights' own scale, not 3
    with pytest.raises(WeightsError, match="upscales by 2, not 3"):
        upscale(img, 3, weights=path)
    assert Model.load(path).provenance == {"scale": "file name", "offset": "default"}


def test_cli_runs_weights_at_their_own_scale(tmp_path, capsys):
    from PIL import Image

    weights = tmp_path / "fsrcnn_x2.pth"
    save_weights(_small(2), weights)
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (7, 9), dtype=np.uint8)).save(src)
    assert main(["upscale", str(src), str(out), "--weights", str(weights)]) == 0
    assert Image.open(out).size == (18, 14)
    # --overwrite: the CLI refuses an existing output before anything else, and these calls reuse out.png
    assert main(["upscale", str(src), str(out), "--weights", str(weights), "--scale", "3", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "fsrcnn_x2.pth" in err and "upscales by 2, not 3" in err
    assert main(["upscale", str(src), str(out), "--overwrite"]) == 0  # a shipped model: x3 by default
    assert Image.open(out).size == (27, 21)


def test_caffe_needs_an_offset_everywhere(tmp_path, capsys):
    path = _caffemodel(tmp_path, 3)
    with pytest.raises(WeightsError, match=r"net\.caffemodel: the file cannot tell the deconvolution offset; "
                                           r"pass offset= \(pad and Crop of layer 'deconv' give 4"):
        load_weights(path)
    with pytest.raises(WeightsError, match="pass offset="):
        Model.load(path)
    (spec,) = load_weights(path, offset=2)
    assert spec.tail.offset == 2 and spec.provenance == {"scale": "graph", "offset": "argument"}
    (spec,) = load_weights(path, offset="caffe")
    assert spec.tail.offset == 4 and spec.provenance == {"scale": "graph", "offset": "graph"}
    assert Model.load(path, offset=2).spec.tail.offset == 2
    img = np.random.default_rng(0).integers(0, 256, (6, 7), dtype=np.uint8)
    with pytest.raises(WeightsError, match="pass offset="):
        upscale(img, weights=path)
    np.testing.assert_array_equal(upscale(img, weights=path, offset=2), Model.load(path, offset=2).upscale(img))
    src, out, conv = tmp_path / "in.png", tmp_path / "out.png", tmp_path / "out.safetensors"
    from PIL import Image

    Image.fromarray(img).save(src)
    assert main(["upscale", str(src), str(out), "--weights", str(path)]) == 2
    assert "pass offset=" in capsys.readouterr().err
    assert main(["upscale", str(src), str(out), "--weights", str(path), "--offset", "2"]) == 0
    assert main(["upscale", str(src), str(out), "--weights", str(path), "--offset", "caffe", "--overwrite"]) == 0
    assert main(["convert", str(path), str(conv)]) == 2
    assert main(["convert", str(path), str(conv), "--offset", "2"]) == 0
    (native,) = load_weights(conv)
    assert native.tail.offset == 2 and native.provenance == {"scale": "metadata", "offset": "metadata"}


def test_offset_of_files_that_record_it_must_agree(tmp_path):
    pytest.importorskip("onnx")
    path = tmp_path / "net.onnx"
    save_weights(_small(3, offset=3), path)
    (spec,) = load_weights(path, offset=3)
    assert spec.provenance == {"scale": "graph", "offset": "graph"}
    with pytest.raises(WeightsError, match=r"net\.onnx: the x3 deconvolution offset is 3 \(from its graph\), not 5"):
        load_weights(path, offset=5)
    native = tmp_path / "net.safetensors"
    save_weights(_small(3, offset=3), native)
    with pytest.raises(WeightsError, match=r"offset is 3 \(from its metadata\), not 4"):
        Model.load(native, offset=4)
    sub = tmp_path / "sub.onnx"
    save_weights(_small(2, tail="subpixel"), sub)
    with pytest.raises(WeightsError, match="no deconvolution"):
        load_weights(sub, offset=4)


def test_pytorch_offset_default_and_argument(tmp_path):
    path = tmp_path / "fsrcnn_x3.pth"
    save_weights(_small(3), path)
    assert load_weights(path)[0].provenance == {"scale": "file name", "offset": "default"}
    (spec,) = load_weights(path, offset=3)
    assert spec.tail.offset == 3 and spec.provenance["offset"] == "argument"


def test_decide_rules():
    assert decide_scale("f", None, [(None, "graph"), (3, "file name")]) == (3, "file name")
    assert decide_scale("f", 3, [(3, "graph"), (2, "file name")]) == (3, "graph")  # the content outranks the name
    assert decide_scale("f", 4, [(None, "metadata")]) == (4, "argument")
    with pytest.raises(WeightsError, match="^f: cannot tell the scale"):
        decide_scale("f", None, [(None, "graph")])
    with pytest.raises(WeightsError, match="scale must be an integer"):
        decide_scale("f", 2.0, [(2, "graph")])
    assert decide_offset("f", None, default=4) == (4, "default")
    assert decide_offset("f", 2, said=4) == (2, "argument")
    with pytest.raises(WeightsError, match=r"offset is 4 \(from its graph\), not 2"):
        decide_offset("f", 2, said=4, overridable=False)
    with pytest.raises(WeightsError, match="pass offset="):
        decide_offset("f", None)
    assert set(SOURCES) == {"metadata", "graph", "file name", "argument", "default"}


def test_shipped_models_record_metadata():
    model = Model.load("fsrcnn", scale=2)
    assert model.provenance == {"scale": "metadata", "offset": "metadata"}
    with pytest.raises(TypeError, match="weights files"):
        Model.load("fsrcnn", offset=2)
