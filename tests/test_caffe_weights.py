"""Caffe models (.caffemodel, optionally with a prototxt): the importer against OpenCV's Caffe importer
running the same file, the oracle, a direct Caffe-semantics deconvolution, hand-built models for each
supported pattern and error, and damaged files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from datafiles import require_file
import netgen
import oracle
from fsrcnn_fast import Model, load_weights, metrics
from fsrcnn_fast.weights.caffe_io import load_caffe
from fsrcnn_fast.weights.schema import Conv, Deconv, NetworkSpec
from pbwrite import check_damaged_files, field_int as _int, field_len as _len, varint as _varint

# wangxuewen99/Super-Resolution's FSRCNN x3 (Caffe, 91 images), measured with this library (MATLAB protocol).
# As Caffe runs it (deconv pad 4 = offset 4) its output is 2 HR pixels off: its training labels were cropped
# there. offset=2 lines it up.
WANG_SET5_ALIGNED, WANG_SET5_AS_CAFFE = 32.10, 22.16


def _wang(shared_data: Path, name: str = "snapshot_iter_2546000.caffemodel") -> Path:
    return require_file(shared_data / "weights" / "wangxuewen99_fsrcnn_caffe" / name)


# --------------------------------------------------------------------------------------------------
# The real file


def test_wang_structure(shared_data):
    spec = load_caffe(_wang(shared_data), offset="caffe")
    assert spec.kind == "fsrcnn" and spec.scale == 3
    assert [l.cout for l in spec.layers] == [56, 12, 12, 12, 12, 12, 56]
    assert [l.k for l in spec.layers] == [5, 1, 3, 3, 3, 3, 1]
    assert all(l.activation == "prelu" and l.slope.shape == (l.cout,) and l.border == "zero" for l in spec.layers)
    assert isinstance(spec.tail, Deconv) and spec.tail.weight.shape == (56, 1, 9, 9)
    assert spec.tail.offset == 4 and spec.tail.border == "zero"  # pad 4, exactly as Caffe runs it


def test_wang_prototxt_gives_the_same_network(shared_data):
    path = _wang(shared_data)
    a = load_caffe(path, offset="caffe")
    b = load_caffe(path, prototxt=_wang(shared_data, "FSRCNN_mat.prototxt"), offset="caffe")
    for x, y in zip(a.layers + (a.tail,), b.layers + (b.tail,)):
        np.testing.assert_array_equal(x.weight, y.weight)
        np.testing.assert_array_equal(x.bias, y.bias)
    assert b.tail.offset == 4


def test_wang_engine_matches_oracle(shared_data, gray_crop):
    spec = load_caffe(_wang(shared_data), offset="caffe")
    y = gray_crop.astype(np.float32) / 255
    np.testing.assert_allclose(Model(spec).run_y(y), oracle.run(spec, y), atol=1e-4)


def test_wang_matches_opencv_caffe_importer(shared_data):
    """OpenCV's own Caffe importer (removed in OpenCV 5; present in 4.x) on a random Y image. Caffe's
    output is 3 * in - 2 (pad 4): the engine's first 3 * in - 2 rows and columns must equal it.
    Measured: 6.4e-6 (OpenCV 4.13)."""
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2.dnn, "readNetFromCaffe"):
        pytest.skip(f"OpenCV {cv2.__version__} has no Caffe importer (removed in 5.0)")
    path = _wang(shared_data)
    net = cv2.dnn.readNetFromCaffe(str(_wang(shared_data, "FSRCNN_mat.prototxt")), str(path))
    y = np.random.default_rng(0).random((20, 23), dtype=np.float32)
    net.setInput(y[None, None])
    theirs = net.forward()[0, 0]
    assert theirs.shape == (3 * 20 - 2, 3 * 23 - 2)
    ours = Model(load_caffe(path, offset="caffe")).run_y(y)
    assert ours.shape == (60, 69)
    assert np.abs(ours[: theirs.shape[0], : theirs.shape[1]] - theirs).max() <= 1e-4


def test_wang_set5_scores(shared_data):
    set5 = metrics.read_image_set(shared_data / "Set5")
    path = _wang(shared_data)
    aligned = Model.load(path, offset=2)
    psnr = float(np.mean([s.psnr for s in metrics.evaluate_set(set5, 3, aligned.run_y)]))
    assert psnr >= WANG_SET5_ALIGNED - 0.05
    as_caffe = Model.load(path, offset="caffe")
    psnr = float(np.mean([s.psnr for s in metrics.evaluate_set(set5, 3, as_caffe.run_y)]))
    assert psnr == pytest.approx(WANG_SET5_AS_CAFFE, abs=0.05)


def test_wang_through_load_weights(shared_data):
    path = _wang(shared_data)
    (spec,) = load_weights(path, 3, prototxt=_wang(shared_data, "FSRCNN_mat.prototxt"), offset=2)
    assert spec.tail.offset == 2 and spec.metadata["deconv_offset_caffe"] == "4"
    with pytest.raises(ValueError, match="stride 3, but scale=2"):
        load_weights(path, 2)


def test_truncated_and_corrupted_files_raise_value_error(shared_data, tmp_path):
    data = _wang(shared_data).read_bytes()
    # Cut before the end of the deconvolution layer (after it only the loss layer follows, which a
    # cut may drop cleanly).
    end = data.rindex(b"EuclideanLoss") - 20
    check_damaged_files(load_caffe, data, tmp_path / "bad.caffemodel", end, "no layers", NetworkSpec)


# --------------------------------------------------------------------------------------------------
# Hand-built models: a minimal protobuf writer, independent of the reader under test


def _str(field: int, s: str) -> bytes:
    return _len(field, s.encode())


def _blob(arr: np.ndarray, legacy: bool = False) -> bytes:
    a = np.asarray(arr, "<f4")
    data = _len(5, a.tobytes())
    if legacy:  # num / channels / height / width, padded on the left to 4-D
        dims = (1,) * (4 - a.ndim) + a.shape
        return b"".join(_int(i + 1, d) for i, d in enumerate(dims)) + data
    return _len(7, _len(1, b"".join(_varint(d) for d in a.shape))) + data


def _conv_param(num_output: int, k: int, pad: int, stride: int = 1, group: int = 1, hw: bool = False) -> bytes:
    out = _int(1, num_output) + (_int(5, group) if group != 1 else b"")
    if hw:  # the _h / _w form
        return out + _int(9, pad) + _int(10, pad) + _int(11, k) + _int(12, k) + _int(13, stride) + _int(14, stride)
    return out + _int(3, pad) + _int(4, k) + _int(6, stride)


_V1_ENUM = {"Convolution": 4, "Deconvolution": 39, "ReLU": 18, "HDF5Data": 9, "EuclideanLoss": 7, "Pooling": 17}


def _encode_layer(layer: dict, v1: bool, typed: bool) -> bytes:
    """One layer description as a LayerParameter (field 100) or a V1LayerParameter (field 2)."""
    conv = _conv_param(**layer["conv"], hw=v1) if layer.get("conv") else b""
    blobs = layer.get("blobs", [])
    if v1:
        msg = _str(4, layer["name"]) + (_int(5, _V1_ENUM[layer["type"]]) if typed else b"")
        msg += b"".join(_str(2, b) for b in layer["bottom"]) + b"".join(_str(3, t) for t in layer["top"])
        msg += b"".join(_len(6, _blob(b, legacy=True)) for b in blobs) + (_len(10, conv) if conv else b"")
        return _len(2, msg + layer.get("extra", b""))
    msg = _str(1, layer["name"]) + (_str(2, layer["type"]) if typed else b"")
    msg += b"".join(_str(3, b) for b in layer["bottom"]) + b"".join(_str(4, t) for t in layer["top"])
    msg += b"".join(_len(7, _blob(b)) for b in blobs) + (_len(106, conv) if conv else b"")
    return _len(100, msg + layer.get("extra", b""))


def _layers(spec: NetworkSpec, pad: int | None = None, crop: int | None = None, data_layer: bool = True) -> list[dict]:
    """spec as Caffe layer descriptions: conv (+ activation) ..., deconvolution [cin, 1, k, k] with pad,
    optional crop, a loss."""
    out: list[dict] = []
    if data_layer:
        out.append(dict(name="data", type="HDF5Data", bottom=[], top=["data", "label"]))
    bottom = "data"
    for i, layer in enumerate(spec.layers):
        name = f"conv{i + 1}"
        out.append(dict(name=name, type="Convolution", bottom=[bottom], top=[name], blobs=[layer.weight, layer.bias],
                        conv=dict(num_output=layer.cout, k=layer.k, pad=layer.k // 2)))
        bottom = name
        if layer.activation == "prelu":
            out.append(dict(name=f"prelu{i + 1}", type="PReLU", bottom=[name], top=[name], blobs=[layer.slope]))
        elif layer.activation == "relu":
            out.append(dict(name=f"relu{i + 1}", type="ReLU", bottom=[name], top=[name]))
    t = spec.tail
    if isinstance(t, Deconv):
        out.append(dict(name="deconv", type="Deconvolution", bottom=[bottom], top=["deconv"], blobs=[t.weight, t.bias],
                        conv=dict(num_output=1, k=t.weight.shape[-1], pad=t.offset if pad is None else pad,
                                  stride=t.scale)))
        bottom = "deconv"
        if crop is not None:
            out.append(dict(name="crop", type="Crop", bottom=["deconv", "data"], top=["out"],
                            extra=_len(144, _int(1, 2) + _int(2, crop))))
    out.append(dict(name="loss", type="EuclideanLoss", bottom=[bottom, "label"], top=["loss"]))
    return out


def _caffemodel(spec: NetworkSpec | list[dict], v1: bool = False, typed: bool = True, **kw: object) -> bytes:
    layers = _layers(spec, **kw) if isinstance(spec, NetworkSpec) else spec
    return _str(1, "net") + b"".join(_encode_layer(layer, v1, typed) for layer in layers)


def _named(layers: list[dict], name: str) -> dict:
    return next(layer for layer in layers if layer["name"] == name)


def _write(tmp_path: Path, data: bytes, name: str = "net.caffemodel") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _caffe_reference(spec: NetworkSpec, y: np.ndarray, pad: int) -> np.ndarray:
    """What Caffe computes, directly: the oracle's convolutions, then Deconvolution as Caffe defines it
    (scatter every LR pixel's kernel at stride s into the full (in-1)*s + k output, crop pad per side)."""
    x = y.astype(np.float64)[None]
    for layer in spec.layers:
        x = oracle.conv2d(x, layer.weight, layer.bias, "zero")
        x = oracle.prelu(x, layer.slope) if layer.activation == "prelu" else np.maximum(x, 0) if layer.activation == "relu" else x
    w = spec.tail.weight[:, 0].astype(np.float64)
    s, k = spec.scale, w.shape[-1]
    h, wd = x.shape[1:]
    full = np.zeros(((h - 1) * s + k, (wd - 1) * s + k))
    for py in range(h):
        for px in range(wd):
            full[s * py : s * py + k, s * px : s * px + k] += np.einsum("c,cij->ij", x[:, py, px], w)
    out = full[pad : full.shape[0] - pad, pad : full.shape[1] - pad]
    return out + float(spec.tail.bias[0])


@pytest.mark.parametrize("scale, pad", [(2, 4), (3, 4), (3, 3), (4, 4), (3, 1), (4, 2)])
def test_deconvolution_pad_is_the_engine_offset(tmp_path, scale, pad):
    """The check that pad maps to offset: the engine equals Caffe's deconvolution on every output both
    define (Caffe's is (in-1)*s - 2*pad + k, the engine's s*in)."""
    spec = netgen.fsrcnn(np.random.default_rng(scale * 10 + pad), d=6, s=3, m=1, scale=scale, offset=pad)
    got = load_caffe(_write(tmp_path, _caffemodel(spec)), offset="caffe")
    assert got.tail.offset == pad and got.scale == scale
    for a, b in zip(got.layers + (got.tail,), spec.layers + (spec.tail,)):
        np.testing.assert_array_equal(a.weight, b.weight)
    y = np.random.default_rng(1).random((9, 11), dtype=np.float32)
    ours, ref = Model(got).run_y(y), _caffe_reference(spec, y, pad)
    rows, cols = min(ours.shape[0], ref.shape[0]), min(ours.shape[1], ref.shape[1])
    assert ref.shape == ((9 - 1) * scale - 2 * pad + 9, (11 - 1) * scale - 2 * pad + 9)
    np.testing.assert_allclose(ours[:rows, :cols], ref[:rows, :cols], atol=1e-4)
    np.testing.assert_allclose(ours, oracle.run(got, y), atol=1e-4)


def test_crop_after_deconvolution_adds_to_the_offset(tmp_path):
    spec = netgen.fsrcnn(np.random.default_rng(5), d=6, s=3, m=1, scale=3, offset=1)
    got = load_caffe(_write(tmp_path, _caffemodel(spec, pad=1, crop=3)), offset="caffe")
    assert got.tail.offset == 4


def _relu_spec(rng: np.random.Generator, scale: int = 3) -> NetworkSpec:
    layers = (
        Conv("a", rng.normal(0, 0.3, (6, 1, 5, 5)), rng.normal(0, 0.1, 6), "relu"),
        Conv("b", rng.normal(0, 0.3, (4, 6, 3, 3)), rng.normal(0, 0.1, 4), "relu"),
    )
    tail = Deconv("d", rng.normal(0, 0.2, (4, 1, 9, 9)), rng.normal(0, 0.1, 1), scale, 4)
    return NetworkSpec("fsrcnn", layers, tail, scale)


def test_legacy_v1_layers(tmp_path):
    """V1LayerParameter (NetParameter field 2, enum types, other field numbers, 4-D legacy blob shapes,
    kernel_h/_w parameters)."""
    spec = _relu_spec(np.random.default_rng(2))
    got = load_caffe(_write(tmp_path, _caffemodel(spec, v1=True)), offset="caffe")  # kernel_h/_w, stride_h/_w, pad_h/_w
    assert [l.activation for l in got.layers] == ["relu", "relu"] and got.tail.offset == 4
    for a, b in zip(got.layers + (got.tail,), spec.layers + (spec.tail,)):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)


def test_leaky_relu_and_shared_prelu(tmp_path):
    rng = np.random.default_rng(3)
    layers = _layers(netgen.fsrcnn(rng, d=6, s=3, m=1, scale=2, shared_slope=True))
    for layer in layers:
        if layer["type"] == "PReLU":
            layer["extra"] = _len(131, _int(2, 1))  # channel_shared: true
    got = load_caffe(_write(tmp_path, _caffemodel(layers)), offset="caffe")
    assert all(l.slope.shape == (1,) for l in got.layers)
    layers = _layers(_relu_spec(rng))
    _named(layers, "relu1")["extra"] = _len(123, b"\x0d" + struct.pack("<f", 0.25))  # negative_slope
    got = load_caffe(_write(tmp_path, _caffemodel(layers), "leaky.caffemodel"), offset="caffe")
    assert [l.activation for l in got.layers] == ["prelu", "relu"]
    assert got.layers[0].slope.tolist() == [0.25]


def test_weights_only_file_needs_a_prototxt(tmp_path):
    spec = netgen.fsrcnn(np.random.default_rng(4), d=6, s=3, m=1, scale=3, offset=3)
    path = _write(tmp_path, _caffemodel(spec, typed=False, data_layer=False))
    with pytest.raises(ValueError, match="has no type.*prototxt="):
        load_caffe(path)
    names = ["conv1", "conv2", "conv3", "conv4"]
    ks = [5, 1, 3, 1]
    text = 'name: "x"\ninput: "data"\ninput_dim: 1 input_dim: 1 input_dim: 7 input_dim: 7\n'
    bottom = "data"
    for i, (name, k, layer) in enumerate(zip(names, ks, spec.layers)):
        text += (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}"\n'
                 f'  convolution_param {{ num_output: {layer.cout} kernel_size: {k} pad: {k // 2} stride: 1\n'
                 f'    weight_filler {{ type: "msra" }} }} }}  # comment\n'
                 f"layer {{ name: 'prelu{i + 1}' type: 'PReLU' bottom: '{name}' top: '{name}' }}\n")
        bottom = name
    text += (f'layer {{ name: "deconv" type: "Deconvolution" bottom: "{bottom}" top: "deconv"\n'
             "  convolution_param { num_output: 1 kernel_size: 9 stride: 3 pad: 3 } }\n")
    proto = tmp_path / "deploy.prototxt"
    proto.write_text(text)
    got = load_caffe(path, prototxt=proto, offset="caffe")
    assert got.tail.offset == 3 and got.scale == 3
    for a, b in zip(got.layers + (got.tail,), spec.layers + (spec.tail,)):
        np.testing.assert_array_equal(a.weight, b.weight)
    # The same in the legacy text format.
    legacy = text.replace("layer {", "layers {").replace('"Convolution"', "CONVOLUTION").replace(
        '"Deconvolution"', "DECONVOLUTION")
    proto.write_text(legacy)
    assert load_caffe(path, prototxt=proto, offset="caffe").tail.offset == 3
    proto.write_text(text.replace('name: "conv3"', 'name: "renamed"'))
    with pytest.raises(ValueError, match="'renamed'.*no weight blobs"):
        load_caffe(path, prototxt=proto)
    proto.write_text(text + "layer {")
    with pytest.raises(ValueError, match="prototxt"):
        load_caffe(path, prototxt=proto)


def test_srcnn_like_network_without_deconvolution(tmp_path):
    spec = netgen.srcnn(np.random.default_rng(6), f1=5, f2=1, f3=3, n1=8, n2=4, border="zero")
    path = _write(tmp_path, _caffemodel(spec))
    with pytest.raises(ValueError, match="no Deconvolution layer"):
        load_caffe(path)
    got = load_caffe(path, 3)
    assert got.kind == "srcnn" and got.pre_upsample and [l.activation for l in got.layers] == ["relu", "relu", "none"]


def _set(name: str, **changes: object):
    def mutate(layers: list[dict]) -> None:
        layer = _named(layers, name)
        for key, value in changes.items():
            if key in ("k", "pad", "stride", "group"):
                layer["conv"][key] = value
            else:
                layer[key] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (_set("conv1", type="Pooling"), r"'conv1' of type 'Pooling' is not supported"),
    (_set("conv1", pad=0), r"'conv1'.*pad 0.*pad = kernel // 2"),
    (_set("conv1", k=3), r"'conv1'.*kernel_size 3 but the weight blob is \(6, 1, 5, 5\)"),
    (_set("conv3", bottom=["conv1"]), r"'conv3' \(Convolution\) reads 'conv1'.*skip connections"),
    (_set("conv1", group=2), r"'conv1'.*group 2"),
    (_set("conv2", blobs=[]), r"'conv2'.*no weight blobs"),
    (_set("deconv", pad=40), r"offset 40.*outside"),
    (_set("deconv", stride=0), r"deconv.*scale must be an integer"),
    (_set("prelu1", blobs=[np.ones(2)]), r"'prelu1'.*2 slopes for 6 channels"),
])
def test_unsupported_models_are_refused_naming_the_layer(tmp_path, mutate, message):
    layers = _layers(netgen.fsrcnn(np.random.default_rng(7), d=6, s=3, m=1, scale=3))
    mutate(layers)
    with pytest.raises(ValueError, match=message):
        load_caffe(_write(tmp_path, _caffemodel(layers)))


def test_deconvolution_with_two_outputs_is_refused(tmp_path):
    layers = _layers(netgen.fsrcnn(np.random.default_rng(8), d=6, s=3, m=1, scale=3))
    deconv = _named(layers, "deconv")
    w = deconv["blobs"][0]
    deconv["blobs"] = [np.concatenate([w, w], axis=1), np.zeros(2)]
    with pytest.raises(ValueError, match="'deconv'.*one output channel"):
        load_caffe(_write(tmp_path, _caffemodel(layers)))


@pytest.mark.parametrize("text, message", [
    ("layer { name: 'a' type: 'ReLU' ", r"missing '\}'"),
    ("layer { name: 'a } ", "cannot read"),
    ("x: [1, 2", r"missing '\]'"),
    ("a {" * 200, "nested deeper"),
    ("name: 'net'", r"no layer \{"),
])
def test_damaged_prototxt_raises_value_error(tmp_path, text, message):
    spec = netgen.fsrcnn(np.random.default_rng(9), d=6, s=3, m=1, scale=3)
    proto = tmp_path / "bad.prototxt"
    proto.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_caffe(_write(tmp_path, _caffemodel(spec)), prototxt=proto)
