"""ONNX import and export of any :class:`NetworkSpec` (needs the optional ``onnx`` package).

Export (:func:`save_onnx`): one float32 NCHW input ``input`` [N, 1, H, W] with dynamic N, H, W (the Y plane
in [0, 1]) and one output ``output``. Each layer is a ``Conv`` (+ ``PRelu`` / ``Relu``); a ``zero`` border is
the conv's own ``pads``, a ``replicate`` border a ``Pad(mode="edge")`` in front of a conv with no pads. The
deconvolution tail is a ``ConvTranspose`` whose ``pads`` / ``output_padding`` give exactly ``scale`` x the
input with the spec's offset (symmetric pads, PyTorch style, whenever the offset allows); with a
replicate border the input is first edge-padded by the LR pixels the deconvolution reaches beyond the
image, and the pads crop them off again. The sub-pixel tail is a ``Conv`` to scale^2 channels and
``DepthToSpace(mode="DCR")``. SRCNN (``pre_upsample``) graphs contain the network only: the caller upscales
the input with MATLAB-style bicubic first; the model's ``metadata_props`` record that
(``fsrcnn_fast.pre_upsample``), the kind and the scale, so :func:`load_onnx` restores the spec exactly.

Import (:func:`load_onnx`) walks the chain from the input to the output and accepts ``Conv``,
``ConvTranspose``, ``PRelu``, ``Relu``, ``LeakyRelu``, ``DepthToSpace`` (DCR or CRD: identical for one
output channel), ``Add`` / ``Sub`` of a constant (bias), ``Pad`` (``edge`` -> replicate border, ``constant``
0 -> zero border), ``Slice`` of the spatial axes after a ``ConvTranspose``, and ``Identity`` / ``Dropout``;
weights come from initializers or ``Constant`` nodes. The deconvolution offset is derived exactly: after
an optional ``Pad`` of ``m`` LR pixels before, ``ConvTranspose`` pads ``pb`` before and a ``Slice`` starting
at ``c``, ``out[o] = sum_p x[p] * w[o + c + pb - s*m - s*p]``, i.e. offset = ``c + pb - s*m``; PyTorch's
``ConvTranspose2d(padding=p, output_padding=s-1)`` is offset ``p``. Anything else raises ``ValueError``
naming the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import WeightsError, WeightsFileNotFoundError
from .limits import check_elements, check_file_size
from .assemble import ActOp, ConvOp, DeconvOp, Op, ShuffleOp, assemble
from .schema import Conv, Deconv, NetworkSpec, Subpixel

__all__ = ["load_onnx", "save_onnx"]

_META = "fsrcnn_fast."
_BIG = 1 << 60  # Slice ends at or past this are "to the end"


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise ImportError("ONNX import/export needs the onnx package: pip install onnx") from exc
    return onnx


# --------------------------------------------------------------------------------------------------
# Export


def _deconv_geometry(t: Deconv) -> tuple[int, int, int, int]:
    """(LR pad before, LR pad after, ConvTranspose pads, output_padding) for the tail t, on both axes.

    With m_b / m_a LR pixels padded before / after and symmetric pads p, ConvTranspose gives
    s*(H + m_b + m_a - 1) + op + k - 2p outputs at offset p - s*m_b. We need s*H outputs at t.offset, so
    p = offset + s*m_b and op = 2*offset - k + s*(m_b - m_a + 1), which must lie in [0, s): that fixes
    m_b - m_a. Symmetric pads are what PyTorch's ConvTranspose2d writes and what OpenCV reads. A
    replicate border needs every LR pixel beyond the image that some output reads (more is harmless,
    the pads crop it off); with a zero border padding is only needed for unusual offsets."""
    s, k, off = t.scale, int(t.weight.shape[-1]), t.offset
    need_b, need_a = 0, 0
    if t.border == "replicate":
        need_b, need_a = max((k - 1 - off) // s, 0), max((s - 1 + off) // s, 0)
    diff = -((2 * off - k) // s) - 1  # m_b - m_a
    mb = max(need_b, need_a + diff, -(off // s), 0)
    ma = mb - diff
    op = 2 * off - k + s * (diff + 1)
    assert 0 <= op < s and ma >= need_a and off + s * mb >= 0
    return mb, ma, off + s * mb, op


class _GraphBuilder:
    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.x = "input"

    def const(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> None:
        out = f"{name}.out"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=name, **attrs))
        self.x = out

    def pad(self, name: str, before: int, after: int, mode: str) -> None:
        pads = np.array([0, 0, before, before, 0, 0, after, after], np.int64)
        self.node("Pad", [self.x, self.const(f"{name}.pads", pads)], f"{name}.pad", mode=mode)

    def conv(self, name: str, weight: np.ndarray, bias: np.ndarray, border: str) -> None:
        r = int(weight.shape[-1]) // 2
        if border == "replicate" and r > 0:
            self.pad(name, r, r, "edge")
            r = 0
        inputs = [self.x, self.const(f"{name}.weight", weight), self.const(f"{name}.bias", bias)]
        self.node("Conv", inputs, name, kernel_shape=list(weight.shape[2:]), pads=[r] * 4)

    def layer(self, l: Conv) -> None:
        self.conv(l.name, l.weight, l.bias, l.border)
        if l.activation == "prelu":
            assert l.slope is not None
            slope = self.const(f"{l.name}.prelu", l.slope.reshape(-1, 1, 1))
            self.node("PRelu", [self.x, slope], f"{l.name}.prelu")
        elif l.activation == "relu":
            self.node("Relu", [self.x], f"{l.name}.relu")

    def deconv(self, t: Deconv) -> None:
        mb, ma, p, op = _deconv_geometry(t)
        if mb or ma:
            self.pad(t.name, mb, ma, "edge" if t.border == "replicate" else "constant")
        s, k = t.scale, int(t.weight.shape[-1])
        inputs = [self.x, self.const(f"{t.name}.weight", t.weight), self.const(f"{t.name}.bias", t.bias)]
        self.node("ConvTranspose", inputs, t.name, kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                  output_padding=[op, op])

    def subpixel(self, t: Subpixel) -> None:
        self.conv(t.name, t.weight, t.bias, t.border)
        self.node("DepthToSpace", [self.x], f"{t.name}.shuffle", blocksize=t.scale, mode="DCR")


def _to_model(spec: NetworkSpec, opset: int) -> Any:
    onnx = _onnx()
    helper = onnx.helper
    if not isinstance(opset, int) or not 11 <= opset <= onnx.defs.onnx_opset_version():
        raise WeightsError(f"opset must be an integer in [11, {onnx.defs.onnx_opset_version()}], got {opset!r}")
    g = _GraphBuilder(onnx)
    for layer in spec.layers:
        g.layer(layer)
    if isinstance(spec.tail, Deconv):
        g.deconv(spec.tail)
    elif isinstance(spec.tail, Subpixel):
        g.subpixel(spec.tail)
    g.nodes.append(helper.make_node("Identity", [g.x], ["output"], name="output"))
    float_t = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes,
        spec.kind,
        [helper.make_tensor_value_info("input", float_t, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info("output", float_t, ["N", 1, None, None])],
        g.inits,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="fsrcnn_fast")
    model.ir_version = helper.find_min_ir_version_for(opsets)  # the oldest IR that runs: widest support
    meta = {
        **spec.metadata,
        _META + "kind": spec.kind,
        _META + "scale": str(spec.scale),
        _META + "pre_upsample": "matlab-bicubic" if spec.pre_upsample else "",
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def save_onnx(spec: NetworkSpec, path: str | Path, opset: int = 17) -> None:
    """Writes spec as an ONNX model (float32 NCHW Y plane in, ``scale`` x larger plane out).

    For SRCNN (``spec.pre_upsample``) the graph is the network only: upscale its input by ``spec.scale``
    with MATLAB bicubic first (``fsrcnn_fast`` does that in :meth:`Model.run_y`). ``opset`` >= 11."""
    model = _to_model(spec, opset)
    _onnx().save(model, str(path))


# --------------------------------------------------------------------------------------------------
# Import


@dataclass
class _Pad:
    node: str
    mode: str  # "edge" | "constant" (value 0)
    before: tuple[int, int]  # H, W
    after: tuple[int, int]


@dataclass
class _PendingDeconv:
    name: str
    weight: np.ndarray
    bias: np.ndarray
    scale: int
    pad: _Pad | None
    pads: list[int]  # ConvTranspose [top, left, bottom, right]
    output_padding: list[int]
    crop_begin: list[int] = field(default_factory=lambda: [0, 0])
    crop_end: list[int] = field(default_factory=lambda: [0, 0])
    sliced: bool = False

    def build(self) -> DeconvOp:
        """The tail with the offset its pads, input padding and crop give (exactly; offset= cannot change it)."""
        s, k = self.scale, int(self.weight.shape[-1])
        offsets = []
        for axis in range(2):
            mb = self.pad.before[axis] if self.pad else 0
            ma = self.pad.after[axis] if self.pad else 0
            pb, pe = self.pads[axis], self.pads[axis + 2]
            c, e = self.crop_begin[axis], self.crop_end[axis]
            if s * (mb + ma) - s + self.output_padding[axis] + k - pb - pe - c - e != 0:
                raise WeightsError(
                    f"node {self.name!r}: the output is not exactly {s} x the input (pads {self.pads}, output_padding "
                    f"{self.output_padding}, input padding {mb}/{ma}, crop {c}/{e})"
                )
            offsets.append(c + pb - s * mb)
        if offsets[0] != offsets[1]:
            raise WeightsError(f"node {self.name!r}: different offsets along height and width {offsets}")
        off = offsets[0]
        border = "zero"
        if self.pad is not None and self.pad.mode == "edge":
            need = (max((k - 1 - off) // s, 0), max((s - 1 + off) // s, 0))
            if min(self.pad.before) < need[0] or min(self.pad.after) < need[1]:
                raise WeightsError(
                    f"node {self.pad.node!r}: edge padding {self.pad.before}/{self.pad.after} covers fewer LR pixels "
                    f"than the deconvolution reads beyond the image ({need[0]}/{need[1]}): mixed borders are not "
                    "supported"
                )
            border = "replicate"
        return DeconvOp(self.name, self.weight, self.bias, s, off, overridable=False, border=border)


_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"}
_SUPPORTED = "Conv, ConvTranspose, PRelu, Relu, LeakyRelu, DepthToSpace, Add/Sub (bias), Pad, Slice, Identity"


class _Importer:
    def __init__(self, model: Any, onnx: Any) -> None:
        self.onnx = onnx
        graph = model.graph
        self.consts: dict[str, np.ndarray] = {t.name: self._array(t) for t in graph.initializer}
        for i, n in enumerate(graph.node):
            if not n.name:
                n.name = f"{n.op_type}_{i}"
        self.nodes = self._fold_constants(model)
        inputs = [v for v in graph.input if v.name not in self.consts]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise WeightsError(
                f"expected one input and one output, got {len(inputs)} inputs and {len(graph.output)} outputs"
            )
        self.input, self.output = inputs[0].name, graph.output[0].name
        self._check_input(inputs[0])
        props = ((p.key, p.value) for p in model.metadata_props)
        self.meta = {k: v for k, v in props if isinstance(k, str) and isinstance(v, str)}  # bytes if not UTF-8
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)

    def _array(self, t: Any) -> np.ndarray:
        if t.data_location == self.onnx.TensorProto.EXTERNAL or len(t.external_data):
            raise WeightsError(f"initializer {t.name!r}: data stored in another file; refused")
        check_elements(t.dims, f"initializer {t.name!r}")
        try:
            return self.onnx.numpy_helper.to_array(t)
        except (KeyError, TypeError, ValueError) as exc:  # e.g. an unknown data type
            raise WeightsError(f"initializer {t.name!r} is unreadable ({type(exc).__name__}: {exc})") from exc

    def _fold_constants(self, model: Any) -> list[Any]:
        """Evaluates the nodes that depend on constants only (Constant, and e.g. the ConstantOfShape / Concat /
        ... / Cast chain PyTorch writes for a replicate Pad's pads) with onnx's reference evaluator; returns
        the others."""
        known, fold, rest = set(self.consts), [], []
        for n in model.graph.node:
            graph_attr = any(a.type in (a.GRAPH, a.GRAPHS) for a in n.attribute)
            if (n.domain in ("", "ai.onnx") and n.op_type not in _NO_FOLD and not graph_attr
                    and all(i in known for i in n.input if i)):
                fold.append(n)
                known.update(o for o in n.output if o)
            else:
                rest.append(n)
        if fold:
            try:
                from onnx.reference import ReferenceEvaluator
            except ImportError as exc:  # onnx < 1.13
                raise WeightsError(f"constant nodes {[n.name for n in fold]} need onnx >= 1.13 to evaluate") from exc

            helper = self.onnx.helper
            # one node at a time, so that the size a node will allocate is checked on its evaluated inputs first
            for n in fold:
                self._check_fold_size(n)
                names = [o for o in n.output if o]
                inputs = [i for i in n.input if i]
                inits = [self.onnx.numpy_helper.from_array(np.asarray(self.consts[i]), i) for i in dict.fromkeys(inputs)]
                graph = helper.make_graph([n], "constant", [], [helper.make_empty_tensor_value_info(o) for o in names],
                                          inits)
                sub = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
                try:
                    values = ReferenceEvaluator(sub).run(names, {})
                except Exception as exc:  # the reference ops raise assorted types
                    raise WeightsError(f"cannot evaluate the constant node {n.name!r} ({n.op_type}; "
                                       f"{type(exc).__name__}: {exc})") from exc
                for name, v in zip(names, values):
                    arr = np.asarray(v)
                    check_elements(arr.shape, f"constant node {n.name!r} ({n.op_type})")
                    self.consts[name] = arr
        return rest

    def _check_fold_size(self, n: Any) -> None:
        """Refuses a constant node whose output, computed from its (known) inputs, would be larger than any
        weight: ConstantOfShape / Expand take a shape, Tile repeats, Range a count."""
        args = [self.consts.get(i) for i in n.input]
        what = f"constant node {n.name!r} ({n.op_type})"
        for a in n.attribute:  # Constant's value and ConstantOfShape's fill: a tensor in the node
            for t in ([a.t] if a.HasField("t") else []) + list(a.tensors):
                if t.data_location == self.onnx.TensorProto.EXTERNAL or len(t.external_data):
                    raise WeightsError(f"{what}: attribute {a.name!r} has its data in another file; refused")
                check_elements(t.dims, f"{what}: attribute {a.name!r}")
        try:
            if n.op_type in ("ConstantOfShape", "Expand") and len(args) >= 1:
                shape = args[0] if n.op_type == "ConstantOfShape" else args[1] if len(args) > 1 else None
                if shape is not None:
                    check_elements(np.asarray(shape).reshape(-1).tolist(), what)
            elif n.op_type == "Tile" and len(args) == 2 and args[0] is not None and args[1] is not None:
                check_elements(list(np.shape(args[0])) + np.asarray(args[1]).reshape(-1).tolist(), what)
            elif n.op_type == "Range" and len(args) == 3 and all(a is not None for a in args):
                start, limit, delta = (float(np.asarray(a).reshape(-1)[0]) for a in args)
                if delta == 0 or not np.isfinite([start, limit, delta]).all():
                    raise WeightsError(f"{what}: Range({start}, {limit}, {delta})")
                check_elements([max(0, int(np.ceil((limit - start) / delta)))], what)
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            if isinstance(exc, WeightsError):
                raise
            raise WeightsError(f"{what}: malformed inputs ({exc})") from exc

    def _check_input(self, v: Any) -> None:
        t = v.type.tensor_type
        if t.elem_type not in (0, self.onnx.TensorProto.FLOAT):
            raise WeightsError(f"input {v.name!r}: element type {t.elem_type}, expected float32")
        dims = t.shape.dim
        if t.HasField("shape") and (len(dims) != 4 or (dims[1].HasField("dim_value") and dims[1].dim_value != 1)):
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            raise WeightsError(f"input {v.name!r}: shape {shape}, expected [N, 1, H, W] (one Y plane, NCHW)")

    # ---- helpers ---------------------------------------------------------------------------------
    def _attrs(self, n: Any) -> dict[str, Any]:
        """n's attributes, strings decoded, repeated fields as lists."""
        out = {}
        for a in n.attribute:
            value = self.onnx.helper.get_attribute_value(a)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            out[a.name] = list(value) if isinstance(value, (list, tuple)) or hasattr(value, "extend") else value
        return out

    @staticmethod
    def _typed(n: Any, attrs: dict[str, Any], key: str, default: Any) -> Any:
        """attrs[key] (or default), which must have default's type: a damaged file can hold anything."""
        value = attrs.get(key, default)
        if isinstance(default, list):
            ok = isinstance(value, list) and all(isinstance(v, int) for v in value)
        else:
            ok = isinstance(value, type(default)) or (isinstance(default, float) and isinstance(value, int))
        if not ok:
            raise WeightsError(f"node {n.name!r} ({n.op_type}): attribute {key!r} = {value!r} has the wrong type")
        return value

    def _const_input(self, n: Any, i: int, what: str, optional: bool = False) -> np.ndarray | None:
        if i >= len(n.input) or not n.input[i]:
            if optional:
                return None
            raise WeightsError(f"node {n.name!r} ({n.op_type}): missing {what}")
        if n.input[i] not in self.consts:
            raise WeightsError(f"node {n.name!r} ({n.op_type}): {what} {n.input[i]!r} must be a constant (initializer)")
        return self.consts[n.input[i]]

    def _next(self, tensor: str) -> Any | None:
        """The single node consuming tensor, None at the graph output."""
        users = [n for n in self.nodes if tensor in n.input]
        if tensor == self.output:
            if users:
                raise WeightsError(f"the output {tensor!r} also feeds {users[0].name!r}: expected a plain chain")
            return None
        if len(users) != 1:
            names = ", ".join(repr(u.name) for u in users) or "nothing"
            raise WeightsError(
                f"tensor {tensor!r} feeds {names}: expected exactly one consumer (a plain chain to the output)"
            )
        n = users[0]
        if n.input[0] != tensor:
            raise WeightsError(
                f"node {n.name!r} ({n.op_type}): takes the network as input {list(n.input).index(tensor)}, expected "
                f"input 0"
            )
        if len(n.output) != 1:
            raise WeightsError(f"node {n.name!r} ({n.op_type}): {len(n.output)} outputs, expected one")
        return n

    @staticmethod
    def _per_channel(arr: np.ndarray, channels: int, node: Any, what: str) -> np.ndarray:
        """An NCHW-broadcast constant as [channels]: size 1, or [C, 1, 1] / [1, C, 1, 1]. A plain [C] would
        broadcast along W (ONNX follows NumPy), so it is refused."""
        a = np.asarray(arr, np.float64)
        if a.size == 1:
            return np.full(channels, float(a.reshape(-1)[0]))
        if 3 <= a.ndim <= 4 and a.shape[-3] == channels and a.size == channels:
            return a.reshape(-1)
        raise WeightsError(
            f"node {node.name!r}: {what} of shape {list(a.shape)} is not per-channel for {channels} channels "
            f"(expected [{channels}, 1, 1], [1, {channels}, 1, 1] or one value)"
        )

    # ---- ops -------------------------------------------------------------------------------------
    def _pad(self, n: Any) -> _Pad:
        attrs = self._attrs(n)
        mode = self._typed(n, attrs, "mode", "constant")
        if self.opset >= 11:
            pads = self._const_input(n, 1, "pads")
            value = self._const_input(n, 2, "constant_value", optional=True)
            axes = self._const_input(n, 3, "axes", optional=True)
        else:
            pads, axes = np.array(self._typed(n, attrs, "pads", [])), None
            value = np.array(self._typed(n, attrs, "value", 0.0))
        pads = [int(p) for p in np.asarray(pads).reshape(-1)]
        ax = [0, 1, 2, 3] if axes is None else [int(a) % 4 for a in np.asarray(axes).reshape(-1)]
        if len(pads) != 2 * len(ax):
            raise WeightsError(f"node {n.name!r}: {len(pads)} pads for {len(ax)} axes")
        full = dict.fromkeys(range(4), (0, 0))
        for i, a in enumerate(ax):
            full[a] = (pads[i], pads[i + len(ax)])
        if full[0] != (0, 0) or full[1] != (0, 0) or min(min(full[2]), min(full[3])) < 0:
            raise WeightsError(f"node {n.name!r}: pads {pads} must be non-negative and only on H and W")
        if mode == "constant":
            if value is not None and np.any(np.asarray(value) != 0):
                raise WeightsError(
                    f"node {n.name!r}: constant padding with {np.asarray(value).tolist()} (only 0 is a border mode)"
                )
        elif mode != "edge":
            raise WeightsError(
                f"node {n.name!r}: Pad mode {mode!r} is not supported (edge = replicate, constant 0 = zero)"
            )
        return _Pad(n.name, mode, (full[2][0], full[3][0]), (full[2][1], full[3][1]))

    def _conv(self, n: Any, pad: _Pad | None, channels: int) -> ConvOp:
        w = np.asarray(self._const_input(n, 1, "weight"))
        b = self._const_input(n, 2, "bias", optional=True)
        attrs = self._attrs(n)
        if w.ndim != 4 or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
            raise WeightsError(f"node {n.name!r}: weight of shape {list(w.shape)}, expected [cout, cin, k, k] with odd k")
        if w.shape[1] != channels:
            raise WeightsError(f"node {n.name!r}: takes {w.shape[1]} input channels, the previous layer gives {channels}")
        for key in ("strides", "dilations"):
            if any(v != 1 for v in self._typed(n, attrs, key, [1, 1])):
                raise WeightsError(f"node {n.name!r}: {key} {attrs[key]}, expected 1")
        if self._typed(n, attrs, "group", 1) != 1:
            raise WeightsError(f"node {n.name!r}: grouped convolution (group={attrs['group']}) is not supported")
        r = w.shape[2] // 2
        auto = self._typed(n, attrs, "auto_pad", "NOTSET")
        pads = {"NOTSET": self._typed(n, attrs, "pads", [0, 0, 0, 0]), "VALID": [0, 0, 0, 0]}.get(auto, [r] * 4)
        if len(pads) != 4:
            raise WeightsError(f"node {n.name!r}: pads {pads} are not 2-D")
        border = "zero" if r > 0 else None
        if pad is not None:
            if pad.mode == "edge":
                if any(pads):
                    raise WeightsError(
                        f"node {n.name!r}: edge Pad {pad.node!r} followed by zero conv pads (mixed border)"
                    )
                border = "replicate"
            border = border or "zero"
            pads = [pads[0] + pad.before[0], pads[1] + pad.before[1], pads[2] + pad.after[0], pads[3] + pad.after[1]]
        if pads != [r] * 4:
            raise WeightsError(
                f"node {n.name!r}: total padding {pads} for a {w.shape[2]}x{w.shape[3]} kernel, expected {[r] * 4} "
                f"(same size)"
            )
        bias = np.zeros(w.shape[0]) if b is None else np.asarray(b, np.float64).reshape(-1)
        return ConvOp(n.name, w, bias, border, "none")  # its activation, if any, is the next node

    def _conv_transpose(self, n: Any, pad: _Pad | None, channels: int) -> _PendingDeconv:
        w = np.asarray(self._const_input(n, 1, "weight"))
        b = self._const_input(n, 2, "bias", optional=True)
        attrs = self._attrs(n)
        if w.ndim != 4 or w.shape[1] != 1 or w.shape[2] != w.shape[3]:
            raise WeightsError(
                f"node {n.name!r}: weight of shape {list(w.shape)}, expected [cin, 1, k, k] (one output channel)"
            )
        if w.shape[0] != channels:
            raise WeightsError(f"node {n.name!r}: takes {w.shape[0]} input channels, the previous layer gives {channels}")
        strides = self._typed(n, attrs, "strides", [1, 1])
        if len(strides) != 2 or strides[0] != strides[1] or not 1 <= strides[0] <= 16:
            raise WeightsError(f"node {n.name!r}: strides {strides}, expected two equal scales in [1, 16]")
        if any(v != 1 for v in self._typed(n, attrs, "dilations", [1, 1])) or self._typed(n, attrs, "group", 1) != 1:
            raise WeightsError(f"node {n.name!r}: dilated or grouped ConvTranspose is not supported")
        if "output_shape" in attrs:
            raise WeightsError(f"node {n.name!r}: a fixed output_shape is not supported (use pads and output_padding)")
        auto = self._typed(n, attrs, "auto_pad", "NOTSET")
        if auto != "NOTSET":
            raise WeightsError(f"node {n.name!r}: auto_pad {auto!r} is not supported (use explicit pads)")
        pads = self._typed(n, attrs, "pads", [0, 0, 0, 0])
        op = self._typed(n, attrs, "output_padding", [0, 0])
        if len(pads) != 4 or len(op) != 2:
            raise WeightsError(f"node {n.name!r}: pads {pads} / output_padding {op} are not 2-D")
        if pad is not None and pad.mode == "edge" and (pad.before[0] != pad.before[1] or pad.after[0] != pad.after[1]):
            raise WeightsError(f"node {pad.node!r}: different edge padding along height and width")
        bias = np.zeros(1) if b is None else np.asarray(b, np.float64).reshape(-1)
        return _PendingDeconv(n.name, w, bias, strides[0], pad, pads, op)

    def _slice(self, n: Any, tail: _PendingDeconv) -> None:
        if self.opset >= 10:
            starts, ends = self._const_input(n, 1, "starts"), self._const_input(n, 2, "ends")
            axes = self._const_input(n, 3, "axes", optional=True)
            steps = self._const_input(n, 4, "steps", optional=True)
        else:
            attrs = self._attrs(n)
            starts, ends = self._typed(n, attrs, "starts", []), self._typed(n, attrs, "ends", [])
            axes = self._typed(n, attrs, "axes", []) if "axes" in attrs else None
            steps = None
        st = [int(v) for v in np.asarray(starts).reshape(-1)]
        en = [int(v) for v in np.asarray(ends).reshape(-1)]
        ax = list(range(len(st))) if axes is None else [int(v) % 4 for v in np.asarray(axes).reshape(-1)]
        if steps is not None and np.any(np.asarray(steps) != 1):
            raise WeightsError(f"node {n.name!r}: Slice steps {np.asarray(steps).tolist()}, expected 1")
        for a, s0, e0 in zip(ax, st, en):
            if a in (0, 1):
                if s0 != 0 or e0 < _BIG:
                    raise WeightsError(f"node {n.name!r}: Slice of the batch or channel axis")
                continue
            if s0 < 0 or not (e0 < 0 or e0 >= _BIG):
                raise WeightsError(
                    f"node {n.name!r}: Slice [{s0}:{e0}] on axis {a} depends on the image size "
                    "(expected a non-negative start and a negative or open end)"
                )
            tail.crop_begin[a - 2] += s0
            tail.crop_end[a - 2] += 0 if e0 >= _BIG else -e0
        tail.sliced = True

    def _activation(self, n: Any, ops: list[Op]) -> ActOp:
        if n.op_type == "Relu":
            return ActOp(n.name, "relu")
        if n.op_type == "LeakyRelu":
            return ActOp(n.name, "prelu", np.array([self._typed(n, self._attrs(n), "alpha", 0.01)], np.float64))
        slope = np.asarray(self._const_input(n, 1, "slope"))
        if slope.size != 1:
            conv = ops[-1] if ops else None
            if not isinstance(conv, ConvOp):
                raise WeightsError(f"node {n.name!r} ({n.op_type}): expected right after a convolution (and its bias)")
            slope = self._per_channel(slope, conv.weight.shape[0], n, "slope")
        return ActOp(n.name, "prelu", np.asarray(slope, np.float64).reshape(-1))

    def _bias(self, n: Any, channels: int) -> np.ndarray:
        """The constant of an Add / Sub bias node, per channel (negated for Sub)."""
        if len(n.input) != 2 or n.input[1] not in self.consts:
            raise WeightsError(f"node {n.name!r} ({n.op_type}): expected the network plus a constant (a bias)")
        c = self._per_channel(self.consts[n.input[1]], channels, n, "bias")
        return -c if n.op_type == "Sub" else c

    # ---- the walk --------------------------------------------------------------------------------
    def spec(self, scale: int | None, source: str) -> NetworkSpec:
        ops: list[Op] = []
        pad: _Pad | None = None
        deconv: _PendingDeconv | None = None
        shuffled: ConvOp | None = None  # the conv a DepthToSpace rearranges
        channels = 1
        tensor = self.input
        while (n := self._next(tensor)) is not None:
            op = n.op_type
            if n.domain not in ("", "ai.onnx"):
                raise WeightsError(f"node {n.name!r}: op {n.domain}.{op} is not supported (supported: {_SUPPORTED})")
            if shuffled is not None and op not in ("Add", "Sub", "Identity", "Dropout"):
                raise WeightsError(f"node {n.name!r} ({op}): only a bias may follow DepthToSpace")
            if deconv is not None and op not in ("Add", "Sub", "Slice", "Identity", "Dropout"):
                raise WeightsError(f"node {n.name!r} ({op}): only a bias or a Slice may follow ConvTranspose")
            if pad is not None and op not in ("Conv", "ConvTranspose"):
                raise WeightsError(
                    f"node {pad.node!r}: Pad must be followed by Conv or ConvTranspose, not {op} ({n.name!r})"
                )
            last = ops[-1] if ops else None
            if op in ("Identity", "Dropout"):
                pass
            elif op == "Pad":
                pad = self._pad(n)
            elif op == "Conv":
                ops.append(self._conv(n, pad, channels))
                channels, pad = ops[-1].weight.shape[0], None  # type: ignore[union-attr]
            elif op == "ConvTranspose":
                deconv, pad = self._conv_transpose(n, pad, channels), None
            elif op in ("Relu", "PRelu", "LeakyRelu"):
                ops.append(self._activation(n, ops))
            elif op in ("Add", "Sub"):
                if deconv is not None:
                    deconv.bias = deconv.bias + self._bias(n, 1)
                elif shuffled is not None:  # one value after the shuffle = the same bias on every phase
                    shuffled.bias = shuffled.bias + self._bias(n, 1)[0]
                elif isinstance(last, ConvOp):
                    last.bias = last.bias + self._bias(n, last.weight.shape[0])
                else:
                    where = "after an activation" if last is not None else "before any convolution"
                    raise WeightsError(f"node {n.name!r} ({op}): a constant added {where} (only biases are supported)")
            elif op == "Slice":
                if deconv is None or deconv.sliced:
                    raise WeightsError(f"node {n.name!r}: Slice is only supported once, after ConvTranspose")
                self._slice(n, deconv)
            elif op == "DepthToSpace":
                ops.append(self._depth_to_space(n))
                shuffled = last if isinstance(last, ConvOp) else None
            else:
                raise WeightsError(f"node {n.name!r}: op {op!r} is not supported (supported: {_SUPPORTED})")
            tensor = n.output[0]
        if pad is not None:
            raise WeightsError(f"node {pad.node!r}: Pad at the end of the network")
        if deconv is not None:
            ops.append(deconv.build())
        return self._finish(ops, scale, source)

    def _depth_to_space(self, n: Any) -> ShuffleOp:
        attrs = self._attrs(n)
        s = self._typed(n, attrs, "blocksize", 0)
        mode = self._typed(n, attrs, "mode", "DCR")
        if mode not in ("DCR", "CRD"):  # with one output channel both orders are out[s*i+a, s*j+b] = ch[a*s+b]
            raise WeightsError(f"node {n.name!r}: DepthToSpace mode {mode!r}")
        return ShuffleOp(n.name, s)

    def _finish(self, ops: list[Op], scale: int | None, source: str) -> NetworkSpec:
        meta = {k: v for k, v in self.meta.items() if not k.startswith(_META)}
        meta["source"] = source
        kind = self.meta.get(_META + "kind")
        kind = kind if kind in ("fsrcnn", "srcnn") else None
        stored = self.meta.get(_META + "scale", "")
        stored_scale = int(stored) if stored.isdigit() else None
        tail = next((op for op in ops if isinstance(op, (DeconvOp, ShuffleOp))), None)
        if tail is None:
            if scale is None and stored_scale is None:
                raise WeightsError(
                    "the graph keeps the image size (no ConvTranspose / DepthToSpace tail): an SRCNN-style "
                    "network whose input is upscaled beforehand, and the file does not record the scale; pass scale="
                )
            return assemble(ops, scale=scale, claims=[(stored_scale, "metadata")], kind=kind, metadata=meta,
                            scale_detail=f"its metadata '{_META}scale' gives scale {{found}}", record_tail=False)
        what = "ConvTranspose strides" if isinstance(tail, DeconvOp) else "DepthToSpace blocksize"
        return assemble(ops, scale=scale, kind=kind, metadata=meta, record_tail=False,
                        scale_detail=f"the {what} give scale {{found}}")


def load_onnx(path: str | Path, scale: int | None = None) -> NetworkSpec:
    """Reads an ONNX model of an FSRCNN / SRCNN-style chain (see the module docstring for what is accepted).

    The scale comes from the tail (ConvTranspose stride or DepthToSpace blocksize); ``scale``, when given,
    must agree. A graph without a tail is an SRCNN-style network on a pre-upscaled input: its scale comes
    from the file's ``fsrcnn_fast.scale`` metadata or ``scale``. Raises ``ValueError`` naming the node for
    anything else, ``ImportError`` when the onnx package is missing."""
    onnx = _onnx()
    p = Path(path)
    if not p.is_file():
        raise WeightsFileNotFoundError(f"ONNX file not found: {p}")
    check_file_size(p)
    try:
        # from the bytes: onnx.load would also read the external data files a tensor names
        model = onnx.load_model_from_string(p.read_bytes())
    except Exception as exc:  # protobuf's DecodeError and friends share no base class with ValueError
        raise WeightsError(f"{p}: not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    try:
        return _Importer(model, onnx).spec(scale, f"ONNX {p.name}")
    except ValueError as exc:
        raise WeightsError(f"{p}: {exc}") from exc
