"""Caffe ``.prototxt`` net definitions: only the structure (names, types, connections and the parameters
:mod:`.caffe_io` uses), parsed into the :class:`~.caffe_model.Layer` descriptions of the binary reader;
``with_blobs`` joins a weights-only ``.caffemodel`` to them by layer name. A small tokenizer rather than
protobuf's ``text_format``: that needs Caffe's compiled ``.proto`` schema, which is not packaged."""

from __future__ import annotations

import re
from typing import Union

from .caffe_model import V1_TYPES, ConvParam, Layer
from .errors import WeightsError

__all__ = ["parse_prototxt", "with_blobs"]

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


def _text_conv(conv: TextMessage, what: str) -> ConvParam:
    def pair(h: str, w: str) -> tuple[int | None, int | None]:
        return _text_int(conv, h, what), _text_int(conv, w, what)

    return ConvParam(
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


def _text_layer(msg: TextMessage, index: int, legacy: bool) -> Layer:
    name = (_scalars(msg, "name") or [f"#{index}"])[-1]
    what = f"prototxt layer {name!r}"
    raw_type = (_scalars(msg, "type") or [""])[-1]
    if legacy or raw_type.isupper():  # V1 enum names: CONVOLUTION -> Convolution
        by_enum = {v.upper(): v for v in V1_TYPES.values()}
        raw_type = by_enum.get(raw_type.replace("_", ""), raw_type)
    layer = Layer(name, raw_type, _scalars(msg, "bottom"), _scalars(msg, "top"))
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


def parse_prototxt(text: str) -> list[Layer]:
    """The layers of a text-format NetParameter (deploy or train prototxt), without their blobs."""
    net, _ = _message(_tokens(text), 0, None)
    layers = [_text_layer(m, i, False) for i, m in enumerate(v for v in net.get("layer", []) if isinstance(v, dict))]
    legacy = [_text_layer(m, i, True) for i, m in enumerate(v for v in net.get("layers", []) if isinstance(v, dict))]
    if not layers and not legacy:
        raise WeightsError("prototxt: no layer { ... } blocks (not a Caffe net definition?)")
    return layers + legacy


def with_blobs(structure: list[Layer], weights: list[Layer]) -> list[Layer]:
    """The prototxt's layers with the caffemodel's blobs, matched by layer name (as Caffe does)."""
    by_name = {layer.name: layer for layer in weights}
    for layer in structure:
        if layer.name in by_name:
            layer.blobs = by_name[layer.name].blobs
    return structure
