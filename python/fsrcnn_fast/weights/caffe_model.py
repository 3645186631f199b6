"""Caffe ``.caffemodel`` files read without Caffe: the ``NetParameter`` binary (``layer`` and legacy V1
``layers``) decoded with :mod:`.protowire` into :class:`Layer` descriptions, the structure
:mod:`.caffe_prototxt` also produces and :mod:`.caffe_io` interprets."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import protowire as pb
from .errors import WeightsError

__all__ = ["ConvParam", "Layer", "V1_TYPES", "read_caffemodel"]

# --------------------------------------------------------------------------------------------------
# The layer description both readers (binary and text) produce

# V1LayerParameter.LayerType -> the type string of LayerParameter (only those this module may meet).
V1_TYPES = {
    4: "Convolution", 39: "Deconvolution", 18: "ReLU", 5: "Data", 9: "HDF5Data", 10: "HDF5Output",
    12: "ImageData", 29: "MemoryData", 32: "DummyData", 7: "EuclideanLoss", 1: "Accuracy", 36: "Silence",
    22: "Split", 17: "Pooling", 25: "Eltwise", 3: "Concat", 14: "InnerProduct", 23: "TanH", 19: "Sigmoid",
}
@dataclass
class ConvParam:
    """ConvolutionParameter; the repeated pad / kernel_size / stride / dilation as given."""

    num_output: int | None = None
    bias_term: bool = True
    pad: list[int] = field(default_factory=list)
    kernel: list[int] = field(default_factory=list)
    stride: list[int] = field(default_factory=list)
    dilation: list[int] = field(default_factory=list)
    pad_hw: tuple[int | None, int | None] = (None, None)
    kernel_hw: tuple[int | None, int | None] = (None, None)
    stride_hw: tuple[int | None, int | None] = (None, None)
    group: int = 1


@dataclass
class Layer:
    name: str
    type: str
    bottom: list[str] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    blobs: list[np.ndarray] = field(default_factory=list)
    conv: ConvParam | None = None
    channel_shared: bool = False
    negative_slope: float = 0.0
    crop_axis: int = 2
    crop_offset: list[int] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Binary .caffemodel


def _int(value: int | memoryview, wire: int, what: str) -> int:
    """A scalar integer field (the last value wins, as in protobuf); an empty packed run is an error."""
    values = pb.ints(value, wire, what)
    if not values:
        raise WeightsError(f"{what}: empty integer field")
    return values[-1]


def _blob(buf: memoryview, what: str) -> np.ndarray:
    """BlobProto -> array of its shape (BlobShape, else the legacy num/channels/height/width)."""
    shape: list[int] | None = None
    legacy = {1: 0, 2: 0, 3: 0, 4: 0}
    chunks: list[np.ndarray] = []
    for number, wire, value in pb.fields(buf, what):
        if number == 7:
            shape = []
            for n2, w2, v2 in pb.fields(pb.payload(value, wire, pb.LEN, what), f"{what}.shape"):
                if n2 == 1:
                    shape.extend(pb.ints(v2, w2, f"{what}.shape"))
        elif number == 5:
            chunks.append(pb.fixed(value, wire, 4, "<f4", what).astype(np.float64))
        elif number == 8:
            chunks.append(pb.fixed(value, wire, 8, "<f8", what).astype(np.float64))
        elif number in legacy:
            legacy[number] = _int(value, wire, what)
    if shape is None:
        dims = [legacy[i] for i in (1, 2, 3, 4)]
        shape = dims if any(dims) else []
    if any(d < 0 for d in shape):
        raise WeightsError(f"{what}: negative dimension in shape {shape}")
    data = np.concatenate(chunks) if chunks else np.zeros(0)
    count = math.prod(shape) if shape else data.size
    if data.size != count:
        raise WeightsError(f"{what}: {data.size} values for shape {tuple(shape)} ({count} expected)")
    return data.reshape(shape) if shape else data


def _conv_param(buf: memoryview, what: str) -> ConvParam:
    p = ConvParam()
    pad_hw: list[int | None] = [None, None]
    kernel_hw: list[int | None] = [None, None]
    stride_hw: list[int | None] = [None, None]
    for number, wire, value in pb.fields(buf, what):
        if number == 1:
            p.num_output = _int(value, wire, what)
        elif number == 2:
            p.bias_term = bool(_int(value, wire, what))
        elif number == 3:
            p.pad.extend(pb.ints(value, wire, what))
        elif number == 4:
            p.kernel.extend(pb.ints(value, wire, what))
        elif number == 5:
            p.group = _int(value, wire, what)
        elif number == 6:
            p.stride.extend(pb.ints(value, wire, what))
        elif number == 18:
            p.dilation.extend(pb.ints(value, wire, what))
        elif number in (9, 10):
            pad_hw[number - 9] = _int(value, wire, what)
        elif number in (11, 12):
            kernel_hw[number - 11] = _int(value, wire, what)
        elif number in (13, 14):
            stride_hw[number - 13] = _int(value, wire, what)
    p.pad_hw, p.kernel_hw, p.stride_hw = (pad_hw[0], pad_hw[1]), (kernel_hw[0], kernel_hw[1]), (stride_hw[0], stride_hw[1])
    return p


def _flag(buf: memoryview, number: int, what: str) -> bool:
    """A bool field of a small parameter message (prelu_param.channel_shared...)."""
    out = False
    for n, w, v in pb.fields(buf, what):
        if n == number:
            out = bool(_int(v, w, what))
    return out


def _float_field(buf: memoryview, number: int, what: str) -> float:
    out = 0.0
    for n, w, v in pb.fields(buf, what):
        if n == number:
            floats = pb.fixed(v, w, 4, "<f4", what)
            if not floats.size:
                raise WeightsError(f"{what}: empty float field")
            out = float(floats[-1])
    return out


def _crop(layer: Layer, buf: memoryview, what: str) -> None:
    for n, w, v in pb.fields(buf, what):
        if n == 1:
            layer.crop_axis = _int(v, w, what)
        elif n == 2:
            layer.crop_offset.extend(pb.ints(v, w, what))


# (name, type, bottom, top, blobs, convolution_param, prelu_param, relu_param, crop_param) field numbers
_LAYER_FIELDS = {"layer": (1, 2, 3, 4, 7, 106, 131, 123, 144), "layers": (4, 5, 2, 3, 6, 10, None, 30, None)}


def _layer(buf: memoryview, index: int, kind: str) -> Layer:
    """LayerParameter (kind "layer") or V1LayerParameter (kind "layers")."""
    f_name, f_type, f_bottom, f_top, f_blobs, f_conv, f_prelu, f_relu, f_crop = _LAYER_FIELDS[kind]
    what = f"layer #{index}"
    layer = Layer("", "")
    for number, wire, value in pb.fields(buf, what):
        if number == f_name:
            layer.name = pb.text(value, wire, what)
            what = f"layer {layer.name!r}"
        elif number == f_type:
            if kind == "layer":
                layer.type = pb.text(value, wire, what)
            else:
                code = _int(value, wire, what)
                layer.type = V1_TYPES.get(code, f"V1 type {code}")
        elif number == f_bottom:
            layer.bottom.append(pb.text(value, wire, what))
        elif number == f_top:
            layer.top.append(pb.text(value, wire, what))
        elif number == f_blobs:
            layer.blobs.append(_blob(pb.payload(value, wire, pb.LEN, what), f"{what} blob {len(layer.blobs)}"))
        elif number == f_conv:
            layer.conv = _conv_param(pb.payload(value, wire, pb.LEN, what), f"{what} convolution_param")
        elif number == f_prelu:
            layer.channel_shared = _flag(pb.payload(value, wire, pb.LEN, what), 2, f"{what} prelu_param")
        elif number == f_relu:
            layer.negative_slope = _float_field(pb.payload(value, wire, pb.LEN, what), 1, f"{what} relu_param")
        elif number == f_crop:
            _crop(layer, pb.payload(value, wire, pb.LEN, what), f"{what} crop_param")
    if not layer.name:
        layer.name = f"#{index}"
    return layer


def read_caffemodel(data: bytes) -> list[Layer]:
    """The layers of a binary NetParameter, in file order (new-style ``layer`` and legacy ``layers``)."""
    layers: list[Layer] = []
    for number, wire, value in pb.fields(memoryview(data), "NetParameter"):
        if number == 1:
            pb.text(value, wire, "NetParameter.name")
        elif number in (100, 2):
            kind = "layer" if number == 100 else "layers"
            layers.append(_layer(pb.payload(value, wire, pb.LEN, "NetParameter"), len(layers), kind))
    if not layers:
        raise WeightsError("no layers (not a Caffe NetParameter / .caffemodel?)")
    return layers
