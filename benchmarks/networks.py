"""The networks the benchmarks time, as canonical specs (same weights for every runtime)."""

from __future__ import annotations

import numpy as np

from fsrcnn_fast import Model
from fsrcnn_fast.weights.schema import Conv, Deconv, NetworkSpec

SCALE = 3
# LR sizes (rows, cols): the paper's case, 1080p video, and a latency probe.
SIZES = {"240x240": (240, 240), "1080p": (360, 640), "64x64": (64, 64)}


def _conv(rng, name, cin, cout, k, act, border):
    w = rng.normal(0, 1 / np.sqrt(cin * k * k), (cout, cin, k, k))
    slope = np.full(cout, 0.25) if act == "prelu" else None
    return Conv(name, w, rng.normal(0, 0.01, cout), act, slope, border)


def fsrcnn_shipped(border: str = "zero") -> NetworkSpec:
    """The shipped FSRCNN x3 weights (border switched for peers that only pad with zeros)."""
    spec = Model.load("fsrcnn", scale=SCALE).spec
    layers = tuple(Conv(l.name, l.weight, l.bias, l.activation, l.slope, border) for l in spec.layers)
    t = spec.tail
    return NetworkSpec("fsrcnn", layers, Deconv(t.name, t.weight, t.bias, t.scale, t.offset, border), SCALE)


def fsrcnn_random(d: int, s: int, m: int, border: str = "zero", seed: int = 0, offset: int = 3) -> NetworkSpec:
    """Random weights of the shape; deconv offset 3, the x3 alignment of the shipped and the authors' models."""
    rng = np.random.default_rng(seed)
    layers = [_conv(rng, "feature", 1, d, 5, "prelu", border), _conv(rng, "shrink", d, s, 1, "prelu", border)]
    layers += [_conv(rng, f"map.{i}", s, s, 3, "prelu", border) for i in range(m)]
    layers.append(_conv(rng, "expand", s, d, 1, "prelu", border))
    tail = Deconv("deconv", rng.normal(0, 0.01, (d, 1, 9, 9)), np.zeros(1), SCALE, offset, border)
    return NetworkSpec("fsrcnn", tuple(layers), tail, SCALE)


def srcnn_random(f2: int, border: str = "zero", seed: int = 0) -> NetworkSpec:
    rng = np.random.default_rng(seed)
    layers = (
        _conv(rng, "conv1", 1, 64, 9, "relu", border),
        _conv(rng, "conv2", 64, 32, f2, "relu", border),
        _conv(rng, "conv3", 32, 1, 5, "none", border),
    )
    return NetworkSpec("srcnn", layers, None, SCALE, pre_upsample=True)


NETWORKS = {
    "FSRCNN": lambda: fsrcnn_shipped(),
    "FSRCNN-s": lambda: fsrcnn_random(32, 5, 1),
    "SRCNN-955": lambda: srcnn_random(5),
    "SRCNN-915": lambda: srcnn_random(1),
}


def macs_per_frame(spec: NetworkSpec, lr_shape: tuple[int, int]) -> float:
    pixels = lr_shape[0] * lr_shape[1] * (SCALE * SCALE if spec.pre_upsample else 1)
    return float(spec.macs_per_input_pixel) * pixels


def network_input(spec: NetworkSpec, lr_shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """What the engine itself consumes: LR Y for FSRCNN, the bicubic-upscaled Y for SRCNN."""
    rng = np.random.default_rng(seed)
    shape = (lr_shape[0] * SCALE, lr_shape[1] * SCALE) if spec.pre_upsample else lr_shape
    return rng.uniform(0, 1, shape).astype(np.float32)
