"""Caffe models (``.caffemodel``), e.g. FSRCNN trained with Caffe, read without Caffe.

A ``.caffemodel`` is a binary ``NetParameter`` protocol buffer. The few fields needed are decoded with
the bounds-checked wire-format reader of :mod:`.tf_pb` (field numbers from BVLC/caffe
``src/caffe/proto/caffe.proto``); nothing in the file is executed, and a truncated or garbage file
raises ``WeightsError``:

* ``NetParameter``: ``layer`` = 100 (``LayerParameter``), the legacy ``layers`` = 2 (``V1LayerParameter``);
* ``LayerParameter``: name = 1, type = 2 (a string), bottom = 3, top = 4, blobs = 7,
  convolution_param = 106, crop_param = 144, prelu_param = 131 (channel_shared = 2), relu_param = 123
  (negative_slope = 1);
* ``V1LayerParameter`` (other numbers!): bottom = 2, top = 3, name = 4, type = 5 (an enum: CONVOLUTION = 4,
  DECONVOLUTION = 39, RELU = 18, ...), blobs = 6, convolution_param = 10, relu_param = 30;
* ``BlobProto``: shape = 7 (``BlobShape``: dim = 1, packed int64), data = 5 (packed float), double_data = 8,
  and the legacy 4-D num / channels / height / width = 1..4;
* ``ConvolutionParameter``: num_output = 1, bias_term = 2, pad = 3, kernel_size = 4, group = 5, stride = 6,
  pad_h / pad_w = 9 / 10, kernel_h / kernel_w = 11 / 12, stride_h / stride_w = 13 / 14, dilation = 18;
* ``CropParameter``: axis = 1, offset = 2.

Caffe writes the whole layer definition (types and parameters) into a snapshot, so a ``.caffemodel``
is enough on its own. Weight-only files made by other tools lack them: then pass the deploy
``prototxt=`` (text format), which gives the layers, in order, and takes the blobs by layer name, as
Caffe's ``Net::CopyTrainedLayersFrom`` does.

Mapping onto :class:`~fsrcnn_fast.weights.schema.NetworkSpec`, exactly:

* ``Convolution`` is correlation (im2col, no kernel flip) with zero padding ``pad``; weights
  ``[cout, cin, kh, kw]`` are OIHW as they are. The engine keeps the size, so ``pad`` must be ``k // 2``,
  stride 1, no groups, no dilation.
* ``PReLU`` (one slope per channel, or one with ``channel_shared``) and ``ReLU`` (``negative_slope`` a
  shared slope) act on the convolution before them.
* ``Deconvolution`` weights are ``[cin, cout, k, k]`` and Caffe computes
  ``out[o] = b + sum_c sum_p x_c[p] * w_c[o + pad - stride * p]`` for ``0 <= o < (in - 1) * stride - 2 * pad + k``:
  the engine's deconvolution with ``scale = stride`` and ``offset = pad`` (a ``Crop`` after it with
  offset ``c`` adds ``c``). Where both are defined the outputs are equal; the engine's is exactly
  ``scale x`` the input (Caffe's FSRCNN x3 with pad 4 gives ``3 * in - 2``: the engine adds the two
  last rows and columns by the same formula). The file cannot tell whether the training labels sat on
  that grid, so :func:`load_caffe` takes the offset as ``offset=`` and never assumes it.
* Data, loss and accuracy layers are ignored. Anything else on the chain from input to output
  (residual branches, pooling, unknown types) raises ``WeightsError`` naming the layer.

A network without a deconvolution that ends in a convolution to one channel is an SRCNN (its input is
the bicubic-upscaled image; pass ``scale=``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np

from . import protowire as pb
from .errors import WeightsError
from .provenance import decide_offset, decide_scale, scale_from_name, with_provenance
from .schema import Activation, Conv, Deconv, NetworkSpec

__all__ = ["load_caffe", "read_caffemodel", "parse_prototxt"]

# --------------------------------------------------------------------------------------------------
# The layer description both readers (binary and text) produce

# V1LayerParameter.LayerType -> the type string of LayerParameter (only those this module may meet).
_V1_TYPES = {
    4: "Convolution", 39: "Deconvolution", 18: "ReLU", 5: "Data", 9: "HDF5Data", 10: "HDF5Output",
    12: "ImageData", 29: "MemoryData", 32: "DummyData", 7: "EuclideanLoss", 1: "Accuracy", 36: "Silence",
    22: "Split", 17: "Pooling", 25: "Eltwise", 3: "Concat", 14: "InnerProduct", 23: "TanH", 19: "Sigmoid",
}
# Layers that feed or score a network but take no part in inference.
_IGNORED = {
    "Input", "Data", "HDF5Data", "HDF5Output", "ImageData", "MemoryData", "DummyData", "WindowData",
    "EuclideanLoss", "Accuracy", "Silence", "SoftmaxWithLoss", "SigmoidCrossEntropyLoss", "HingeLoss",
}
# The engine's range for a deconvolution offset (csrc/engine/network.cpp).
_MAX_OFFSET = 32
_SUPPORTED = "Convolution, PReLU, ReLU, Deconvolution, Crop (after the deconvolution)"


@dataclass
class _ConvParam:
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
class _Layer:
    name: str
    type: str
    bottom: list[str] = field(default_factory=list)
    top: list[str] = field(default_factory=list)
    blobs: list[np.ndarray] = field(default_factory=list)
    conv: _ConvParam | None = None
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


def _conv_param(buf: memoryview, what: str) -> _ConvParam:
    p = _ConvParam()
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


def _crop(layer: _Layer, buf: memoryview, what: str) -> None:
    for n, w, v in pb.fields(buf, what):
        if n == 1:
            layer.crop_axis = _int(v, w, what)
        elif n == 2:
            layer.crop_offset.extend(pb.ints(v, w, what))


# (name, type, bottom, top, blobs, convolution_param, prelu_param, relu_param, crop_param) field numbers
_LAYER_FIELDS = {"layer": (1, 2, 3, 4, 7, 106, 131, 123, 144), "layers": (4, 5, 2, 3, 6, 10, None, 30, None)}


def _layer(buf: memoryview, index: int, kind: str) -> _Layer:
    """LayerParameter (kind "layer") or V1LayerParameter (kind "layers")."""
    f_name, f_type, f_bottom, f_top, f_blobs, f_conv, f_prelu, f_relu, f_crop = _LAYER_FIELDS[kind]
    what = f"layer #{index}"
    layer = _Layer("", "")
    for number, wire, value in pb.fields(buf, what):
        if number == f_name:
            layer.name = pb.text(value, wire, what)
            what = f"layer {layer.name!r}"
        elif number == f_type:
            if kind == "layer":
                layer.type = pb.text(value, wire, what)
            else:
                code = _int(value, wire, what)
                layer.type = _V1_TYPES.get(code, f"V1 type {code}")
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


def read_caffemodel(data: bytes) -> list[_Layer]:
    """The layers of a binary NetParameter, in file order (new-style ``layer`` and legacy ``layers``)."""
    layers: list[_Layer] = []
    for number, wire, value in pb.fields(memoryview(data), "NetParameter"):
        if number == 1:
            pb.text(value, wire, "NetParameter.name")
        elif number in (100, 2):
            kind = "layer" if number == 100 else "layers"
            layers.append(_layer(pb.payload(value, wire, pb.LEN, "NetParameter"), len(layers), kind))
    if not layers:
        raise WeightsError("no layers (not a Caffe NetParameter / .caffemodel?)")
    return layers


# --------------------------------------------------------------------------------------------------
# Text .prototxt (only the structure: names, types, connections and the parameters used here)

_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<punct>[{}:;,\[\]<>])"""
    r"""|(?P<word>[^\s{}:;,\[\]<>"'\#]+)"""
)
TextMessage = dict[str, list[Union[str, "TextMessage"]]]
_MAX_DEPTH = 64  # a net definition nests a few levels; deeper is garbage (and would exhaust the stack)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # an unterminated string
            raise WeightsError(f"prototxt: cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup == "str":
            out.append(m.group()[1:-1])
        elif m.lastgroup:
            out.append(m.group())
    return out


def _message(tokens: list[str], pos: int, closing: str | None, depth: int = 0) -> tuple[TextMessage, int]:
    """Parses ``name: value`` / ``name { ... }`` / ``name: [a, b]`` pairs until ``closing``."""
    if depth > _MAX_DEPTH:
        raise WeightsError(f"prototxt: messages nested deeper than {_MAX_DEPTH}")
    msg: TextMessage = {}
    while pos < len(tokens):
        tok = tokens[pos]
        if tok == closing:
            return msg, pos + 1
        if tok in "{}:;,[]<>":
            raise WeightsError(f"prototxt: unexpected {tok!r} (token {pos})")
        pos += 1
        if pos < len(tokens) and tokens[pos] == ":":
            pos += 1
        if pos >= len(tokens):
            raise WeightsError(f"prototxt: {tok!r} has no value")
        if tokens[pos] in ("{", "<"):
            value, pos = _message(tokens, pos + 1, "}" if tokens[pos] == "{" else ">", depth + 1)
            msg.setdefault(tok, []).append(value)
        elif tokens[pos] == "[":
            pos += 1
            while pos < len(tokens) and tokens[pos] != "]":
                if tokens[pos] != ",":
                    msg.setdefault(tok, []).append(tokens[pos])
                pos += 1
            if pos >= len(tokens):
                raise WeightsError(f"prototxt: {tok!r}: missing ']' at the end")
            pos += 1
        else:
            msg.setdefault(tok, []).append(tokens[pos])
            pos += 1
        if pos < len(tokens) and tokens[pos] in (";", ","):
            pos += 1
    if closing is not None:
        raise WeightsError(f"prototxt: missing {closing!r} at the end")
    return msg, pos


def _scalars(msg: TextMessage, key: str) -> list[str]:
    return [v for v in msg.get(key, []) if isinstance(v, str)]


def _text_ints(msg: TextMessage, key: str, what: str) -> list[int]:
    try:
        return [int(v) for v in _scalars(msg, key)]
    except ValueError as exc:
        raise WeightsError(f"{what}: {key} is not an integer ({exc})") from exc


def _text_int(msg: TextMessage, key: str, what: str) -> int | None:
    values = _text_ints(msg, key, what)
    return values[-1] if values else None


def _text_bool(msg: TextMessage, key: str, default: bool) -> bool:
    values = _scalars(msg, key)
    return values[-1].lower() in ("true", "1") if values else default


def _sub(msg: TextMessage, key: str) -> TextMessage | None:
    values = [v for v in msg.get(key, []) if isinstance(v, dict)]
    return values[-1] if values else None


def _text_conv(conv: TextMessage, what: str) -> _ConvParam:
    def pair(h: str, w: str) -> tuple[int | None, int | None]:
        return _text_int(conv, h, what), _text_int(conv, w, what)

    return _ConvParam(
        num_output=_text_int(conv, "num_output", what),
        bias_term=_text_bool(conv, "bias_term", True),
        pad=_text_ints(conv, "pad", what),
        kernel=_text_ints(conv, "kernel_size", what),
        stride=_text_ints(conv, "stride", what),
        dilation=_text_ints(conv, "dilation", what),
        pad_hw=pair("pad_h", "pad_w"),
        kernel_hw=pair("kernel_h", "kernel_w"),
        stride_hw=pair("stride_h", "stride_w"),
        group=_text_int(conv, "group", what) or 1,
    )


def _text_layer(msg: TextMessage, index: int, legacy: bool) -> _Layer:
    name = (_scalars(msg, "name") or [f"#{index}"])[-1]
    what = f"prototxt layer {name!r}"
    raw_type = (_scalars(msg, "type") or [""])[-1]
    if legacy or raw_type.isupper():  # V1 enum names: CONVOLUTION -> Convolution
        by_enum = {v.upper(): v for v in _V1_TYPES.values()}
        raw_type = by_enum.get(raw_type.replace("_", ""), raw_type)
    layer = _Layer(name, raw_type, _scalars(msg, "bottom"), _scalars(msg, "top"))
    conv = _sub(msg, "convolution_param")
    if conv is not None:
        layer.conv = _text_conv(conv, what)
    prelu = _sub(msg, "prelu_param")
    if prelu is not None:
        layer.channel_shared = _text_bool(prelu, "channel_shared", False)
    relu = _sub(msg, "relu_param")
    if relu is not None:
        try:
            layer.negative_slope = float((_scalars(relu, "negative_slope") or ["0"])[-1])
        except ValueError as exc:
            raise WeightsError(f"{what}: negative_slope is not a number ({exc})") from exc
    crop = _sub(msg, "crop_param")
    if crop is not None:
        axis = _text_int(crop, "axis", what)
        layer.crop_axis = 2 if axis is None else axis
        layer.crop_offset = _text_ints(crop, "offset", what)
    return layer


def parse_prototxt(text: str) -> list[_Layer]:
    """The layers of a text-format NetParameter (deploy or train prototxt), without their blobs."""
    net, _ = _message(_tokens(text), 0, None)
    layers = [_text_layer(m, i, False) for i, m in enumerate(v for v in net.get("layer", []) if isinstance(v, dict))]
    legacy = [_text_layer(m, i, True) for i, m in enumerate(v for v in net.get("layers", []) if isinstance(v, dict))]
    if not layers and not legacy:
        raise WeightsError("prototxt: no layer { ... } blocks (not a Caffe net definition?)")
    return layers + legacy


def _with_blobs(structure: list[_Layer], weights: list[_Layer]) -> list[_Layer]:
    """The prototxt's layers with the caffemodel's blobs, matched by layer name (as Caffe does)."""
    by_name = {layer.name: layer for layer in weights}
    for layer in structure:
        if layer.name in by_name:
            layer.blobs = by_name[layer.name].blobs
    return structure


# --------------------------------------------------------------------------------------------------
# Interpretation


def _pair(values: list[int], hw: tuple[int | None, int | None], default: int | None, what: str, name: str) -> int:
    """One value for both spatial axes from Caffe's repeated field or its _h / _w form."""
    if hw[0] is not None or hw[1] is not None:
        pair = [hw[0], hw[1]]
    elif len(values) in (0, 1):
        pair = [values[0] if values else default] * 2
    elif len(values) == 2:
        pair = list(values)
    else:
        raise WeightsError(f"{what}: {len(values)} values of {name}; only 2-D layers are supported")
    if pair[0] is None or pair[1] is None:
        raise WeightsError(f"{what}: no {name}")
    if pair[0] != pair[1]:
        raise WeightsError(f"{what}: {name} {pair[0]} x {pair[1]}; only square (equal h and w) is supported")
    return int(pair[0])


def _geometry(layer: _Layer, weight: np.ndarray) -> tuple[int, int, int]:
    """(kernel, pad, stride) of a (de)convolution, checked against its weight blob."""
    what = f"layer {layer.name!r} ({layer.type})"
    p = layer.conv or _ConvParam()
    k = _pair(p.kernel, p.kernel_hw, int(weight.shape[-1]), what, "kernel_size")
    if weight.shape[2:] != (k, k):
        raise WeightsError(f"{what}: kernel_size {k} but the weight blob is {tuple(weight.shape)}")
    pad = _pair(p.pad, p.pad_hw, 0, what, "pad")
    stride = _pair(p.stride, p.stride_hw, 1, what, "stride")
    if p.group != 1:
        raise WeightsError(f"{what}: group {p.group}; only group 1 is supported")
    if any(d != 1 for d in p.dilation):
        raise WeightsError(f"{what}: dilation {p.dilation}; only dilation 1 is supported")
    return k, pad, stride


def _weight(layer: _Layer) -> np.ndarray:
    """The 4-D weight blob of a (de)convolution."""
    what = f"layer {layer.name!r} ({layer.type})"
    if not layer.blobs:
        raise WeightsError(f"{what}: no weight blobs (a deploy prototxt layer without trained weights?)")
    weight = layer.blobs[0]
    if weight.ndim != 4:
        raise WeightsError(f"{what}: weight blob has shape {tuple(weight.shape)}, expected 4-D")
    return weight


def _bias(layer: _Layer, n: int) -> np.ndarray:
    """The bias blob (one value per output), or zeros when the layer has ``bias_term: false``."""
    what = f"layer {layer.name!r} ({layer.type})"
    if layer.conv is not None and not layer.conv.bias_term:
        return np.zeros(n)
    if len(layer.blobs) < 2:
        raise WeightsError(f"{what}: bias_term is set but there is no bias blob")
    bias = layer.blobs[1].reshape(-1)
    if bias.size != n:
        raise WeightsError(f"{what}: bias blob has {bias.size} values, the layer has {n} outputs")
    return bias


@dataclass
class _ConvOut:
    name: str
    weight: np.ndarray  # OIHW
    bias: np.ndarray
    activation: Activation = "none"
    slope: np.ndarray | None = None


@dataclass
class _DeconvOut:
    name: str
    weight: np.ndarray  # [cin, 1, k, k]
    bias: np.ndarray
    stride: int
    offset: int  # pad, plus a Crop's offset


@dataclass
class _Chain:
    """What the walk along the layers has built so far, and the name of its current output blob."""

    source: str
    convs: list[_ConvOut] = field(default_factory=list)
    deconv: _DeconvOut | None = None
    current: str | None = None

    def consume(self, layer: _Layer) -> None:
        """Checks that layer reads the chain's current output, then makes its top the current one."""
        what = f"layer {layer.name!r} ({layer.type})"
        if len(layer.bottom) != 1 or len(layer.top) != 1:
            raise WeightsError(f"{self.source}: {what}: {len(layer.bottom)} inputs and {len(layer.top)} outputs; "
                             "only a plain chain of one-input layers is supported")
        if self.current is not None and layer.bottom[0] != self.current:
            raise WeightsError(f"{self.source}: {what} reads {layer.bottom[0]!r}, not the previous layer's output "
                             f"{self.current!r}: branches and skip connections are not supported")
        self.current = layer.top[0]


def _conv(chain: _Chain, layer: _Layer) -> None:
    what = f"{chain.source}: layer {layer.name!r} (Convolution)"
    if chain.deconv is not None:
        raise WeightsError(f"{what} follows the deconvolution; the engine's networks end with it")
    weight = _weight(layer)
    bias = _bias(layer, weight.shape[0])
    k, pad, stride = _geometry(layer, weight)
    if stride != 1 or pad != k // 2 or k % 2 == 0:
        raise WeightsError(f"{what}: kernel {k}, pad {pad}, stride {stride}; the engine runs 'same' convolutions "
                         f"(odd kernel, pad = kernel // 2, stride 1)")
    chain.convs.append(_ConvOut(layer.name, weight, bias))


def _activation(chain: _Chain, layer: _Layer) -> None:
    what = f"{chain.source}: layer {layer.name!r} ({layer.type})"
    if chain.deconv is not None:
        raise WeightsError(f"{what}: an activation after the deconvolution is not part of FSRCNN")
    if not chain.convs or chain.convs[-1].activation != "none":
        raise WeightsError(f"{what} must follow a convolution directly (one activation per convolution)")
    last = chain.convs[-1]
    if layer.type == "ReLU":
        last.activation = "prelu" if layer.negative_slope else "relu"
        last.slope = np.array([layer.negative_slope]) if layer.negative_slope else None
        return
    cout = last.weight.shape[0]
    if not layer.blobs:
        raise WeightsError(f"{what}: no slope blob")
    slope = layer.blobs[0].reshape(-1)
    if slope.size not in (1, cout) or (layer.channel_shared and slope.size != 1):
        raise WeightsError(f"{what}: {slope.size} slopes for {cout} channels (channel_shared={layer.channel_shared})")
    last.activation, last.slope = "prelu", slope


def _deconv(chain: _Chain, layer: _Layer) -> None:
    what = f"{chain.source}: layer {layer.name!r} (Deconvolution)"
    if chain.deconv is not None:
        raise WeightsError(f"{what}: a second deconvolution; the engine's networks have one")
    weight = _weight(layer)
    if weight.shape[1] != 1:
        raise WeightsError(f"{what}: weight blob {tuple(weight.shape)} is [cin, cout, k, k] with cout = "
                         f"{weight.shape[1]}; the engine's deconvolution has one output channel")
    bias = _bias(layer, 1)
    k, pad, stride = _geometry(layer, weight)
    chain.deconv = _DeconvOut(layer.name, weight, bias, stride, pad)


def _crop_after_deconv(chain: _Chain, layer: _Layer) -> None:
    """Crop(deconv, reference) keeps out[o + c]: the deconvolution's offset grows by c."""
    what = f"{chain.source}: layer {layer.name!r} (Crop)"
    if chain.deconv is None or len(layer.bottom) != 2 or layer.bottom[0] != chain.current or len(layer.top) != 1:
        raise WeightsError(f"{what}: only a Crop of the deconvolution's output (to a reference size) is supported")
    offsets = layer.crop_offset or [0]
    axis = layer.crop_axis + 4 if layer.crop_axis < 0 else layer.crop_axis
    if axis != 2 or len(offsets) not in (1, 2) or offsets[0] != offsets[-1]:
        raise WeightsError(f"{what}: axis {layer.crop_axis}, offset {offsets}; only one offset for both spatial "
                         "axes (axis 2) is supported")
    chain.deconv.offset += int(offsets[0])
    chain.current = layer.top[0]


_HANDLERS = {"Convolution": _conv, "PReLU": _activation, "ReLU": _activation, "Deconvolution": _deconv}


def _walk(layers: list[_Layer], source: str) -> _Chain:
    chain = _Chain(source)
    for layer in layers:
        if layer.type in _IGNORED:
            continue
        if not layer.type:
            raise WeightsError(f"{source}: layer {layer.name!r} has no type (a weights-only file?): pass prototxt=")
        if layer.type == "Crop":
            _crop_after_deconv(chain, layer)
            continue
        handler = _HANDLERS.get(layer.type)
        if handler is None:
            raise WeightsError(f"{source}: layer {layer.name!r} of type {layer.type!r} is not supported "
                             f"(supported: {_SUPPORTED})")
        chain.consume(layer)
        handler(chain, layer)
    if not chain.convs:
        raise WeightsError(f"{source}: no Convolution layers")
    return chain


def _spec(chain: _Chain, scale: int | None, offset: int | str | None, source: str, label: str) -> NetworkSpec:
    layers = tuple(Conv(c.name, c.weight, c.bias, c.activation, c.slope, "zero") for c in chain.convs)
    meta = {"source": label}
    d = chain.deconv
    if d is None:
        if layers[-1].cout != 1 or (scale is None and scale_from_name(source) is None):
            raise WeightsError(f"{source}: no Deconvolution layer: only an SRCNN-like network (last convolution to "
                               f"one channel, bicubic-upscaled input, scale= given) can run without one")
        s, s_from = decide_scale(source, scale, [(scale_from_name(source), "file name")])
        return with_provenance(NetworkSpec("srcnn", layers, None, s, pre_upsample=True, metadata=meta), s_from)
    decide_scale(source, scale, [(d.stride, "graph")], f"layer {d.name!r} has stride {{found}}, but scale={{asked}} was asked")
    if offset in (None, "caffe") and not -_MAX_OFFSET <= d.offset <= _MAX_OFFSET:
        raise WeightsError(f"{source}: layer {d.name!r}: deconvolution offset {d.offset} (pad + crop) is "
                           f"outside [-{_MAX_OFFSET}, {_MAX_OFFSET}], what the engine runs")
    Deconv(d.name, d.weight, d.bias, d.stride, 0, "zero")  # the rest of the layer is checked before the offset
    # Caffe's pad (and Crop) reproduce Caffe's output grid, but where the HR image sits on it depends on how
    # the training labels were cropped, which the file does not record: the offset is never assumed.
    if offset == "caffe":
        used, used_from = d.offset, "graph"
    else:
        used, used_from = decide_offset(
            source, offset, hint=f"pad and Crop of layer {d.name!r} give {d.offset}, which reproduces Caffe's own "
            "output: offset='caffe'; a model trained on labels cropped off that grid needs another, e.g. "
            "wangxuewen99's x3 offset=2")
    if not -_MAX_OFFSET <= used <= _MAX_OFFSET:
        raise WeightsError(f"{source}: layer {d.name!r}: deconvolution offset {used} (offset=) is "
                           f"outside [-{_MAX_OFFSET}, {_MAX_OFFSET}], what the engine runs")
    tail = Deconv(d.name, d.weight, d.bias, d.stride, used, "zero")
    meta["deconv_offset"] = str(used)
    if used != d.offset:
        meta["deconv_offset_caffe"] = str(d.offset)
    return with_provenance(NetworkSpec("fsrcnn", layers, tail, d.stride, metadata=meta), "graph", used_from)


def load_caffe(
    path: str | Path, scale: int | None = None, *, prototxt: str | Path | None = None,
    offset: int | str | None = None,
) -> NetworkSpec:
    """A Caffe FSRCNN (or SRCNN) ``.caffemodel`` as a :class:`NetworkSpec`, without Caffe.

    ``scale``: checked against the deconvolution's stride (which gives it); needed for a network
    without a deconvolution. ``prototxt``: a deploy/train net definition (text format) to take the
    layers from, for weight files that do not record them; blobs are then matched by layer name.

    ``offset``: the deconvolution offset, required for a network with a deconvolution. ``pad`` (and
    ``Crop``) give the offset that reproduces Caffe's output exactly, but whether the HR image lines up
    with that grid depends on how the training labels were cropped, which the file does not record:
    wangxuewen99/Super-Resolution's FSRCNN x3 (pad 4) took its 19 x 19 labels two HR pixels off, so its
    output lines up with the image only at ``offset=2`` (Set5 x3 32.10 dB, against 22.16 dB at pad's 4, as
    Caffe runs it). ``offset="caffe"`` takes the pad-derived value: Caffe's own output grid. The error
    without ``offset=`` names that value.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{p}: cannot read ({exc})") from exc
    try:
        layers = read_caffemodel(data)
    except ValueError as exc:
        raise WeightsError(f"{p}: not a readable Caffe model: {exc}") from exc
    label = f"Caffe model {p.name}"
    if prototxt is not None:
        q = Path(prototxt)
        try:
            text = q.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise WeightsError(f"{q}: cannot read the prototxt ({exc})") from exc
        try:
            structure = parse_prototxt(text)
        except ValueError as exc:
            raise WeightsError(f"{q}: {exc}") from exc
        layers = _with_blobs(structure, layers)
        label += f" + {q.name}"
    return _spec(_walk(layers, str(p)), scale, offset, str(p), label)
