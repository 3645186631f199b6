"""The same networks, with the same weights, in the runtimes a user could pick instead.
Each builder returns a callable float32 [H, W] -> float32 output, or raises ImportError."""

from __future__ import annotations

from typing import Callable

import numpy as np

from fsrcnn_fast.weights.schema import Deconv, NetworkSpec

Runner = Callable[[np.ndarray], np.ndarray]


def _torch_layers(spec: NetworkSpec, torch):
    nn = torch.nn
    mods = []
    for l in spec.layers:
        conv = nn.Conv2d(l.cin, l.cout, l.k, padding=l.k // 2)
        conv.weight.data = torch.from_numpy(l.weight.copy())
        conv.bias.data = torch.from_numpy(l.bias.copy())
        mods.append(conv)
        if l.activation == "prelu":
            act = nn.PReLU(len(l.slope))
            act.weight.data = torch.from_numpy(l.slope.copy())
            mods.append(act)
        elif l.activation == "relu":
            mods.append(nn.ReLU())
    return mods


def torch_eager(spec: NetworkSpec, threads: int) -> Runner:
    import torch

    torch.set_num_threads(threads)
    mods = _torch_layers(spec, torch)
    if isinstance(spec.tail, Deconv):
        t = spec.tail
        s = t.scale
        k = t.weight.shape[-1]
        deconv = torch.nn.ConvTranspose2d(t.cin, 1, k, stride=s, padding=t.offset,
                                          output_padding=s + 2 * t.offset - k)
        deconv.weight.data = torch.from_numpy(t.weight.copy())
        deconv.bias.data = torch.from_numpy(t.bias.copy())
        mods.append(deconv)
    net = torch.nn.Sequential(*mods).eval()

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x)[None, None])[0, 0].numpy()

    return run


def torch_subpixel_frozen(spec: NetworkSpec, threads: int) -> Runner:
    """The deconv rewritten as a conv to scale^2 phases + PixelShuffle, TorchScript-frozen: the
    fastest PyTorch form. At offset 4 the phase windows span 4x4 LR taps (padding 1 before, 2 after)."""
    import torch

    torch.set_num_threads(threads)
    mods = _torch_layers(spec, torch)
    t = spec.tail
    if isinstance(t, Deconv):
        s, k, off = t.scale, t.weight.shape[-1], t.offset
        j_min = min(-((r + off) // s) for r in range(s))
        j_max = max((k - 1 - r - off) // s for r in range(s))
        win = j_max - j_min + 1
        w = np.zeros((s * s, t.cin, win, win), np.float32)
        for ry in range(s):
            for rx in range(s):
                for jy in range(j_min, j_max + 1):
                    for jx in range(j_min, j_max + 1):
                        ty, tx = s * jy + ry + off, s * jx + rx + off
                        if 0 <= ty < k and 0 <= tx < k:
                            w[ry * s + rx, :, j_max - jy, j_max - jx] = t.weight[:, 0, ty, tx]
        conv = torch.nn.Conv2d(t.cin, s * s, win)
        conv.weight.data = torch.from_numpy(w)
        conv.bias.data = torch.full((s * s,), float(t.bias[0]))
        pad = torch.nn.ZeroPad2d((j_max, -j_min, j_max, -j_min))
        mods += [pad, conv, torch.nn.PixelShuffle(s)]
    net = torch.jit.freeze(torch.jit.script(torch.nn.Sequential(*mods).eval()))

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(x)[None, None])[0, 0].numpy()

    return run


def onnx_model(spec: NetworkSpec):
    """An ONNX graph of the network (Conv, PRelu, Relu, ConvTranspose), zero padding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    x = "input"
    for i, l in enumerate(spec.layers):
        inits += [numpy_helper.from_array(l.weight, f"w{i}"), numpy_helper.from_array(l.bias, f"b{i}")]
        r = l.k // 2
        nodes.append(helper.make_node("Conv", [x, f"w{i}", f"b{i}"], [f"c{i}"], pads=[r, r, r, r]))
        x = f"c{i}"
        if l.activation == "prelu":
            inits.append(numpy_helper.from_array(l.slope.reshape(-1, 1, 1).astype(np.float32), f"a{i}"))
            nodes.append(helper.make_node("PRelu", [x, f"a{i}"], [f"p{i}"]))
            x = f"p{i}"
        elif l.activation == "relu":
            nodes.append(helper.make_node("Relu", [x], [f"p{i}"]))
            x = f"p{i}"
    t = spec.tail
    if isinstance(t, Deconv):
        s = t.scale
        inits += [numpy_helper.from_array(t.weight, "wt"), numpy_helper.from_array(t.bias, "bt")]
        extra = s + 2 * t.offset - t.weight.shape[-1]  # output size (H-1)s + k - 2 offset + extra = H s
        nodes.append(helper.make_node("ConvTranspose", [x, "wt", "bt"], ["output"], strides=[s, s],
                                      pads=[t.offset] * 4, output_padding=[extra, extra]))
    else:
        nodes.append(helper.make_node("Identity", [x], ["output"]))
    graph = helper.make_graph(
        nodes, "net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, None, None])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, None, None])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def onnxruntime(spec: NetworkSpec, threads: int) -> Runner:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_model(spec).SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {"input": x[None, None]})[0][0, 0]

    return run


def opencv_dnn(spec: NetworkSpec, threads: int) -> Runner:
    import cv2

    cv2.setNumThreads(threads)
    net = cv2.dnn.readNetFromONNX(np.frombuffer(onnx_model(spec).SerializeToString(), np.uint8))

    def run(x: np.ndarray) -> np.ndarray:
        net.setInput(x[None, None])
        return net.forward()[0, 0]

    return run


PEERS = {
    "torch-eager": torch_eager,
    "torch-subpixel-frozen": torch_subpixel_frozen,
    "onnxruntime": onnxruntime,
    "opencv-dnn": opencv_dnn,
}
