"""Keras models and weights (``.keras``, ``.h5``): import FSRCNN / SRCNN networks (needs ``h5py``).

Three files Keras writes are read, told apart by their content, not their name:

* ``model.save("x.keras")`` (Keras 3): a zip of ``config.json`` (the architecture) and ``model.weights.h5``,
  where the variables of the i-th layer of a class sit in ``layers/<class in snake_case>[_i]/vars/<n>``
  (``conv2d``, ``conv2d_1``, ``p_re_lu``, ...; older writers used the layer's name, which is tried next);
* ``model.save("x.h5")`` (legacy HDF5, Keras 2 and 3): the architecture as JSON in the ``model_config``
  attribute, the weights in ``model_weights/<layer name>/`` named by each group's ``weight_names``;
* weights only, without the architecture:

  - ``save_weights("x.h5")`` of tf.keras 2 (legacy HDF5): the layers in model order in the
    ``layer_names`` attribute, each with named weights (``kernel``, ``bias``, ``alpha``). A 4-D kernel is
    a ``Conv2D`` when it takes the channels so far, and the last one is a ``Conv2DTranspose`` when it
    gives one channel from them (``[k, k, 1, d]``);
  - ``save_weights("x.weights.h5")`` of Keras 3: no layer order at all, only the class-numbered groups
    above. The convolutions are taken in their class order and the i-th ``PReLU`` is put after the i-th
    convolution, which is right for the FSRCNN pattern (a PReLU after every conv) and refused for any
    other count of PReLUs.

  Weights-only files record neither activations other than PReLU (``activation="relu"`` leaves no
  trace), nor strides, nor padding, nor a depth-to-space: a network without a transposed conv is taken
  as SRCNN (ReLU after every conv but the last, which must give one channel); an FSRCNN needs a PReLU
  after every conv; the scale comes from ``scale=`` or the name (``fsrcnn_x3.weights.h5``), and
  ``padding="same"`` is assumed. Save the whole model (``.keras``) to lift these limits.

The model must be a ``Sequential`` or functional ``Model`` whose layers form one chain, input
``channels_last`` with one channel (Y). Layers understood:

* ``Conv2D`` (kernel HWIO ``[k, k, cin, cout]`` -> OIHW), stride 1, ``padding="same"`` (zero border; a
  1x1 conv may be ``"valid"``), ``activation`` ``linear`` / ``relu`` / ``leaky_relu``;
* ``PReLU`` with ``shared_axes=[1, 2]`` (alpha ``[1, 1, C]``, one slope per channel) or ``[1, 2, 3]``
  (alpha ``[1, 1, 1]``, one slope); ``ReLU``, ``LeakyReLU`` and ``Activation`` of the activations above;
* ``Conv2DTranspose(1, k, strides=s, padding="same")`` (kernel ``[k, k, 1, cin]``), the FSRCNN tail.
  TensorFlow's ``SAME`` transposed convolution is the gradient of a stride-s ``SAME`` convolution from
  ``s*H`` to ``H`` pixels, padded ``max(k - s, 0)`` in total with the smaller half first, so
  ``out[o] = sum_p x[p] * w[o + (max(k - s, 0) // 2) - s*p]``: the offset of docs/networks.md is
  ``max(k - s, 0) // 2`` (3 for k = 9 at x2 and x3, 2 at x4; not PyTorch's usual k // 2). Keras 3's
  JAX and torch backends reproduce TensorFlow here (the tests check it against Keras on torch, for
  several k and s, on odd image sizes). ``output_padding`` may be unset or ``s - k % 2`` (both give
  ``s*H`` pixels, at the same offset);
* ``keras.ops.depth_to_space(x, s)`` after a ``Conv2D`` to ``s*s`` channels (Keras 3 records it as a
  ``DepthToSpace`` operation): the sub-pixel tail, in DCR order as TensorFlow;
* ``InputLayer`` and the layers that do nothing at inference (``Dropout``, ``GaussianNoise``, ...).

``Lambda`` / ``TFOpLambda`` layers (including a sub-pixel shuffle written as ``Lambda(tf.nn.depth_to_space)``)
and custom classes hold Python code, which is never run here: they are refused with an error naming the
layer. The JSON is parsed as data; nothing in the file is unpickled or evaluated.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Union

import numpy as np

from .errors import WeightsError
from .limits import read_member
from .assemble import ActOp, Chain, ConvOp, DeconvOp, Op, ShuffleOp, assemble
from .provenance import check_scale_argument, scale_from_name
from .schema import BORDERS, NetworkSpec

__all__ = ["load_keras"]

PathLike = Union[str, "os.PathLike[str]"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MAX_CONFIG_BYTES = 64 << 20  # a config.json beyond this is not an FSRCNN
_MAX_TENSOR_ELEMENTS = 1 << 26  # nor a weight tensor beyond this

_CONV = {"Conv2D", "Convolution2D"}
_DECONV = {"Conv2DTranspose", "Convolution2DTranspose", "Deconvolution2D"}
_ACTIVATIONS = {"PReLU", "ReLU", "LeakyReLU", "Activation"}
_NO_OPS = {"InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
           "ActivityRegularization", "Identity"}
_SUBPIXEL = {"DepthToSpace"}
_CODE = {"Lambda", "TFOpLambda", "SlicingOpLambda"}
_MODELS = {"Functional", "Model", "Sequential"}
# Parsed.fmt -> what metadata["source"] calls it
_FORMATS = {
    "keras": ".keras archive",
    "keras-h5": "HDF5 model",
    "keras-h5-weights": "HDF5 weights",
    "keras3-weights": "Keras 3 weights",
}
_SUPPORTED = "Conv2D, PReLU, ReLU, LeakyReLU, Activation, Conv2DTranspose, DepthToSpace, InputLayer, Dropout"


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("reading Keras weights needs h5py: pip install h5py") from exc
    return h5py


# --------------------------------------------------------------------------------------------------
# What the file says, before the network is assembled
# --------------------------------------------------------------------------------------------------


_Item = Op


@dataclass
class _Parsed:
    items: list[_Item]
    fmt: str
    info: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# HDF5 access: every object checked before it is read
# --------------------------------------------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, str):
        return value
    raise WeightsError(f"expected a string attribute, got {type(value).__name__}")


def _attr_list(group: Any, name: str) -> list[str] | None:
    """A list-of-strings attribute as Keras writes it: whole, or split into name0, name1, ... when
    it exceeds HDF5's 64 KiB object header limit. None when absent."""
    if name in group.attrs:
        chunks = [group.attrs[name]]
    elif f"{name}0" in group.attrs:
        chunks, i = [], 0
        while f"{name}{i}" in group.attrs:
            chunks.append(group.attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    out: list[str] = []
    for chunk in chunks:
        out += [_text(v) for v in np.asarray(chunk).reshape(-1)]
    return out


def _child(h5py: Any, group: Any, path: str, what: str) -> Any:
    """group[path], one component at a time, refusing links into other files (an HDF5 file can point
    anywhere on the disk)."""
    node = group
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, h5py.Group):
            raise WeightsError(f"{what}: {node.name} is not a group")
        link = node.get(part, getlink=True)
        if link is None:
            raise WeightsError(f"{what}: missing {node.name.rstrip('/')}/{part}")
        if isinstance(link, h5py.ExternalLink):
            raise WeightsError(f"{what}: {node.name.rstrip('/')}/{part} links to another file; refused")
        node = node[part]
    return node


def _array(h5py: Any, node: Any, what: str) -> np.ndarray:
    """A float tensor from a dataset that lives in this file and is of sane size."""
    if not isinstance(node, h5py.Dataset):
        raise WeightsError(f"{what}: expected a dataset, got a group")
    if node.external or node.is_virtual:
        raise WeightsError(f"{what}: data stored in another file; refused")
    if node.dtype.kind != "f":
        raise WeightsError(f"{what}: expected floating-point weights, got dtype {node.dtype}")
    if node.size > _MAX_TENSOR_ELEMENTS:
        raise WeightsError(f"{what}: {node.size} elements, too many for an FSRCNN weight")
    # float32 as NumPy's own dtype: h5py's dtype objects compare equal to it but are other objects,
    # which the engine's bindings refuse.
    return np.array(node[()], dtype=np.float32)


def _is_hdf5(head: bytes) -> bool:
    """HDF5's signature sits at 0 or after a user block of 512 * 2^n bytes."""
    return any(head[at : at + 8] == _HDF5_MAGIC for at in (0, 512, 1024, 2048))


# --------------------------------------------------------------------------------------------------
# The model config: the chain of layers
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    """One layer of the config: its class, name, config, and the group its weights are stored under
    in a Keras 3 weights file (class name in snake_case, numbered within the class)."""

    cls: str
    name: str
    config: dict[str, Any]
    module: str | None
    registered: str | None
    inbound: list[str] | None  # None: the node list says nothing (Sequential)
    nodes: int
    store_name: str


def _snake(cls: str) -> str:
    """keras.src.utils.naming.to_snake_case, as Keras names the weight groups."""
    name = re.sub(r"\W+", "", cls)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _tensor_sources(obj: object, out: list[str]) -> None:
    """Layer names of the Keras 3 tensors (``__keras_tensor__`` / ``keras_history``) inside a node."""
    if isinstance(obj, dict):
        if obj.get("class_name") == "__keras_tensor__":
            history = (obj.get("config") or {}).get("keras_history")
            if isinstance(history, list) and history and isinstance(history[0], str):
                out.append(history[0])
            return
        for v in obj.values():
            _tensor_sources(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _tensor_sources(v, out)


def _inbound(entry: dict[str, Any], name: str) -> tuple[list[str], int]:
    """The layers feeding a functional model's layer, and how many times it is called."""
    nodes = entry.get("inbound_nodes") or []
    if not isinstance(nodes, list):
        raise WeightsError(f"layer {name!r}: malformed inbound_nodes")
    names: list[str] = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            _tensor_sources(node.get("args", []), names)
        elif isinstance(node, list):  # Keras 2: [[layer, node_index, tensor_index, kwargs], ...]
            names += [t[0] for t in node if isinstance(t, list) and t and isinstance(t[0], str)]
        else:
            raise WeightsError(f"layer {name!r}: malformed inbound node {str(node)[:80]}")
    return names, len(nodes)


def _layers_of(config: dict[str, Any] | list[Any], functional: bool) -> list[_Layer]:
    entries = config if isinstance(config, list) else config.get("layers")
    if not isinstance(entries, list):
        raise WeightsError("the model config has no list of layers")
    layers: list[_Layer] = []
    counts: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
            raise WeightsError(f"layer {i} of the model config is malformed")
        cls = entry["class_name"]
        cfg = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = entry.get("name", cfg.get("name", f"layer_{i}"))
        if not isinstance(name, str):
            raise WeightsError(f"layer {i} of the model config has no name")
        snake = _snake(cls)
        n = counts.get(snake, -1) + 1
        counts[snake] = n
        inbound, nodes = _inbound(entry, name) if functional else (None, 1)
        module, registered = entry.get("module"), entry.get("registered_name")
        layers.append(_Layer(cls, name, cfg, module if isinstance(module, str) else None,
                             registered if isinstance(registered, str) else None, inbound, nodes,
                             snake if n == 0 else f"{snake}_{n}"))
    return layers


def _endpoints(value: object, what: str) -> list[str]:
    """input_layers / output_layers: [name, 0, 0] or [[name, 0, 0], ...]."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [value[0]]
    if isinstance(value, list) and all(isinstance(v, list) and v and isinstance(v[0], str) for v in value):
        return [v[0] for v in value]
    raise WeightsError(f"the model config's {what} are malformed")


def _functional_chain(config: dict[str, Any], layers: list[_Layer]) -> list[_Layer]:
    """Walks back from the one output to the one input; every layer on the way must take one input."""
    outputs = _endpoints(config.get("output_layers"), "output_layers")
    inputs = _endpoints(config.get("input_layers"), "input_layers")
    if len(outputs) != 1 or len(inputs) != 1:
        raise WeightsError(f"the model has {len(inputs)} inputs and {len(outputs)} outputs; expected one of each")
    by_name = {l.name: l for l in layers}
    chain: list[_Layer] = []
    current = outputs[0]
    while True:
        layer = by_name.get(current)
        if layer is None:
            raise WeightsError(f"the model config refers to a layer {current!r} it does not define")
        if layer in chain:
            raise WeightsError(f"layer {current!r} feeds itself")
        chain.append(layer)
        if current == inputs[0]:
            break
        if layer.nodes != 1:
            raise WeightsError(f"layer {layer.name!r} ({layer.cls}) is called {layer.nodes} times; expected a chain")
        if len(layer.inbound or []) != 1:
            raise WeightsError(
                f"layer {layer.name!r} ({layer.cls}) takes {len(layer.inbound or [])} inputs: only a single "
                "chain of layers (no branches, no skip connections) is an FSRCNN / SRCNN"
            )
        current = (layer.inbound or [""])[0]
    return chain[::-1]


def _model_chain(model: object) -> list[_Layer]:
    """The layers of a Sequential or functional model config, input to output."""
    if not isinstance(model, dict) or not isinstance(model.get("class_name"), str):
        raise WeightsError("the model config is not a Keras model description")
    cls, config = model["class_name"], model.get("config")
    if cls not in _MODELS:
        raise WeightsError(
            f"the model is a {cls!r}, not a Sequential or functional Model: a subclassed model's config "
            "does not describe its layers; rebuild it with keras.Sequential or the functional API"
        )
    if not isinstance(config, (dict, list)):
        raise WeightsError(f"the {cls} config is malformed")
    if cls == "Sequential":
        return _layers_of(config, functional=False)
    if not isinstance(config, dict):
        raise WeightsError(f"the {cls} config is malformed")
    return _functional_chain(config, _layers_of(config, functional=True))


def _check_builtin(layer: _Layer) -> None:
    """Refuses layers whose behaviour is Python code: Lambda layers and custom classes."""
    where = f"layer {layer.name!r} ({layer.cls})"
    if layer.cls in _CODE:
        text = json.dumps(layer.config).lower()
        if any(word in text for word in ("depth_to_space", "shuffle", "subpixel", "sub_pixel")):
            raise WeightsError(
                f"{where}: a sub-pixel shuffle written as a {layer.cls} layer is Python code and is not run; "
                "use keras.ops.depth_to_space(x, scale) in the model (recorded as a DepthToSpace operation)"
            )
        raise WeightsError(f"{where}: {layer.cls} layers hold Python code, which is never run when importing")
    module = layer.module or "keras"
    custom = not (module == "keras" or module.startswith("keras."))
    custom |= layer.registered is not None and ">" in layer.registered
    if custom:
        raise WeightsError(
            f"{where}: a custom class (module {module!r}, registered as {layer.registered!r}); only Keras' "
            f"built-in layers are read ({_SUPPORTED})"
        )
    if layer.cls in _MODELS:
        raise WeightsError(f"{where}: a nested model; build the network as one flat Sequential or functional model")
    if layer.cls not in _CONV | _DECONV | _ACTIVATIONS | _NO_OPS | _SUBPIXEL:
        raise WeightsError(f"{where}: not a layer of FSRCNN or SRCNN; supported: {_SUPPORTED}")


# --------------------------------------------------------------------------------------------------
# Layer configs -> items
# --------------------------------------------------------------------------------------------------


def _pair(value: object, where: str, what: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    raise WeightsError(f"{where}: malformed {what} {value!r}")


def _activation_name(value: object, where: str) -> tuple[str, np.ndarray | None]:
    """A Keras activation as (activation, slope): linear, relu, leaky_relu (slope 0.2). Keras writes
    built-in activations as their name; anything else (a serialised function) is code."""
    if value is None or value == "linear":
        return "none", None
    if value == "relu":
        return "relu", None
    if value == "leaky_relu":
        return "prelu", np.array([0.2], np.float32)
    raise WeightsError(
        f"{where}: activation {value if isinstance(value, str) else json.dumps(value)[:80]!r} is not one FSRCNN / "
        "SRCNN uses; supported: linear, relu, leaky_relu, or a PReLU layer"
    )


def _check_common(layer: _Layer) -> str:
    """Checks what every conv-like layer shares; returns its padding."""
    cfg, where = layer.config, f"layer {layer.name!r} ({layer.cls})"
    fmt = cfg.get("data_format") or "channels_last"
    if fmt != "channels_last":
        raise WeightsError(f"{where}: data_format={fmt!r}; only channels_last (Keras' default) is read")
    if _pair(cfg.get("dilation_rate", 1), where, "dilation_rate") != (1, 1):
        raise WeightsError(f"{where}: dilation_rate={cfg.get('dilation_rate')}; FSRCNN uses dilation 1")
    if cfg.get("groups", 1) != 1:
        raise WeightsError(f"{where}: groups={cfg.get('groups')}; FSRCNN uses dense convolutions (groups=1)")
    return str(cfg.get("padding", "valid")).lower()


def _kernel_bias(weights: dict[str, np.ndarray], layer: _Layer, want_cout: int, k: tuple[int, int],
                 out_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The HWIO kernel, checked against the config, and its bias (zeros with use_bias=False)."""
    where = f"layer {layer.name!r} ({layer.cls})"
    kernel = weights.get("kernel")
    if kernel is None or kernel.ndim != 4:
        shape = None if kernel is None else tuple(kernel.shape)
        raise WeightsError(f"{where}: expected a 4-D kernel, got {shape}")
    if tuple(kernel.shape[:2]) != k or kernel.shape[out_axis] != want_cout:
        raise WeightsError(
            f"{where}: kernel shape {tuple(kernel.shape)} does not match kernel_size={list(k)}, filters={want_cout}"
        )
    use_bias = layer.config.get("use_bias", True)
    bias = weights.get("bias")
    if bias is None:
        if use_bias:
            raise WeightsError(f"{where}: use_bias=True but the file holds no bias")
        bias = np.zeros(want_cout, np.float32)
    return kernel, bias


def _conv_item(layer: _Layer, weights: dict[str, np.ndarray]) -> ConvOp:
    cfg, where = layer.config, f"layer {layer.name!r} ({layer.cls})"
    padding = _check_common(layer)
    k = _pair(cfg.get("kernel_size"), where, "kernel_size")
    if _pair(cfg.get("strides", 1), where, "strides") != (1, 1):
        raise WeightsError(f"{where}: strides={cfg.get('strides')}; FSRCNN's convolutions have stride 1")
    if padding != "same" and k != (1, 1):
        raise WeightsError(
            f"{where}: padding={padding!r} shrinks the image; FSRCNN / SRCNN layers keep its size (padding='same')"
        )
    filters = cfg.get("filters")
    kernel, bias = _kernel_bias(weights, layer, int(filters) if isinstance(filters, int) else -1, k, 3)
    act, slope = _activation_name(cfg.get("activation", "linear"), where)
    return ConvOp(layer.name, kernel.transpose(3, 2, 0, 1), bias, activation=act, slope=slope)


def _deconv_item(layer: _Layer, weights: dict[str, np.ndarray]) -> DeconvOp:
    cfg, where = layer.config, f"layer {layer.name!r} ({layer.cls})"
    padding = _check_common(layer)
    k = _pair(cfg.get("kernel_size"), where, "kernel_size")
    sy, sx = _pair(cfg.get("strides", 1), where, "strides")
    if sy != sx or k[0] != k[1]:
        raise WeightsError(f"{where}: kernel_size={list(k)}, strides={[sy, sx]}; FSRCNN's tail is square in both")
    if cfg.get("filters") != 1:
        raise WeightsError(f"{where}: filters={cfg.get('filters')}; FSRCNN's deconvolution gives one channel (Y)")
    if padding != "same":
        raise WeightsError(
            f"{where}: padding={padding!r} gives (H-1)*s + max(k, s) pixels, not s*H; FSRCNN's deconvolution "
            "needs padding='same'"
        )
    out_pad = cfg.get("output_padding")
    if out_pad is not None and _pair(out_pad, where, "output_padding") != (sx - k[0] % 2,) * 2:
        raise WeightsError(
            f"{where}: output_padding={out_pad} does not give s*H pixels; leave it unset (or s - k % 2 = "
            f"{sx - k[0] % 2})"
        )
    if _activation_name(cfg.get("activation", "linear"), where)[0] != "none":
        raise WeightsError(f"{where}: activation={cfg.get('activation')!r}; FSRCNN's deconvolution is linear")
    kernel, bias = _kernel_bias(weights, layer, 1, k, 2)
    return _deconv_op(layer.name, kernel.transpose(3, 2, 0, 1), bias, sx)


def _prelu_slope(alpha: np.ndarray | None, name: str) -> np.ndarray:
    """PReLU alpha [1, 1, C] (shared_axes=[1, 2]) or [1, 1, 1] (one slope)."""
    if alpha is None:
        raise WeightsError(f"PReLU {name!r}: the file holds no alpha")
    if alpha.ndim != 3 or alpha.shape[0] != 1 or alpha.shape[1] != 1:
        raise WeightsError(
            f"PReLU {name!r}: alpha of shape {tuple(alpha.shape)} varies over the image; FSRCNN's PReLU shares "
            "its slopes over the pixels: PReLU(shared_axes=[1, 2]) gives alpha [1, 1, C]"
        )
    return alpha.reshape(-1)


def _activation_item(layer: _Layer, weights: dict[str, np.ndarray]) -> ActOp:
    cfg, where = layer.config, f"layer {layer.name!r} ({layer.cls})"
    if layer.cls == "PReLU":
        return ActOp(layer.name, "prelu", _prelu_slope(weights.get("alpha"), layer.name))
    if layer.cls == "Activation":
        act, slope = _activation_name(cfg.get("activation"), where)
        return ActOp(layer.name, act, slope)
    if layer.cls == "LeakyReLU":
        slope = cfg.get("negative_slope", cfg.get("alpha", 0.3))
        return ActOp(layer.name, "prelu", np.array([float(slope)], np.float32))
    if cfg.get("max_value") is not None or float(cfg.get("threshold") or 0.0) != 0.0:
        raise WeightsError(f"{where}: max_value / threshold are not part of FSRCNN's activations")
    slope = float(cfg.get("negative_slope") or 0.0)
    if slope == 0.0:
        return ActOp(layer.name, "relu")
    return ActOp(layer.name, "prelu", np.array([slope], np.float32))


def _shuffle_item(layer: _Layer) -> ShuffleOp:
    cfg, where = layer.config, f"layer {layer.name!r} ({layer.cls})"
    if (cfg.get("data_format") or "channels_last") != "channels_last":
        raise WeightsError(f"{where}: data_format={cfg.get('data_format')!r}; only channels_last is read")
    block = cfg.get("block_size")
    if not isinstance(block, int) or not 1 <= block <= 16:
        raise WeightsError(f"{where}: block_size={block!r}; expected the scale, an integer in [1, 16]")
    return ShuffleOp(layer.name, block)


_ROLES = {"Conv2D": ("kernel", "bias"), "Conv2DTranspose": ("kernel", "bias"), "PReLU": ("alpha",)}


def _role_class(cls: str) -> str:
    return "Conv2D" if cls in _CONV else "Conv2DTranspose" if cls in _DECONV else cls


WeightGetter = Callable[[_Layer, tuple[str, ...]], dict[str, np.ndarray]]


def _items_from_config(chain: list[_Layer], get_weights: WeightGetter) -> list[_Item]:
    items: list[_Item] = []
    for layer in chain:
        _check_builtin(layer)
        roles = _ROLES.get(_role_class(layer.cls), ())
        weights = get_weights(layer, roles) if roles else {}
        if layer.cls in _CONV:
            items.append(_conv_item(layer, weights))
        elif layer.cls in _DECONV:
            items.append(_deconv_item(layer, weights))
        elif layer.cls in _ACTIVATIONS:
            items.append(_activation_item(layer, weights))
        elif layer.cls in _SUBPIXEL:
            items.append(_shuffle_item(layer))
    return items


# --------------------------------------------------------------------------------------------------
# Weight stores
# --------------------------------------------------------------------------------------------------


def _weight_role(name: str) -> str:
    """'conv2d/kernel:0' -> 'kernel'."""
    return name.rsplit("/", 1)[-1].split(":", 1)[0]


def _legacy_weights(h5py: Any, group: Any, layer_name: str, what: str) -> list[tuple[str, np.ndarray]]:
    """A legacy HDF5 layer group: (role, array) in weight_names order."""
    g = _child(h5py, group, layer_name, what)
    names = _attr_list(g, "weight_names")
    if names is None:
        raise WeightsError(f"{what}: layer group {layer_name!r} has no weight_names attribute")
    return [(_weight_role(n), _array(h5py, _child(h5py, g, n, what), f"{what}: {layer_name}/{n}")) for n in names]


def _legacy_getter(h5py: Any, group: Any, what: str) -> WeightGetter:
    def get(layer: _Layer, roles: tuple[str, ...]) -> dict[str, np.ndarray]:
        pairs = _legacy_weights(h5py, group, layer.name, what)
        named = dict(pairs)
        if set(named) <= set(roles) and len(named) == len(pairs):
            return named
        if len(pairs) <= len(roles):  # unusual names: Keras' own loader goes by position too
            return {role: arr for role, (_, arr) in zip(roles, pairs)}
        raise WeightsError(
            f"{what}: layer {layer.name!r} ({layer.cls}) holds weights {[n for n, _ in pairs]}, expected {list(roles)}"
        )

    return get


def _v3_vars(h5py: Any, layers_group: Any, key: str, what: str) -> list[np.ndarray] | None:
    """layers/<key>/vars/0, 1, ... of a Keras 3 weights file; None when there is no such group."""
    if key not in layers_group:
        return None
    g = _child(h5py, layers_group, f"{key}/vars", what)
    count = len(g.keys())
    if sorted(g.keys()) != sorted(str(i) for i in range(count)):
        raise WeightsError(f"{what}: layers/{key}/vars holds {sorted(g.keys())}, expected 0, 1, ...")
    return [_array(h5py, _child(h5py, g, str(i), what), f"{what}: layers/{key}/vars/{i}") for i in range(count)]


def _v3_getter(h5py: Any, layers_group: Any, what: str) -> WeightGetter:
    def get(layer: _Layer, roles: tuple[str, ...]) -> dict[str, np.ndarray]:
        values = _v3_vars(h5py, layers_group, layer.store_name, what)
        if values is None:  # writers that used the layer's own name
            values = _v3_vars(h5py, layers_group, layer.name, what)
        if values is None:
            raise WeightsError(f"{what}: no weights for layer {layer.name!r} (looked for layers/{layer.store_name})")
        if len(values) > len(roles):
            raise WeightsError(
                f"{what}: layer {layer.name!r} ({layer.cls}) holds {len(values)} variables, expected {list(roles)}"
            )
        return dict(zip(roles, values))

    return get


# --------------------------------------------------------------------------------------------------
# Weights-only files
# --------------------------------------------------------------------------------------------------


_Kernel = tuple[str, np.ndarray, Union[np.ndarray, None], Union[bool, None]]


def _kernel_items(kernels: list[_Kernel], what: str) -> list[_Item]:
    """Weights-only convs in order: (name, HWIO kernel, bias, is_transposed). A transposed conv is
    recognised by its class, or when that is unknown (None) as the last kernel that gives one channel
    from the channels before it ([k, k, 1, d]; a Conv2D there would be [k, k, d, cout])."""
    items: list[_Item] = []
    channels = 1
    for i, (name, kernel, bias, transposed) in enumerate(kernels):
        if kernel.ndim != 4:
            raise WeightsError(f"{what}: layer {name!r}: expected a 4-D kernel, got shape {tuple(kernel.shape)}")
        last = i == len(kernels) - 1
        guess = last and kernel.shape[2] == 1 and kernel.shape[3] == channels != 1
        if transposed or (transposed is None and guess):
            if not last:
                raise WeightsError(f"{what}: layer {name!r}: a transposed convolution before the last layer")
            b = np.zeros(1, np.float32) if bias is None else bias
            items.append(_deconv_op(name, kernel.transpose(3, 2, 0, 1), b, None))
        else:
            b = np.zeros(kernel.shape[3], np.float32) if bias is None else bias
            items.append(ConvOp(name, kernel.transpose(3, 2, 0, 1), b))
            channels = int(kernel.shape[3])
    return items


def _legacy_weights_only(h5py: Any, group: Any, names: list[str], what: str) -> list[_Item]:
    """tf.keras 2 save_weights('x.h5'): layer order from layer_names, kinds from the weight names."""
    kernels: list[_Kernel] = []
    order: list[tuple[str, Any]] = []  # ("conv", index into kernels) or ("prelu", (name, slope))
    for name in names:
        pairs = _legacy_weights(h5py, group, name, what)
        if not pairs:
            continue  # InputLayer, ReLU, Dropout...: nothing recorded
        roles = dict(pairs)
        if set(roles) == {"alpha"}:
            order.append(("prelu", (name, _prelu_slope(roles["alpha"], name))))
        elif "kernel" in roles and set(roles) <= {"kernel", "bias"} and len(roles) == len(pairs):
            order.append(("conv", len(kernels)))
            kernels.append((name, roles["kernel"], roles.get("bias"), True if "transpose" in name else None))
        else:
            raise WeightsError(
                f"{what}: layer {name!r} holds weights {[n for n, _ in pairs]}: not a Conv2D, Conv2DTranspose or PReLU"
            )
    convs = _kernel_items(kernels, what)
    items: list[_Item] = []
    for kind, value in order:
        items.append(convs[value] if kind == "conv" else ActOp(value[0], "prelu", value[1]))
    return items


def _v3_weights_only(h5py: Any, layers_group: Any, what: str) -> list[_Item]:
    """Keras 3 save_weights('x.weights.h5'): class-numbered groups, no order between classes."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for key in layers_group.keys():
        m = re.fullmatch(r"(.+?)(?:_(\d+))?", key)
        base, n = (m.group(1), int(m.group(2) or 0)) if m else (key, 0)
        groups.setdefault(base, []).append((n, key))
    convs: list[_Kernel] = []
    prelus: list[ActOp] = []
    for base in sorted(groups):
        for _, key in sorted(groups[base]):
            values = _v3_vars(h5py, layers_group, key, what) or []
            if base in ("conv2d", "conv2d_transpose") and 1 <= len(values) <= 2:
                convs.append((key, values[0], values[1] if len(values) == 2 else None, base == "conv2d_transpose"))
            elif base == "p_re_lu" and len(values) == 1:
                prelus.append(ActOp(key, "prelu", _prelu_slope(values[0], key)))
            elif values:
                raise WeightsError(f"{what}: layers/{key} holds {len(values)} variables: not a layer FSRCNN uses")
    tails = [c for c in convs if c[3]]
    convs = [c for c in convs if not c[3]] + tails  # the transposed conv is the tail
    items = _kernel_items(convs, what)
    body = [i for i in items if isinstance(i, ConvOp)]
    if prelus and len(prelus) != len(body):
        raise WeightsError(
            f"{what}: {len(body)} convolutions and {len(prelus)} PReLUs; a Keras 3 weights file records no layer "
            "order, so only a PReLU after every convolution (FSRCNN) can be placed; save the model as .keras"
        )
    out: list[_Item] = []
    for i, item in enumerate(items):
        out.append(item)
        if prelus and isinstance(item, ConvOp):
            out.append(prelus[i])
    return out


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def _json(raw: bytes | str, what: str) -> Any:
    if len(raw) > _MAX_CONFIG_BYTES:
        raise WeightsError(f"{what}: the model config is {len(raw)} bytes, too large for an FSRCNN")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise WeightsError(f"{what}: the model config is not valid JSON ({exc})") from exc


def _read_h5(h5py: Any, f: Any, source: str) -> _Parsed:
    """A legacy HDF5 file: whole model (model_config + model_weights) or weights only."""
    info = {k: _text(f.attrs[k]) for k in ("keras_version", "backend") if k in f.attrs}
    if info.get("keras_version", "").startswith("1."):
        raise WeightsError(
            f"{source}: written by Keras {info['keras_version']}, whose kernel layout depended on the Theano / "
            "TensorFlow dim ordering; load the model in Keras 2 or 3 and save it again"
        )
    if "model_config" in f.attrs:
        chain = _model_chain(_json(_text(f.attrs["model_config"]), source))
        group = _child(h5py, f, "model_weights", source) if "model_weights" in f else f
        return _Parsed(_items_from_config(chain, _legacy_getter(h5py, group, source)), "keras-h5", info)
    group = f["model_weights"] if "model_weights" in f and isinstance(f["model_weights"], h5py.Group) else f
    names = _attr_list(group, "layer_names")
    if names is not None:
        info.update({k: _text(group.attrs[k]) for k in ("keras_version", "backend") if k in group.attrs})
        return _Parsed(_legacy_weights_only(h5py, group, names, source), "keras-h5-weights", info)
    if "layers" in f and isinstance(f["layers"], h5py.Group):
        return _Parsed(_v3_weights_only(h5py, f["layers"], source), "keras3-weights", info)
    raise WeightsError(
        f"{source}: an HDF5 file without a Keras model_config, layer_names or layers group: not written by Keras"
    )


def _read_archive(data: bytes, source: str) -> _Parsed:
    """A Keras 3 .keras zip: config.json + model.weights.h5 (h5py is needed only once the zip is
    known to be one)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = set(zf.namelist())
        if "config.json" not in names:
            raise WeightsError(f"{source}: a zip without config.json: not a Keras .keras archive")
        if "model.weights.h5" not in names:
            other = sorted(n for n in names if n.startswith("model.weights"))
            raise WeightsError(
                f"{source}: a .keras archive without model.weights.h5 (has {other}); re-save it with Keras' "
                "default weights format"
            )
        config = _json(read_member(zf, "config.json", source), source)
        meta = _json(read_member(zf, "metadata.json", source), source) if "metadata.json" in names else {}
        weights = read_member(zf, "model.weights.h5", source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError,
            zlib.error) as exc:
        raise WeightsError(f"{source}: not a readable .keras zip ({exc})") from exc
    info = {"keras_version": str(meta["keras_version"])} if isinstance(meta, dict) and "keras_version" in meta else {}
    chain = _model_chain(config)
    h5py = _h5py()
    with h5py.File(io.BytesIO(weights), "r") as f:
        if "layers" not in f:
            raise WeightsError(f"{source}: model.weights.h5 has no layers group")
        items = _items_from_config(chain, _v3_getter(h5py, _child(h5py, f, "layers", source), source))
    return _Parsed(items, "keras", info)


@contextmanager
def _clean_errors(source: str) -> Iterator[None]:
    """Whatever a damaged file makes h5py or the parser raise becomes a WeightsError naming the file."""
    try:
        yield
    except (WeightsError, ImportError):
        raise
    except (OSError, KeyError, IndexError, TypeError, AttributeError, RuntimeError, ValueError,
            RecursionError, MemoryError, OverflowError) as exc:  # OverflowError: h5py on a huge declared offset
        raise WeightsError(f"{source}: unreadable Keras file ({type(exc).__name__}: {exc})") from exc


def _parse(path: Path) -> _Parsed:
    source = str(path)
    if path.is_dir():
        raise WeightsError(f"{source}: a directory; expected a .keras or .h5 file")
    data = path.read_bytes()
    with _clean_errors(source):
        if data[:4] == b"PK\x03\x04":
            return _read_archive(data, source)
        if _is_hdf5(data[:2056]):
            h5py = _h5py()
            with h5py.File(io.BytesIO(data), "r") as f:
                return _read_h5(h5py, f, source)
    raise WeightsError(f"{source}: neither a .keras zip nor an HDF5 file: not written by Keras")


# --------------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------------


def _deconv_op(name: str, weight: np.ndarray, bias: np.ndarray, stride: int | None) -> DeconvOp:
    """A Conv2DTranspose: padding="same" of a model's config gives offset max(k - s, 0) // 2; weights-only
    files do not record the padding (nor the stride) and assume it."""
    k = int(weight.shape[2])
    return DeconvOp(name, weight, bias, stride, lambda s: max(k - s, 0) // 2, "graph" if stride else "default")


def _missing_prelu(conv: ConvOp) -> str:
    return (f"{conv.name!r} is not followed by a PReLU, and a weights-only file does not record other activations; "
            "save the whole model (model.save('x.keras'))")


def _no_tail(chain: Chain) -> str | None:
    last = chain.body[-1]
    if last.weight.shape[0] == 1:
        return None
    return (f"the last layer {last.name!r} gives {last.weight.shape[0]} channels and nothing upscales them; a "
            "sub-pixel shuffle is only known as keras.ops.depth_to_space in a .keras model")


def load_keras(
    path: PathLike,
    scale: int | None = None,
    *,
    border: str = "zero",
    offset: int | None = None,
) -> NetworkSpec:
    """A Keras FSRCNN / SRCNN model or weights file (``.keras``, ``.h5``, ``.weights.h5``) as a
    :class:`NetworkSpec`, without Keras and without running code from the file (see the module doc
    for the files and layers understood).

    ``scale``: the upscaling factor. A model records it (the ``Conv2DTranspose`` strides, the
    ``depth_to_space`` block size) and ``scale`` must then agree; weights-only files and SRCNN do not,
    and it comes from ``scale`` or the name (``fsrcnn_x3.h5``).

    ``border``: what every layer sees beyond the image; ``"zero"`` is Keras' ``padding="same"``.

    ``offset``: the deconvolution's offset (docs/networks.md); by default Keras' own for
    ``padding="same"``, ``max(k - s, 0) // 2``.

    Raises ``ImportError`` without h5py, :class:`~fsrcnn_fast.weights.safetensors_io.WeightsError`
    (a ``ValueError``) for anything the file does not describe as expected, naming the layer.
    """
    check_scale_argument(scale)
    if border not in BORDERS:
        raise WeightsError(f"border must be one of {BORDERS}, got {border!r}")
    p = Path(os.fspath(path))
    source = str(p)
    parsed = _parse(p)
    meta = {"source": f"Keras {_FORMATS[parsed.fmt]} {p.name}", "format": parsed.fmt, "border": border, **parsed.info}
    tail = next((op for op in parsed.items if isinstance(op, (DeconvOp, ShuffleOp))), None)
    what = {DeconvOp: f"the strides of {tail.name!r}" if tail else "", ShuffleOp: "the depth_to_space block size"}
    detail = what.get(type(tail), "")
    return assemble(parsed.items, source, scale=scale, offset=offset, claims=[(scale_from_name(p), "file name")],
                    scale_detail=f"{detail} gives scale {{found}}, not the {{asked}} asked for" if detail else "",
                    border=border, metadata=meta, missing_activation=_missing_prelu, no_tail=_no_tail)
