"""ONNX export and import: exported networks run in ONNX Runtime and OpenCV DNN give the engine's output,
save -> load is exact, PyTorch's own exports import, and unsupported graphs fail naming the node."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

import netgen
import oracle
from peer_api import require
from fsrcnn_fast import Model
from fsrcnn_fast.weights.schema import Deconv, NetworkSpec, Subpixel

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fsrcnn_fast.weights.onnx_io import load_onnx, save_onnx  # noqa: E402

H, W = 13, 17  # small: the machine is shared with the benchmarks


def _y(seed: int = 0, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def _small_fsrcnn(seed: int, **kw) -> NetworkSpec:
    return netgen.fsrcnn(np.random.default_rng(seed), d=8, s=4, m=1, **kw)


CASES = {
    **{f"deconv-{b}-x{s}-offset{o}": (b, s, o) for b in ("zero", "replicate") for s in (2, 3, 4) for o in (4, 3)},
    **{f"deconv-{b}-x3-offset{o}": (b, 3, o) for b in ("zero", "replicate") for o in (0, -2, 7, 12)},
}


def _spec(case: str) -> NetworkSpec:
    if case in CASES:
        border, scale, offset = CASES[case]
        return _small_fsrcnn(len(case), border=border, scale=scale, offset=offset)
    if case.startswith("subpixel"):
        _, border, k = case.split("-")
        return _small_fsrcnn(7, border=border, scale=3, tail="subpixel", subpixel_k=int(k[1:]))
    if case == "shared-slope":
        return _small_fsrcnn(8, scale=2, shared_slope=True, border="replicate")
    if case == "fsrcnn-s-shape":
        return netgen.fsrcnn(np.random.default_rng(9), d=32, s=5, m=1, scale=4)
    raise KeyError(case)


ALL_CASES = [*CASES, "subpixel-zero-k1", "subpixel-replicate-k3", "shared-slope", "fsrcnn-s-shape"]


def _srcnn() -> NetworkSpec:
    return netgen.srcnn(np.random.default_rng(10), 9, 1, 5, n1=8, n2=4, scale=2, border="replicate")


def _same_size(spec: NetworkSpec) -> NetworkSpec:
    """The SRCNN network without its bicubic pre-upsampling: what the exported graph computes."""
    return dataclasses.replace(spec, scale=1, pre_upsample=False)


def _ort(path, y: np.ndarray) -> np.ndarray:
    ort = require("onnxruntime", "InferenceSession")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: y[None, None]})[0][0, 0]


def _opencv(path, y: np.ndarray) -> np.ndarray:
    cv2 = require("cv2", "dnn.readNetFromONNX")
    try:
        net = cv2.dnn.readNetFromONNX(str(path))
        net.setInput(y[None, None])
        return net.forward()[0, 0]
    except cv2.error as exc:  # report, don't fail: OpenCV's ONNX coverage is not ours to fix
        pytest.skip(f"OpenCV DNN cannot run this graph: {str(exc).strip().splitlines()[-1]}")


def _export(spec: NetworkSpec, tmp_path, opset: int = 17):
    path = tmp_path / "net.onnx"
    save_onnx(spec, path, opset=opset)
    return path


# --------------------------------------------------------------------------------------------------
# Export


@pytest.mark.parametrize("case", ALL_CASES)
def test_export_runs_in_onnxruntime(tmp_path, case):
    spec = _spec(case)
    y = _y(1)
    ours = Model(spec).run_y(y)
    theirs = _ort(_export(spec, tmp_path), y)
    assert theirs.shape == (H * spec.scale, W * spec.scale)
    assert np.abs(theirs - ours).max() <= 1e-4
    np.testing.assert_allclose(ours, oracle.run(spec, y), atol=1e-4)


@pytest.mark.parametrize("case", ALL_CASES)
def test_export_runs_in_opencv(tmp_path, case):
    spec = _spec(case)
    y = _y(2)
    theirs = _opencv(_export(spec, tmp_path), y)
    assert np.abs(theirs - Model(spec).run_y(y)).max() <= 1e-4


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_model_exports(tmp_path, scale):
    spec = Model.load("fsrcnn", scale=scale).spec
    y = _y(3, (24, 31))
    ours = Model(spec).run_y(y)
    path = _export(spec, tmp_path)
    assert np.abs(_ort(path, y) - ours).max() <= 1e-4
    assert np.abs(_opencv(path, y) - ours).max() <= 1e-4


def test_srcnn_exports_the_network_on_the_upscaled_input(tmp_path):
    spec = _srcnn()
    x = _y(4, (2 * H, 2 * W))  # what the caller feeds: the image already upscaled by spec.scale
    path = _export(spec, tmp_path)
    ours = Model(_same_size(spec)).run_y(x)
    assert np.abs(_ort(path, x) - ours).max() <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["fsrcnn_fast.pre_upsample"] == "matlab-bicubic" and meta["fsrcnn_fast.scale"] == "2"


def test_opset_11_and_dynamic_batch(tmp_path):
    spec = _spec("deconv-replicate-x3-offset4")
    path = _export(spec, tmp_path, opset=11)
    ort = require("onnxruntime", "InferenceSession")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.stack([_y(5), _y(6)])[:, None]
    out = sess.run(None, {"input": batch})[0]
    for i in range(2):
        assert np.abs(out[i, 0] - Model(spec).run_y(batch[i, 0])).max() <= 1e-4


def test_bad_opset(tmp_path):
    with pytest.raises(ValueError, match="opset"):
        save_onnx(_spec("shared-slope"), tmp_path / "x.onnx", opset=9)


# --------------------------------------------------------------------------------------------------
# Round trip


def _assert_same(a: NetworkSpec, b: NetworkSpec) -> None:
    assert (a.kind, a.scale, a.pre_upsample, len(a.layers)) == (b.kind, b.scale, b.pre_upsample, len(b.layers))
    for la, lb in zip(a.layers, b.layers):
        assert (la.name, la.activation, la.border) == (lb.name, lb.activation, lb.border)
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)
        if la.slope is None:
            assert lb.slope is None
        else:
            np.testing.assert_array_equal(la.slope, lb.slope)
    ta, tb = a.tail, b.tail
    assert type(ta) is type(tb)
    if ta is not None:
        assert (ta.name, ta.scale, ta.border) == (tb.name, tb.scale, tb.border)
        np.testing.assert_array_equal(ta.weight, tb.weight)
        np.testing.assert_array_equal(ta.bias, tb.bias)
    if isinstance(ta, Deconv):
        assert ta.offset == tb.offset


@pytest.mark.parametrize("case", [*ALL_CASES, "srcnn", "shipped"])
def test_round_trip(tmp_path, case):
    spec = {"srcnn": _srcnn, "shipped": lambda: Model.load("fsrcnn", scale=3).spec}.get(case, lambda: _spec(case))()
    path = _export(spec, tmp_path)
    back = load_onnx(path)
    _assert_same(spec, back)
    assert back.metadata["source"] == "ONNX net.onnx"
    assert load_onnx(path, scale=spec.scale).scale == spec.scale
    if spec.tail is not None:  # a tail-less (SRCNN) graph takes its scale from the caller
        with pytest.raises(ValueError, match="upscales by .*not 7"):
            load_onnx(path, scale=7)


def test_srcnn_without_metadata_needs_scale(tmp_path):
    path = _export(_srcnn(), tmp_path)
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    with pytest.raises(ValueError, match="pass scale="):
        load_onnx(path)
    spec = load_onnx(path, scale=2)
    assert spec.kind == "srcnn" and spec.pre_upsample and spec.scale == 2


# --------------------------------------------------------------------------------------------------
# Graphs written by others


def _torch_export(net, tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.onnx"
    try:
        torch.onnx.export(net.eval(), torch.zeros(1, 1, 8, 8), str(path), opset_version=17, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {2: "h", 3: "w"}}, dynamo=False)
    except Exception as exc:  # the legacy exporter may be gone in a future PyTorch
        pytest.skip(f"torch.onnx.export failed: {exc}")
    return path


def _torch_nets():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    return {
        "deconv": (nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.PReLU(8), nn.Conv2d(8, 4, 1), nn.ReLU(),
                                 nn.ConvTranspose2d(4, 1, 9, stride=3, padding=4, output_padding=2)), 3, 4, "zero"),
        "deconv-leaky-x2": (nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.LeakyReLU(0.1),
                                          nn.ConvTranspose2d(8, 1, 9, stride=2, padding=4, output_padding=1)), 2, 4, "zero"),
        "pixelshuffle-replicate": (nn.Sequential(nn.Conv2d(1, 8, 5, padding=2, padding_mode="replicate"), nn.PReLU(),
                                                 nn.Conv2d(8, 9, 3, padding=1, padding_mode="replicate"), nn.PixelShuffle(3)),
                                   3, None, "replicate"),
    }


@pytest.mark.parametrize("name", ["deconv", "deconv-leaky-x2", "pixelshuffle-replicate"])
def test_pytorch_exports_import(tmp_path, name):
    torch = pytest.importorskip("torch")
    net, scale, offset, border = _torch_nets()[name]
    spec = load_onnx(_torch_export(net, tmp_path))
    assert spec.scale == scale and spec.layers[0].border == border
    if offset is not None:
        assert isinstance(spec.tail, Deconv) and spec.tail.offset == offset
    else:
        assert isinstance(spec.tail, Subpixel)  # PixelShuffle is DepthToSpace(mode="CRD")
    x = torch.from_numpy(_y(11))
    with torch.no_grad():
        ref = net(x[None, None])[0, 0].numpy()
    assert np.abs(Model(spec).run_y(x.numpy()) - ref).max() <= 1e-4


def _model(nodes, inits, opset: int = 17):
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None, None])],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _save(model, tmp_path, name: str = "hand.onnx"):
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _head(rng, cout: int = 4):
    """x -> Conv(3x3, 1->cout, pads 1) -> PRelu -> 'h' and its initializers."""
    inits = {"w1": rng.normal(0, 0.3, (cout, 1, 3, 3)).astype(np.float32),
             "b1": rng.normal(0, 0.1, cout).astype(np.float32),
             "a1": np.full((cout, 1, 1), 0.2, np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("PRelu", ["c1", "a1"], ["h"], name="prelu1")]
    return nodes, inits


@pytest.mark.parametrize("pads, output_padding, pad, crop, offset", [
    ([0, 0, 6, 6], [0, 0], None, None, 0),             # asymmetric pads: offset 0
    ([5, 5, 3, 3], [2, 2], None, None, 5),             # pads and output_padding both
    ([0, 0, 0, 0], [0, 0], (1, 2), (7, -8), 4),        # edge Pad + bare ConvTranspose + Slice crop
    ([2, 2, 0, 0], [0, 0], (0, 0), (1, -3), 3),        # Slice only
])
def test_hand_built_conv_transpose_geometries(tmp_path, pads, output_padding, pad, crop, offset):
    """The offset is read from pads / output_padding / Pad / Slice; ONNX Runtime runs the same file."""
    rng = np.random.default_rng(12)
    nodes, inits = _head(rng)
    inits.update(wt=rng.normal(0, 0.1, (4, 1, 9, 9)).astype(np.float32), bt=np.array([0.1], np.float32))
    x = "h"
    if pad is not None and pad != (0, 0):
        inits["pads"] = np.array([0, 0, pad[0], pad[0], 0, 0, pad[1], pad[1]], np.int64)
        nodes.append(helper.make_node("Pad", [x, "pads"], ["hp"], name="pad", mode="edge"))
        x = "hp"
    out = "t" if crop else "y"
    nodes.append(helper.make_node("ConvTranspose", [x, "wt", "bt"], [out], name="deconv", strides=[3, 3],
                                  pads=pads, output_padding=output_padding))
    if crop:
        inits.update(st=np.array([crop[0]] * 2, np.int64), en=np.array([crop[1]] * 2, np.int64),
                     ax=np.array([2, 3], np.int64))
        nodes.append(helper.make_node("Slice", ["t", "st", "en", "ax"], ["y"], name="crop"))
    path = _save(_model(nodes, inits), tmp_path)
    spec = load_onnx(path)
    assert spec.tail.offset == offset and spec.tail.border == ("replicate" if pad and pad != (0, 0) else "zero")
    y = _y(13)
    assert np.abs(Model(spec).run_y(y) - _ort(path, y)).max() <= 1e-4


def test_constant_nodes_sub_bias_and_crd(tmp_path):
    """Weights as Constant nodes, a Sub bias after the shuffle, DepthToSpace CRD."""
    rng = np.random.default_rng(14)
    nodes, inits = _head(rng)
    w2 = rng.normal(0, 0.3, (4, 4, 1, 1)).astype(np.float32)
    nodes += [
        helper.make_node("Constant", [], ["w2"], name="k", value=numpy_helper.from_array(w2)),
        helper.make_node("Conv", ["h", "w2"], ["c2"], name="conv2"),
        helper.make_node("DepthToSpace", ["c2"], ["d"], name="shuffle", blocksize=2, mode="CRD"),
        helper.make_node("Constant", [], ["k2"], name="k2", value_float=0.5),
        helper.make_node("Sub", ["d", "k2"], ["y"], name="bias"),
    ]
    path = _save(_model(nodes, inits), tmp_path)
    spec = load_onnx(path)
    np.testing.assert_array_equal(spec.tail.bias, np.full(4, -0.5, np.float32))
    y = _y(15)
    assert np.abs(Model(spec).run_y(y) - _ort(path, y)).max() <= 1e-4


# --------------------------------------------------------------------------------------------------
# Errors


def _error(tmp_path, extra_nodes, extra_inits=None, match: str = "") -> str:
    rng = np.random.default_rng(16)
    nodes, inits = _head(rng)
    inits.update(extra_inits or {})
    path = _save(_model(nodes + extra_nodes, inits), tmp_path)
    with pytest.raises(ValueError, match=match) as err:
        load_onnx(path)
    return str(err.value)


def test_error_unsupported_op_names_the_node(tmp_path):
    _error(tmp_path, [helper.make_node("Sigmoid", ["h"], ["y"], name="squash")], match="'squash'.*'Sigmoid'.*supported")


def test_error_strided_conv(tmp_path):
    w = np.zeros((4, 4, 3, 3), np.float32)
    _error(tmp_path, [helper.make_node("Conv", ["h", "w"], ["y"], name="down", strides=[2, 2], pads=[1, 1, 1, 1])],
           {"w": w}, match="'down'.*strides")


def test_error_channels_do_not_chain(tmp_path):
    w = np.zeros((4, 5, 3, 3), np.float32)
    _error(tmp_path, [helper.make_node("Conv", ["h", "w"], ["y"], name="c2", pads=[1, 1, 1, 1])],
           {"w": w}, match="'c2'.*5 input channels.*gives 4")


def test_error_valid_conv_shrinks(tmp_path):
    w = np.zeros((4, 4, 3, 3), np.float32)
    _error(tmp_path, [helper.make_node("Conv", ["h", "w"], ["y"], name="c2")], {"w": w}, match="'c2'.*padding.*same size")


def test_error_branch(tmp_path):
    w = np.zeros((4, 4, 1, 1), np.float32)
    nodes = [helper.make_node("Conv", ["h", "w"], ["c2"], name="c2"),
             helper.make_node("Add", ["c2", "h"], ["y"], name="skip")]
    _error(tmp_path, nodes, {"w": w}, match="'h' feeds 'c2', 'skip'")


def test_error_reflect_pad(tmp_path):
    nodes = [helper.make_node("Pad", ["h", "p"], ["y"], name="mirror", mode="reflect")]
    _error(tmp_path, nodes, {"p": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)}, match="'mirror'.*reflect")


def test_error_per_w_slope(tmp_path):
    """PRelu slope [C] broadcasts along W in ONNX, not along channels."""
    rng = np.random.default_rng(17)
    nodes, inits = _head(rng)
    inits["a1"] = np.full(4, 0.2, np.float32)
    path = _save(_model(nodes[:-1] + [helper.make_node("PRelu", ["c1", "a1"], ["y"], name="p")], inits), tmp_path)
    with pytest.raises(ValueError, match="'p'.*not per-channel"):
        load_onnx(path, scale=1)


def test_error_not_onnx(tmp_path):
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"\x08\x07 definitely not a model" * 10)
    with pytest.raises(ValueError, match="junk.onnx"):
        load_onnx(path)


def test_missing_onnx_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # "import onnx" now raises ImportError
    with pytest.raises(ImportError, match="pip install onnx"):
        save_onnx(_spec("shared-slope"), tmp_path / "x.onnx")
    with pytest.raises(ImportError, match="pip install onnx"):
        load_onnx(tmp_path / "x.onnx")
