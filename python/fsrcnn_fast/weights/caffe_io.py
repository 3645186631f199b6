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

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .caffe_model import ConvParam, Layer, read_caffemodel
from .caffe_prototxt import parse_prototxt, with_blobs
from .errors import WeightsError
from .assemble import ActOp, ConvOp, DeconvOp, Op, assemble
from .provenance import scale_from_name
from .schema import Deconv, NetworkSpec

__all__ = ["load_caffe", "read_caffemodel", "parse_prototxt"]

# Layers that feed or score a network but take no part in inference.
_IGNORED = {
    "Input", "Data", "HDF5Data", "HDF5Output", "ImageData", "MemoryData", "DummyData", "WindowData",
    "EuclideanLoss", "Accuracy", "Silence", "SoftmaxWithLoss", "SigmoidCrossEntropyLoss", "HingeLoss",
}
# The engine's range for a deconvolution offset (csrc/engine/network.cpp).
_MAX_OFFSET = 32
_SUPPORTED = "Convolution, PReLU, ReLU, Deconvolution, Crop (after the deconvolution)"



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


def _geometry(layer: Layer, weight: np.ndarray) -> tuple[int, int, int]:
    """(kernel, pad, stride) of a (de)convolution, checked against its weight blob."""
    what = f"layer {layer.name!r} ({layer.type})"
    p = layer.conv or ConvParam()
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


def _weight(layer: Layer) -> np.ndarray:
    """The 4-D weight blob of a (de)convolution."""
    what = f"layer {layer.name!r} ({layer.type})"
    if not layer.blobs:
        raise WeightsError(f"{what}: no weight blobs (a deploy prototxt layer without trained weights?)")
    weight = layer.blobs[0]
    if weight.ndim != 4:
        raise WeightsError(f"{what}: weight blob has shape {tuple(weight.shape)}, expected 4-D")
    return weight


def _bias(layer: Layer, n: int) -> np.ndarray:
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
class _Chain:
    """What the walk along the layers has built so far, and the name of its current output blob."""

    source: str
    ops: list[Op] = field(default_factory=list)
    deconv: DeconvOp | None = None  # which a Crop may shift
    current: str | None = None

    def consume(self, layer: Layer) -> None:
        """Checks that layer reads the chain's current output, then makes its top the current one."""
        what = f"layer {layer.name!r} ({layer.type})"
        if len(layer.bottom) != 1 or len(layer.top) != 1:
            raise WeightsError(f"{self.source}: {what}: {len(layer.bottom)} inputs and {len(layer.top)} outputs; "
                             "only a plain chain of one-input layers is supported")
        if self.current is not None and layer.bottom[0] != self.current:
            raise WeightsError(f"{self.source}: {what} reads {layer.bottom[0]!r}, not the previous layer's output "
                             f"{self.current!r}: branches and skip connections are not supported")
        self.current = layer.top[0]


def _conv(chain: _Chain, layer: Layer) -> None:
    what = f"{chain.source}: layer {layer.name!r} (Convolution)"
    weight = _weight(layer)
    bias = _bias(layer, weight.shape[0])
    k, pad, stride = _geometry(layer, weight)
    if stride != 1 or pad != k // 2 or k % 2 == 0:
        raise WeightsError(f"{what}: kernel {k}, pad {pad}, stride {stride}; the engine runs 'same' convolutions "
                         f"(odd kernel, pad = kernel // 2, stride 1)")
    chain.ops.append(ConvOp(layer.name, weight, bias, "zero"))


def _activation(chain: _Chain, layer: Layer) -> None:
    what = f"{chain.source}: layer {layer.name!r} ({layer.type})"
    if layer.type == "ReLU":
        slope = np.array([layer.negative_slope]) if layer.negative_slope else None
        chain.ops.append(ActOp(layer.name, "prelu" if slope is not None else "relu", slope))
        return
    if not layer.blobs:
        raise WeightsError(f"{what}: no slope blob")
    slope = layer.blobs[0].reshape(-1)
    before = chain.ops[-1] if chain.ops else None
    cout = before.weight.shape[0] if isinstance(before, ConvOp) else slope.size
    if slope.size not in (1, cout) or (layer.channel_shared and slope.size != 1):
        raise WeightsError(f"{what}: {slope.size} slopes for {cout} channels (channel_shared={layer.channel_shared})")
    chain.ops.append(ActOp(layer.name, "prelu", slope))


def _deconv(chain: _Chain, layer: Layer) -> None:
    what = f"{chain.source}: layer {layer.name!r} (Deconvolution)"
    weight = _weight(layer)
    if weight.shape[1] != 1:
        raise WeightsError(f"{what}: weight blob {tuple(weight.shape)} is [cin, cout, k, k] with cout = "
                         f"{weight.shape[1]}; the engine's deconvolution has one output channel")
    bias = _bias(layer, 1)
    k, pad, stride = _geometry(layer, weight)
    chain.deconv = DeconvOp(layer.name, weight, bias, stride, pad, border="zero")
    chain.ops.append(chain.deconv)


def _crop_after_deconv(chain: _Chain, layer: Layer) -> None:
    """Crop(deconv, reference) keeps out[o + c]: the deconvolution's offset grows by c."""
    what = f"{chain.source}: layer {layer.name!r} (Crop)"
    if chain.deconv is None or len(layer.bottom) != 2 or layer.bottom[0] != chain.current or len(layer.top) != 1:
        raise WeightsError(f"{what}: only a Crop of the deconvolution's output (to a reference size) is supported")
    offsets = layer.crop_offset or [0]
    axis = layer.crop_axis + 4 if layer.crop_axis < 0 else layer.crop_axis
    if axis != 2 or len(offsets) not in (1, 2) or offsets[0] != offsets[-1]:
        raise WeightsError(f"{what}: axis {layer.crop_axis}, offset {offsets}; only one offset for both spatial "
                         "axes (axis 2) is supported")
    assert isinstance(chain.deconv.offset, int)
    chain.deconv.offset += int(offsets[0])
    chain.current = layer.top[0]


_HANDLERS = {"Convolution": _conv, "PReLU": _activation, "ReLU": _activation, "Deconvolution": _deconv}


def _walk(layers: list[Layer], source: str) -> _Chain:
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
    if not any(isinstance(op, ConvOp) for op in chain.ops):
        raise WeightsError(f"{source}: no Convolution layers")
    return chain


def _spec(chain: _Chain, scale: int | None, offset: int | str | None, source: str, label: str) -> NetworkSpec:
    d = chain.deconv
    if d is None:
        last = [op for op in chain.ops if isinstance(op, ConvOp)][-1]
        if last.weight.shape[0] != 1 or (scale is None and scale_from_name(source) is None):
            raise WeightsError(f"{source}: no Deconvolution layer: only an SRCNN-like network (last convolution to "
                               f"one channel, bicubic-upscaled input, scale= given) can run without one")
        return assemble(chain.ops, source, scale=scale, claims=[(scale_from_name(source), "file name")],
                        metadata={"source": label}, record_tail=False)
    caffe = d.offset
    assert isinstance(caffe, int)
    if offset in (None, "caffe") and not -_MAX_OFFSET <= caffe <= _MAX_OFFSET:
        raise WeightsError(f"{source}: layer {d.name!r}: deconvolution offset {caffe} (pad + crop) is "
                           f"outside [-{_MAX_OFFSET}, {_MAX_OFFSET}], what the engine runs")
    # Caffe's pad (and Crop) reproduce Caffe's output grid, but where the HR image sits on it depends on how
    # the training labels were cropped, which the file does not record: the offset is never assumed.
    if offset == "caffe":
        offset = None
    else:
        d.offset = None
        d.offset_hint = (f"pad and Crop of layer {d.name!r} give {caffe}, which reproduces Caffe's own output: "
                         "offset='caffe'; a model trained on labels cropped off that grid needs another, e.g. "
                         "wangxuewen99's x3 offset=2")
    spec = assemble(chain.ops, source, scale=scale, offset=offset, metadata={"source": label}, record_tail=False,
                    scale_detail=f"layer {d.name!r} has stride {{found}}, but scale={{asked}} was asked")
    assert isinstance(spec.tail, Deconv)
    spec.metadata["deconv_offset"] = str(spec.tail.offset)
    if spec.tail.offset != caffe:
        spec.metadata["deconv_offset_caffe"] = str(caffe)
    return spec


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
        layers = with_blobs(structure, layers)
        label += f" + {q.name}"
    return _spec(_walk(layers, str(p)), scale, offset, str(p), label)
