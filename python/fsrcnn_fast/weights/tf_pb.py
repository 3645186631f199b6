"""TensorFlow frozen graphs (``.pb``), e.g. OpenCV dnn_superres' FSRCNN models, read without TensorFlow.

A frozen ``GraphDef`` is a protocol-buffer message; this module decodes the few fields it needs straight
from the wire format (field numbers from ``tensorflow/core/framework/{graph,node_def,attr_value,tensor,
tensor_shape}.proto``), so neither TensorFlow nor compiled ``.proto`` files are needed, and no code in the
file is ever executed. Every length and count is bounds-checked: a truncated or garbage file raises
``WeightsError``.

The graph is then interpreted symbolically from its input placeholder to its output:

* ``Conv2D`` (NHWC, stride 1, no dilation, ``SAME`` padding = zero border, odd square HWIO filter) starts
  a layer; an ``Add`` / ``AddV2`` / ``BiasAdd`` (or ``Sub``) of a per-channel constant right after it is
  its bias.
* Element-wise ops after the bias (``Relu``, ``Neg``, ``Abs``, ``LeakyRelu``, ``Maximum``, ``Minimum``,
  ``Add`` / ``Sub`` of two such values, ``Mul`` / ``RealDiv`` by a per-channel constant) are tracked
  exactly as ``P * relu(z) + N * relu(-z)`` per channel (``z`` the biased conv output); the closed form
  holds because at every point one of ``relu(z)``, ``relu(-z)`` is zero. OpenCV's PReLU
  ``relu(z) + alpha * (z - |z|) * 0.5`` and Keras' ``relu(z) - alpha * relu(-z)`` both come out as
  ``P = 1, N = -alpha``: a PReLU with slope ``-N / P`` (``P != 1`` is folded into the next layer).
* ``DepthToSpace(s)`` after the last conv (``s^2`` channels) makes the sub-pixel tail (TF's DCR order);
  constants added after it are the single output bias; a final ``Transpose`` / ``Identity`` is ignored.

Anything else on the path from input to output (residual adds, ``VALID`` convolutions, unknown ops)
raises ``WeightsError`` naming the node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar, Union

import numpy as np

from . import protowire as pb
from .errors import WeightsError
from .assemble import ActOp, ConvOp, Op, ShuffleOp, assemble
from .schema import NetworkSpec

__all__ = ["load_tf_pb"]

# --------------------------------------------------------------------------------------------------
# Protocol-buffer wire format

# Tensors bigger than this are no SR network's weights: refuse rather than allocate. Raw content is also
# bounded by the file's size; a few typed values repeated to fill a shape are not, hence the lower limit.
_MAX_ELEMENTS = 1 << 26
_MAX_FILLED = 1 << 20


# --------------------------------------------------------------------------------------------------
# TensorFlow messages

# DataType enum (types.proto) -> little-endian NumPy dtype, for the types a weight or shape can have.
_DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 19: "<f2"}


def _shape(buf: memoryview, what: str) -> tuple[int, ...]:
    """TensorShapeProto: dim = 2 {size = 1}; unknown_rank = 3."""
    dims = []
    for number, wire, value in pb.fields(buf, what):
        if number == 2:
            size = 0
            for n2, w2, v2 in pb.fields(pb.payload(value, wire, pb.LEN, what), what):
                if n2 == 1:
                    size = pb.ints(v2, w2, what)[-1]
            dims.append(size)
        elif number == 3 and value:
            raise WeightsError(f"{what}: tensor of unknown rank")
    return tuple(dims)


def _tensor(buf: memoryview, what: str) -> np.ndarray:
    """TensorProto: dtype = 1, tensor_shape = 2, tensor_content = 4 (raw little-endian), or the typed
    repeated fields float_val = 5, double_val = 6, int_val = 7, int64_val = 10, bool_val = 11,
    half_val = 13. As in TensorFlow, fewer values than elements repeat the last one (none: zeros)."""
    dtype_code, shape, content = 1, (), None
    values: list[np.ndarray] = []
    for number, wire, value in pb.fields(buf, what):
        if number == 1:
            dtype_code = pb.ints(value, wire, what)[-1]
        elif number == 2:
            shape = _shape(pb.payload(value, wire, pb.LEN, what), f"{what}.shape")
        elif number == 4:
            content = bytes(pb.payload(value, wire, pb.LEN, what))
        elif number == 5:
            values.append(pb.fixed(value, wire, 4, "<f4", what))
        elif number == 6:
            values.append(pb.fixed(value, wire, 8, "<f8", what))
        elif number in (7, 10, 11, 13):
            values.append(np.asarray(pb.ints(value, wire, what), np.int64))
    if dtype_code not in _DTYPES:
        raise WeightsError(f"{what}: unsupported tensor dtype {dtype_code}")
    dtype = np.dtype(_DTYPES[dtype_code])
    if any(d < 0 for d in shape):
        raise WeightsError(f"{what}: constant with an unknown dimension {shape}")
    count = math.prod(shape)
    if count > (_MAX_ELEMENTS if content is not None else _MAX_FILLED):
        raise WeightsError(f"{what}: tensor of shape {shape} is too large")
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise WeightsError(
                f"{what}: tensor_content has {len(content)} bytes, shape {shape} of {dtype} needs "
                f"{count * dtype.itemsize}"
            )
        return np.frombuffer(content, dtype).reshape(shape).astype(dtype.newbyteorder("="))
    flat = np.concatenate(values) if values else np.zeros(0)
    if dtype_code == 19:  # half_val holds the raw 16 bits of each value
        flat = flat.astype(np.uint16).view(np.float16)
    if flat.size > count:
        raise WeightsError(f"{what}: {flat.size} values for shape {shape}")
    if flat.size < count:
        fill = flat[-1] if flat.size else 0
        flat = np.concatenate([flat, np.full(count - flat.size, fill, flat.dtype)])
    return flat.astype(dtype.newbyteorder("=")).reshape(shape)


def _attr(buf: memoryview, what: str) -> object:
    """AttrValue: list = 1, s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8. A list becomes a
    Python list of whichever of its s = 2 / i = 3 / f = 4 / b = 5 / type = 6 it holds."""
    result: object = None
    for number, wire, value in pb.fields(buf, what):
        if number == 1:
            items: list[object] = []
            for n2, w2, v2 in pb.fields(pb.payload(value, wire, pb.LEN, what), what):
                if n2 == 2:
                    items.append(bytes(pb.payload(v2, w2, pb.LEN, what)))
                elif n2 in (3, 5, 6):
                    items.extend(pb.ints(v2, w2, what))
                elif n2 == 4:
                    items.extend(float(x) for x in pb.fixed(v2, w2, 4, "<f4", what))
            result = items
        elif number == 2:
            result = bytes(pb.payload(value, wire, pb.LEN, what))
        elif number in (3, 5, 6):
            result = pb.ints(value, wire, what)[0]
        elif number == 4:
            result = float(pb.fixed(value, wire, 4, "<f4", what)[0])
        elif number == 7:
            result = _shape(pb.payload(value, wire, pb.LEN, what), what)
        elif number == 8:
            result = _tensor(pb.payload(value, wire, pb.LEN, what), what)
    return result


@dataclass
class _Node:
    name: str
    op: str
    inputs: list[str]  # data inputs as "node" or "node:k"; control inputs ("^node") dropped
    attrs: dict[str, object]


T = TypeVar("T")


def _attr_of(node: _Node, key: str, kind: type[T], default: T) -> T:
    """node's attribute key, which must be of kind (a damaged file can hold any type)."""
    value = node.attrs.get(key, default)
    if not isinstance(value, kind) or isinstance(value, bool) != isinstance(default, bool):
        raise WeightsError(f"node {node.name!r}: attribute {key!r} is {value!r}, expected a {kind.__name__}")
    return value


def _node(buf: memoryview, index: int) -> _Node:
    """NodeDef: name = 1, op = 2, input = 3, device = 4, attr = 5 (map entries: key = 1, value = 2)."""
    what = f"node #{index}"
    name, op, inputs, attrs = "", "", [], {}
    raw_attrs: list[tuple[str, memoryview]] = []
    for number, wire, value in pb.fields(buf, what):
        if number == 1:
            name = pb.text(value, wire, what)
            what = f"node {name!r}"
        elif number == 2:
            op = pb.text(value, wire, what)
        elif number == 3:
            inp = pb.text(value, wire, what)
            if not inp.startswith("^"):
                inputs.append(inp)
        elif number == 5:
            key, payload = "", memoryview(b"")
            for n2, w2, v2 in pb.fields(pb.payload(value, wire, pb.LEN, what), what):
                if n2 == 1:
                    key = pb.text(v2, w2, what)
                elif n2 == 2:
                    payload = pb.payload(v2, w2, pb.LEN, what)
            raw_attrs.append((key, payload))
    if not name or not op:
        raise WeightsError(f"{what}: node without a name or an op (not a TensorFlow GraphDef?)")
    for key, payload in raw_attrs:
        attrs[key] = _attr(payload, f"{what} attr {key!r}")
    return _Node(name, op, inputs, attrs)


def _parse_graph(data: bytes) -> list[_Node]:
    """GraphDef: node = 1 (library = 2, versions = 4 ignored)."""
    nodes: list[_Node] = []
    for number, wire, value in pb.fields(memoryview(data), "GraphDef"):
        if number == 1:
            nodes.append(_node(pb.payload(value, wire, pb.LEN, "GraphDef"), len(nodes)))
    if not nodes:
        raise WeightsError("no nodes (not a TensorFlow GraphDef?)")
    return nodes


# --------------------------------------------------------------------------------------------------
# Symbolic values flowing through the graph


@dataclass
class _Const:
    array: np.ndarray


@dataclass
class _Input:
    node: str


@dataclass
class _Raw:
    """The output of conv layer ``layer`` before its bias."""

    layer: int


@dataclass
class _Act:
    """``pos * relu(z) + neg * relu(-z)`` per channel, z = the biased output of conv layer ``layer``."""

    layer: int
    pos: np.ndarray
    neg: np.ndarray


@dataclass
class _Final:
    """The network output: layer ``layer``'s s^2 channels after DepthToSpace, plus ``bias``."""

    layer: int
    scale: int
    bias: float


@dataclass
class _Opaque:
    """A node off the network's path (training leftovers...): an error only if the network uses it."""

    reason: str


Value = Union[_Const, _Input, _Raw, _Act, _Final, _Opaque]


@dataclass
class _Layer:
    name: str
    weight: np.ndarray  # OIHW float64
    bias: np.ndarray | None = None
    bias_node: str | None = None
    consumer: str | None = None
    activation: str = "none"
    slope: np.ndarray | None = None

    @property
    def cout(self) -> int:
        return int(self.weight.shape[0])


_IDENTITY_OPS = {"Identity", "StopGradient", "Snapshot", "PreventGradient"}
_INPUT_OPS = {"Placeholder", "PlaceholderV2", "IteratorGetNext"}
_VARIABLE_OPS = {"Variable", "VariableV2", "VarHandleOp", "ReadVariableOp"}
_SUPPORTED = (
    "Placeholder, Const, Identity, Conv2D, Add/AddV2/BiasAdd/Sub (bias), Relu, LeakyRelu, Neg, Abs, Mul, "
    "RealDiv, Maximum, Minimum (PReLU), DepthToSpace, Transpose (after the output)"
)


class _Interpreter:
    """Evaluates a graph's nodes in dependency order on symbolic values, building the layer chain."""

    def __init__(self, nodes: list[_Node]) -> None:
        self.nodes = {}
        for n in nodes:
            if n.name in self.nodes:
                raise WeightsError(f"two nodes are named {n.name!r}")
            self.nodes[n.name] = n
        self.values: dict[str, Value] = {}
        self.layers: list[_Layer] = []
        self.input: str | None = None
        self.handlers: dict[str, Callable[[_Node, list[Value]], Value]] = {
            "Const": self._const,
            "Conv2D": self._conv2d,
            "Add": self._add,
            "AddV2": self._add,
            "BiasAdd": self._add,
            "Sub": self._sub,
            "Mul": self._mul,
            "RealDiv": self._div,
            "Neg": self._unary,
            "Abs": self._unary,
            "Relu": self._unary,
            "LeakyRelu": self._unary,
            "Maximum": self._minmax,
            "Minimum": self._minmax,
            "DepthToSpace": self._depth_to_space,
            "Transpose": self._transpose,
        }

    # ---- graph order ---------------------------------------------------------------------------
    def _source(self, node: _Node, inp: str) -> str:
        name, _, index = inp.partition(":")
        if name not in self.nodes:
            raise WeightsError(f"node {node.name!r}: input {inp!r} is not a node of the graph")
        if index not in ("", "0"):
            raise WeightsError(
                f"node {node.name!r}: uses output {index} of {name!r}; only single-output ops are supported"
            )
        return name

    def order(self) -> list[_Node]:
        """Kahn's topological order (GraphDef does not promise one); a cycle is an error."""
        deps = {n.name: [self._source(n, i) for i in n.inputs] for n in self.nodes.values()}
        users: dict[str, list[str]] = {name: [] for name in self.nodes}
        pending = {}
        for name, srcs in deps.items():
            pending[name] = len(srcs)
            for s in srcs:
                users[s].append(name)
        ready = [name for name, count in pending.items() if count == 0]
        out = []
        while ready:
            name = ready.pop()
            out.append(self.nodes[name])
            for u in users[name]:
                pending[u] -= 1
                if pending[u] == 0:
                    ready.append(u)
        if len(out) != len(self.nodes):
            stuck = next(name for name, count in pending.items() if count > 0)
            raise WeightsError(f"the graph has a cycle through node {stuck!r} (not a frozen inference graph)")
        self.users = users
        return out

    def run(self) -> list[str]:
        for node in self.order():
            args = [self.values[self._source(node, i)] for i in node.inputs]
            self.values[node.name] = self._eval(node, args)
        return [name for name, us in self.users.items() if not us]

    def _eval(self, node: _Node, args: list[Value]) -> Value:
        if node.op == "IteratorGetNext" or (node.op in _INPUT_OPS and not args):
            return _Input(node.name)
        if node.op in _IDENTITY_OPS and len(args) == 1:
            return args[0]
        handler = self.handlers.get(node.op)
        opaque = next((a for a in args if isinstance(a, _Opaque)), None)
        network_args = [a for a in args if isinstance(a, (_Input, _Raw, _Act, _Final))]
        if handler is None or opaque is not None:
            reason = opaque.reason if opaque else f"node {node.name!r}: unsupported op {node.op!r}"
            if node.op in _VARIABLE_OPS:
                reason = f"the variable {node.name!r} (freeze the graph first: variables to constants)"
            if network_args:
                if handler is None:
                    raise WeightsError(
                        f"node {node.name!r}: op {node.op!r} is not supported in the network (supported: {_SUPPORTED})"
                    )
                raise WeightsError(f"node {node.name!r} ({node.op}) combines the network with {reason}")
            return _Opaque(reason)
        if any(isinstance(a, _Input) for a in args) and node.op != "Conv2D":
            raise WeightsError(
                f"node {node.name!r}: {node.op} on the input before the first convolution is not supported"
            )
        return handler(node, args)

    # ---- helpers ---------------------------------------------------------------------------------
    def _nargs(self, node: _Node, args: list[Value], n: int) -> None:
        if len(args) != n:
            raise WeightsError(f"node {node.name!r} ({node.op}): expected {n} inputs, got {len(args)}")

    def _channels(self, arr: np.ndarray, layer: int, node: _Node) -> np.ndarray:
        """A constant combined with an NHWC feature map of C channels as a per-channel vector: only the
        last axis may be other than 1 (broadcasting over N, H, W), and it must be 1 or C."""
        c = self.layers[layer].cout
        a = np.asarray(arr, np.float64)
        if a.ndim > 4 or any(d != 1 for d in a.shape[:-1]) or (a.ndim and a.shape[-1] not in (1, c)):
            raise WeightsError(
                f"node {node.name!r}: constant of shape {a.shape} is not per-channel for a map of {c} channels "
                f"(expected [{c}] or a scalar)"
            )
        return np.broadcast_to(a.reshape(-1), (c,)).copy()

    def _promote(self, v: Value, node: _Node) -> _Act:
        """A conv output used without a bias add: its bias is zero."""
        if isinstance(v, _Act):
            return v
        assert isinstance(v, _Raw)
        layer = self.layers[v.layer]
        if layer.bias_node:  # "" marks a zero bias set by an earlier use like this one
            raise WeightsError(
                f"node {node.name!r}: uses {layer.name!r} both with and without its bias {layer.bias_node!r}"
            )
        if layer.bias is None:
            layer.bias = np.zeros(layer.cout)
            layer.bias_node = ""
        one = np.ones(layer.cout)
        return _Act(v.layer, one, -one)

    def _set_bias(self, raw: _Raw, bias: np.ndarray, node: _Node) -> _Act:
        layer = self.layers[raw.layer]
        if layer.bias_node is not None:
            what = f"bias {layer.bias_node!r}" if layer.bias_node else "a use without bias"
            raise WeightsError(f"node {node.name!r}: second bias of layer {layer.name!r} (already has {what})")
        layer.bias, layer.bias_node = bias, node.name
        one = np.ones(layer.cout)
        return _Act(raw.layer, one, -one)

    def _same_layer(self, a: _Act, b: _Act, node: _Node) -> None:
        if a.layer != b.layer:
            raise WeightsError(
                f"node {node.name!r} ({node.op}) combines the outputs of layers {self.layers[a.layer].name!r} and "
                f"{self.layers[b.layer].name!r} (a residual/skip connection): only plain chains are supported"
            )

    def _take_last(self, v: Value, node: _Node) -> int:
        """The layer whose output node consumes; it must be the newest one and used only once."""
        idx = v.layer  # type: ignore[union-attr]
        layer = self.layers[idx]
        if idx != len(self.layers) - 1 or layer.consumer is not None:
            other = layer.consumer or self.layers[-1].name
            raise WeightsError(
                f"node {node.name!r}: takes the output of {layer.name!r}, which already feeds {other!r} "
                "(branches and skip connections are not supported)"
            )
        layer.consumer = node.name
        return idx

    # ---- ops ---------------------------------------------------------------------------------------
    def _const(self, node: _Node, args: list[Value]) -> Value:
        value = node.attrs.get("value")
        if not isinstance(value, np.ndarray):
            raise WeightsError(f"node {node.name!r}: Const without a tensor value")
        return _Const(value)

    def _conv2d(self, node: _Node, args: list[Value]) -> Value:
        self._nargs(node, args, 2)
        x, f = args
        if not isinstance(f, _Const):
            raise WeightsError(
                f"node {node.name!r}: the filter must be a constant (a frozen graph), got {type(f).__name__[1:]}"
            )
        w = np.asarray(f.array, np.float64)
        if w.ndim != 4 or w.shape[0] != w.shape[1] or w.shape[0] % 2 == 0:
            raise WeightsError(
                f"node {node.name!r}: expected an odd square HWIO filter [k, k, cin, cout], got shape {w.shape}"
            )
        self._check_conv_attrs(node, w.shape[0])
        if isinstance(x, _Input):
            if self.layers:
                raise WeightsError(f"node {node.name!r}: a second use of the input {x.node!r} (skip connection)")
            self.input = x.node
            channels = 1
        elif isinstance(x, (_Raw, _Act)):
            prev = self.layers[self._take_last(x, node)]
            act = self._promote(x, node)
            channels = prev.cout
        else:
            raise WeightsError(
                f"node {node.name!r}: convolution of {type(x).__name__[1:]} (after the DepthToSpace tail?)"
            )
        if w.shape[2] != channels:
            raise WeightsError(
                f"node {node.name!r}: filter takes {w.shape[2]} input channels, the previous layer gives {channels}"
            )
        oihw = w.transpose(3, 2, 0, 1).copy()
        if not isinstance(x, _Input):
            oihw *= self._activation(prev, act, node)[None, :, None, None]
        self.layers.append(_Layer(node.name, oihw))
        return _Raw(len(self.layers) - 1)

    def _check_conv_attrs(self, node: _Node, k: int) -> None:
        fmt = _attr_of(node, "data_format", bytes, b"NHWC")
        if fmt != b"NHWC":
            raise WeightsError(f"node {node.name!r}: data_format {fmt!r} is not supported (expected NHWC)")
        for key in ("strides", "dilations"):
            vals = _attr_of(node, key, list, [1, 1, 1, 1])
            if vals != [1, 1, 1, 1]:
                raise WeightsError(f"node {node.name!r}: {key} {vals} (expected all 1)")
        padding = _attr_of(node, "padding", bytes, b"")
        r = k // 2
        if padding == b"SAME":
            return
        if padding == b"EXPLICIT" and _attr_of(node, "explicit_paddings", list, []) == [0, 0, r, r, r, r, 0, 0]:
            return
        raise WeightsError(
            f"node {node.name!r}: padding {padding!r} is not supported "
            "(expected SAME: every layer keeps the image size)"
        )

    def _activation(self, layer: _Layer, act: _Act, node: _Node) -> np.ndarray:
        """Fixes layer's activation from act = P relu(z) + N relu(-z) = P * prelu(z, -N/P); returns P,
        the per-input-channel factor to fold into the consuming layer."""
        if np.any(act.pos == 0):
            raise WeightsError(
                f"node {node.name!r}: the activation of {layer.name!r} is zero for positive inputs in some channel "
                "(not a (P)ReLU)"
            )
        slope = -act.neg / act.pos
        if np.all(slope == 1):
            layer.activation, layer.slope = "none", None
        elif np.all(slope == 0):
            layer.activation, layer.slope = "relu", None
        else:
            layer.activation, layer.slope = "prelu", slope
        return act.pos

    def _binary(self, node: _Node, args: list[Value]) -> tuple[Value, Value]:
        self._nargs(node, args, 2)
        return args[0], args[1]

    def _add(self, node: _Node, args: list[Value], sign: float = 1.0) -> Value:
        a, b = self._binary(node, args)
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(np.asarray(a.array, np.float64) + sign * np.asarray(b.array, np.float64))
        if sign > 0 and isinstance(a, _Const):
            a, b = b, a
        if isinstance(b, _Const):
            if isinstance(a, _Raw):
                return self._set_bias(a, sign * self._channels(b.array, a.layer, node), node)
            if isinstance(a, _Final):
                c = np.asarray(b.array, np.float64)
                if c.size != 1:
                    raise WeightsError(f"node {node.name!r}: constant of shape {c.shape} added to the 1-channel output")
                return _Final(a.layer, a.scale, a.bias + sign * float(c.reshape(-1)[0]))
            raise WeightsError(
                f"node {node.name!r} ({node.op}): a constant added after an activation (expected a bias right after "
                "the convolution)"
            )
        if isinstance(a, (_Raw, _Act)) and isinstance(b, (_Raw, _Act)):
            pa, pb = self._promote(a, node), self._promote(b, node)
            self._same_layer(pa, pb, node)
            return _Act(pa.layer, pa.pos + sign * pb.pos, pa.neg + sign * pb.neg)
        raise WeightsError(
            f"node {node.name!r} ({node.op}): cannot combine {type(a).__name__[1:]} and {type(b).__name__[1:]}"
        )

    def _sub(self, node: _Node, args: list[Value]) -> Value:
        if len(args) == 2 and isinstance(args[0], _Const) and not isinstance(args[1], _Const):
            raise WeightsError(f"node {node.name!r}: constant minus a feature map is not supported")
        return self._add(node, args, -1.0)

    def _mul(self, node: _Node, args: list[Value], invert: bool = False) -> Value:
        a, b = self._binary(node, args)
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(a.array / b.array if invert else a.array * b.array)
        if isinstance(a, _Const) and not invert:
            a, b = b, a
        if isinstance(a, (_Raw, _Act)) and isinstance(b, _Const):
            act = self._promote(a, node)
            c = self._channels(b.array, act.layer, node)
            if invert:
                if np.any(c == 0):
                    raise WeightsError(f"node {node.name!r}: division by zero")
                c = 1.0 / c
            return _Act(act.layer, act.pos * c, act.neg * c)
        raise WeightsError(
            f"node {node.name!r} ({node.op}): only a feature map times a constant is supported, got "
            f"{type(a).__name__[1:]} and {type(b).__name__[1:]}"
        )

    def _div(self, node: _Node, args: list[Value]) -> Value:
        return self._mul(node, args, invert=True)

    def _unary(self, node: _Node, args: list[Value]) -> Value:
        self._nargs(node, args, 1)
        (a,) = args
        alpha = _attr_of(node, "alpha", float, 0.2)
        fn: Callable[[np.ndarray], np.ndarray] = {
            "Neg": np.negative,
            "Abs": np.abs,
            "Relu": lambda v: np.maximum(v, 0.0),
            "LeakyRelu": lambda v: np.where(v > 0, v, alpha * v),
        }[node.op]
        if isinstance(a, _Const):
            return _Const(fn(np.asarray(a.array, np.float64)))
        if isinstance(a, (_Raw, _Act)):
            # Each coefficient multiplies a non-negative basis function, so the op applies to it directly.
            act = self._promote(a, node)
            return _Act(act.layer, fn(act.pos), fn(act.neg))
        raise WeightsError(f"node {node.name!r}: {node.op} of {type(a).__name__[1:]} is not supported")

    def _minmax(self, node: _Node, args: list[Value]) -> Value:
        a, b = self._binary(node, args)
        fn = np.maximum if node.op == "Maximum" else np.minimum
        if isinstance(a, _Const) and isinstance(b, _Const):
            return _Const(fn(a.array, b.array))
        if isinstance(a, _Const):
            a, b = b, a
        if isinstance(a, (_Raw, _Act)):
            pa = self._promote(a, node)
            if isinstance(b, _Const):
                if np.any(np.asarray(b.array) != 0):
                    raise WeightsError(f"node {node.name!r}: {node.op} with a non-zero constant is not supported")
                zero = np.zeros_like(pa.pos)
                pb = _Act(pa.layer, zero, zero)
            elif isinstance(b, (_Raw, _Act)):
                pb = self._promote(b, node)
                self._same_layer(pa, pb, node)
            else:
                raise WeightsError(f"node {node.name!r}: {node.op} of a feature map and {type(b).__name__[1:]}")
            return _Act(pa.layer, fn(pa.pos, pb.pos), fn(pa.neg, pb.neg))
        raise WeightsError(f"node {node.name!r}: {node.op} of {type(a).__name__[1:]} is not supported")

    def _depth_to_space(self, node: _Node, args: list[Value]) -> Value:
        self._nargs(node, args, 1)
        (x,) = args
        s = _attr_of(node, "block_size", int, 0)
        if not isinstance(s, int) or not 2 <= s <= 16:
            raise WeightsError(f"node {node.name!r}: DepthToSpace block_size {s!r} (expected an integer in [2, 16])")
        fmt = _attr_of(node, "data_format", bytes, b"NHWC")
        if fmt != b"NHWC":
            raise WeightsError(f"node {node.name!r}: DepthToSpace data_format {fmt!r} (expected NHWC)")
        if not isinstance(x, (_Raw, _Act)):
            raise WeightsError(
                f"node {node.name!r}: DepthToSpace of {type(x).__name__[1:]} (expected the last convolution)"
            )
        idx = self._take_last(x, node)
        layer = self.layers[idx]  # its channel count against the block size: the assembler checks it
        act = self._promote(x, node)
        if not np.array_equal(act.neg, -act.pos):
            raise WeightsError(
                f"node {node.name!r}: an activation between {layer.name!r} and DepthToSpace is not supported"
            )
        assert layer.bias is not None
        layer.weight = layer.weight * act.pos[:, None, None, None]
        layer.bias = layer.bias * act.pos
        return _Final(idx, s, 0.0)

    def _transpose(self, node: _Node, args: list[Value]) -> Value:
        x, perm = self._binary(node, args)
        if not isinstance(x, _Final) or not isinstance(perm, _Const):
            raise WeightsError(f"node {node.name!r}: Transpose is only supported on the 1-channel output")
        p = [int(v) for v in np.asarray(perm.array).reshape(-1)]
        if sorted(p) != [0, 1, 2, 3] or p[0] != 0 or p.index(1) > p.index(2):
            raise WeightsError(f"node {node.name!r}: Transpose perm {p} moves the batch or swaps height and width")
        return x


def _spec(interp: _Interpreter, sinks: list[str], path: Path, scale: int | None) -> NetworkSpec:
    finals = {name: v for name in sinks if isinstance(v := interp.values[name], _Final)}
    if not finals:
        ends = [n for n in sinks if isinstance(interp.values[n], (_Raw, _Act))]
        where = f" (the network ends at {', '.join(map(repr, ends))})" if ends else ""
        raise WeightsError(f"no DepthToSpace output found{where}: expected conv -> DepthToSpace(scale) [-> bias]")
    out_name, final = next(iter(finals.items()))
    for name, other in finals.items():
        if (other.layer, other.bias) != (final.layer, final.bias):
            raise WeightsError(f"several different outputs: {out_name!r} and {name!r}")
    assert final.layer == len(interp.layers) - 1  # DepthToSpace took the newest layer; nothing may follow
    ops: list[Op] = []
    for layer in interp.layers:
        assert layer.bias is not None
        bias = layer.bias + final.bias if layer is interp.layers[-1] else layer.bias
        ops.append(ConvOp(layer.name, layer.weight, bias, "zero", "none"))
        if layer.activation != "none":  # what the Relu / Neg / Mul / Maximum nodes after it amount to
            ops.append(ActOp(f"{layer.name} (activation)", layer.activation, layer.slope))
    ops.append(ShuffleOp(out_name, final.scale))
    meta = {"source": f"TensorFlow GraphDef {path.name}", "input": interp.input or "", "output": out_name}
    return assemble(ops, scale=scale, metadata=meta, record_tail=False,
                    scale_detail="the DepthToSpace block_size gives scale {found}")


def load_tf_pb(path: str | Path, scale: int | None = None) -> NetworkSpec:
    """Reads a TensorFlow frozen graph of a sub-pixel FSRCNN (OpenCV dnn_superres' ``FSRCNN_x3.pb``...).

    The scale is DepthToSpace's ``block_size``; ``scale``, when given, must agree with it. Every layer has
    a zero border (TensorFlow ``SAME`` padding); the tail is a :class:`Subpixel` whose per-channel bias
    includes the single bias added after the shuffle. Raises ``WeightsError`` for files that are not a
    GraphDef, and for graphs that are not such a chain (the message names the node)."""
    p = Path(path)
    data = p.read_bytes()
    try:
        with np.errstate(all="ignore"):  # a damaged file's NaN / inf weights are refused by the schema
            interp = _Interpreter(_parse_graph(data))
            sinks = interp.run()
            return _spec(interp, sinks, p, scale)
    except ValueError as exc:
        raise WeightsError(f"{p}: {exc}") from exc
