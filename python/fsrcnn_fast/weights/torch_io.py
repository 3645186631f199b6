"""PyTorch state dicts (``.pth`` / ``.pt``): import FSRCNN / SRCNN weights (the file itself is read by
:mod:`.torch_pickle`, never unpickled blindly; the writer is :mod:`.torch_write`).

Architecture inference (:func:`load_torch`, :func:`spec_from_state_dict`) understands these layouts:

* yjn870/FSRCNN-pytorch: ``first_part.0`` conv, ``first_part.1`` PReLU, ``mid_part.{i}`` alternating
  conv / PReLU, ``last_part`` ``ConvTranspose2d(d, 1, k, stride=s, padding=k//2, output_padding=s-1)``;
* named stages: ``feature_extraction`` (or ``feature``), ``shrink``, ``map``, ``expand``, then ``deconv``
  or ``subpixel``, each a module or a ``Sequential`` (``map.0.weight`` conv, ``map.1.weight`` PReLU, ...);
  a ``prelu`` tensor inside a conv module (``feature.prelu``) is that conv's PReLU;
* a plain ``Sequential``: ``0.weight``, ``1.weight``, ...;
* SRCNN: ``conv1``, ``conv2``, ``conv3`` with ReLU after conv1 and conv2, on a bicubic-upscaled input.

A module holding a 4-D ``weight`` is a convolution; one holding only a 1-D ``weight`` is a PReLU.
The last convolution decides the tail: ``[d, 1, k, k]`` with one bias after d channels is a
ConvTranspose2d (deconvolution, FSRCNN); a conv to scale² channels is a sub-pixel tail (PixelShuffle
follows); a conv to one channel is an SRCNN-like network without a tail. A conv not followed by a
PReLU gets a ReLU when a parameter-free module sits between it and the next one in the same
``Sequential`` (``0`` then ``2``), and in networks without a tail (SRCNN); in an FSRCNN it is an error,
because ``nn.ReLU`` leaves no trace in a state dict. Any other naming is described with ``mapping=``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence, Union

import numpy as np

from .errors import WeightsError
from .assemble import ActOp, ConvOp, DeconvOp, Op, ShuffleOp, assemble
from .provenance import check_scale_argument, scale_from_name
from .schema import BORDERS, NetworkSpec
# the file reader and the writer live beside this module; their names stay importable from here
from .torch_pickle import STRIP_PREFIXES, WRAPPER_KEYS, UnsafePickleError, load_torch_state_dict, read_torch_file  # noqa: F401
from .torch_write import _PickleWriter, save_torch_state_dict  # noqa: F401

__all__ = [
    "UnsafePickleError",
    "read_torch_file",
    "load_torch_state_dict",
    "spec_from_state_dict",
    "load_torch",
    "save_torch_state_dict",
    "scale_from_name",
    "ROLES",
]

PathLike = Union[str, "os.PathLike[str]"]
MappingSpec = Union[Mapping[str, str], Sequence[tuple[str, str]]]

# Roles a ``mapping=`` entry may give a module prefix.
ROLES = ("conv", "conv+relu", "prelu", "deconv", "subpixel", "ignore")


# --------------------------------------------------------------------------------------------------
# Architecture inference
# --------------------------------------------------------------------------------------------------

# Known layouts: top-level module names in forward order.
_LAYOUTS: dict[str, tuple[str, ...]] = {
    "yjn870": ("first_part", "mid_part", "last_part"),
    "named": ("feature_extraction", "feature", "shrink", "shrinking", "map", "mapping", "expand", "expanding",
              "deconv", "subpixel"),
    "srcnn": ("conv1", "conv2", "conv3"),
}
# Top-level names whose single conv-like module is the tail, whatever its shape suggests.
_TAIL_NAMES = {"last_part": "deconv", "deconv": "deconv", "subpixel": "subpixel"}
_BN_TENSORS = {"running_mean", "running_var", "num_batches_tracked"}


@dataclass
class _Module:
    """The tensors under one module prefix, and the role they play."""

    prefix: str
    tensors: dict[str, np.ndarray]
    role: str  # conv (auto), conv+none, conv+relu, prelu, deconv, subpixel

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name


@dataclass
class _Entry:
    """A conv-like module and the PReLU that follows it, if any."""

    module: _Module
    prelu: np.ndarray | None = None
    prelu_key: str = ""
    gap_after: bool = False  # a parameter-free module sits right after it in the same Sequential


@dataclass
class _Parsed:
    modules: list[_Module]
    layout: str
    ignored: list[str] = field(default_factory=list)


def _sort_key_fn(prefixes: list[str], layout: str) -> Callable[[str], tuple]:
    """Orders module prefixes: Sequential indices numerically, a known layout's names by its order,
    other names by first appearance, so that dicts whose order was lost (safetensors sorts keys
    alphabetically: last_part before mid_part, mid_part.10 before mid_part.2) still parse."""
    seen: dict[tuple[str, ...], int] = {}
    for prefix in prefixes:
        parts = prefix.split(".")
        for depth in range(len(parts)):
            seen.setdefault(tuple(parts[: depth + 1]), len(seen))
    rank = {name: i for i, name in enumerate(_LAYOUTS.get(layout, ()))}

    def key(prefix: str) -> tuple:
        parts = prefix.split(".")
        out = []
        for depth, part in enumerate(parts):
            if part.isdigit():
                out.append((0, int(part)))
            elif depth == 0 and part in rank:
                out.append((1, rank[part]))
            else:
                out.append((2, seen[tuple(parts[: depth + 1])]))
        return tuple(out)

    return key


def _detect_layout(tops: set[str]) -> str:
    if tops and all(t.isdigit() for t in tops):
        return "sequential"
    for name, names in _LAYOUTS.items():
        if tops <= set(names):
            return name
    return "generic"


def _auto_role(prefix: str, tensors: dict[str, np.ndarray], source: str) -> str:
    """conv or prelu, from the tensors' names and ranks."""

    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    names = set(tensors)
    if names & _BN_TENSORS:
        raise WeightsError(
            f"{source}: {key('running_mean')}: batch normalisation is not part of FSRCNN/SRCNN; fold it into "
            "the convolution before it, or map the module to 'ignore' with mapping="
        )
    extra = sorted(names - {"weight", "bias", "prelu"})
    if extra:
        raise WeightsError(
            f"{source}: {key(extra[0])}: unexpected tensor; FSRCNN/SRCNN modules hold 'weight' and 'bias' "
            "(and PReLUs one 'weight'); describe the network with mapping="
        )
    if "weight" not in tensors:
        raise WeightsError(f"{source}: {key(sorted(names)[0])} without {key('weight')}")
    ndim = tensors["weight"].ndim
    if ndim == 4:
        return "conv"
    if ndim <= 1 and names == {"weight"}:
        return "prelu"
    raise WeightsError(
        f"{source}: {key('weight')}: shape {tuple(tensors['weight'].shape)}"
        f"{' with a bias' if 'bias' in names else ''} is neither a convolution weight [cout, cin, k, k] "
        "nor a PReLU weight [channels] (no bias)"
    )


def _group(state: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        prefix, _, name = key.rpartition(".")
        groups.setdefault(prefix, {})[name] = value
    return groups


def _parse_auto(state: Mapping[str, np.ndarray], source: str) -> _Parsed:
    groups = _group(state)
    tops = {p.split(".")[0] for p in groups}
    layout = _detect_layout(tops)
    order = sorted(groups, key=_sort_key_fn(list(groups), layout))
    modules = []
    for prefix in order:
        role = _auto_role(prefix, groups[prefix], source)
        forced = _TAIL_NAMES.get(prefix.split(".")[0]) if layout in ("yjn870", "named") else None
        if forced and role == "conv":
            role = forced
        modules.append(_Module(prefix, groups[prefix], role))
    return _Parsed(modules, layout)


def _mapping_items(mapping: MappingSpec) -> list[tuple[str, str]]:
    items = list(mapping.items()) if isinstance(mapping, MappingABC) else [tuple(i) for i in mapping]
    for item in items:
        if len(item) != 2 or not isinstance(item[0], str) or item[1] not in ROLES:
            raise WeightsError(f"mapping entry {item!r}: expected (prefix, role) with role one of {ROLES}")
    prefixes = [p for p, _ in items]
    if len(set(prefixes)) != len(prefixes):
        raise WeightsError("mapping: a prefix appears twice")
    return items  # type: ignore[return-value]


def _parse_mapping(state: Mapping[str, np.ndarray], mapping: MappingSpec, source: str) -> _Parsed:
    """Groups tensors by the longest mapping prefix that covers them; keeps the mapping's order."""
    items = _mapping_items(mapping)
    tensors: dict[str, dict[str, np.ndarray]] = {p: {} for p, _ in items}
    for key, value in state.items():
        owners = [p for p, _ in items if key == p or key.startswith(p + ".") or p == ""]
        if not owners:
            raise WeightsError(f"{source}: {key}: not covered by mapping= (map its module to 'ignore' to skip it)")
        owner = max(owners, key=len)
        tensors[owner][key[len(owner) + 1 :] if owner and key != owner else key] = value
    modules, ignored = [], []
    for prefix, role in items:
        found = tensors[prefix]
        if role == "ignore":
            ignored += list(found)
            continue
        if not found:
            raise WeightsError(f"{source}: mapping= names {prefix!r}, but no tensor starts with it")
        role = "conv+none" if role == "conv" else role  # explicit: no activation unless a PReLU follows
        modules.append(_Module(prefix, _check_mapped(prefix, role, found, source), role))
    return _Parsed(modules, "mapping", ignored)


def _check_mapped(prefix: str, role: str, found: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    if role == "prelu":
        if len(found) != 1:
            raise WeightsError(f"{source}: {prefix}: a PReLU holds one tensor, found {sorted(found)}")
        return {"weight": next(iter(found.values()))}
    extra = sorted(set(found) - {"weight", "bias", "prelu"})
    if extra or "weight" not in found:
        raise WeightsError(
            f"{source}: {prefix}: a {role} module holds 'weight' and optionally 'bias' (and 'prelu'), "
            f"found {sorted(found)}"
        )
    return found


def _entries(modules: list[_Module], source: str) -> list[_Entry]:
    """Pairs each conv-like module with the PReLU after it; notes Sequential gaps."""
    entries: list[_Entry] = []
    for i, mod in enumerate(modules):
        if mod.role == "prelu":
            if not entries or entries[-1].prelu is not None:
                raise WeightsError(f"{source}: {mod.key('weight')}: a PReLU without a convolution before it")
            entries[-1].prelu, entries[-1].prelu_key = mod.tensors["weight"], mod.key("weight")
            continue
        entry = _Entry(mod)
        if "prelu" in mod.tensors:
            entry.prelu, entry.prelu_key = mod.tensors["prelu"], mod.key("prelu")
        entry.gap_after = i + 1 < len(modules) and _gap(mod.prefix, modules[i + 1].prefix)
        entries.append(entry)
    if not entries:
        raise WeightsError(f"{source}: no convolution weights found")
    return entries


def _gap(prefix: str, following: str) -> bool:
    """True when ``following`` is a later sibling index than ``prefix`` + 1 in the same Sequential."""
    a_parent, _, a = prefix.rpartition(".")
    b_parent, _, b = following.rpartition(".")
    return a_parent == b_parent and a.isdigit() and b.isdigit() and int(b) > int(a) + 1


def _tail_role(entry: _Entry, channels: int, scale: int | None, source: str) -> str:
    """deconv, subpixel or none for the last conv-like module."""
    mod = entry.module
    if mod.role in ("deconv", "subpixel"):
        return mod.role
    if mod.role in ("conv+none", "conv+relu"):
        return "none"
    shape = mod.tensors["weight"].shape
    bias = mod.tensors.get("bias")
    if shape[1] == 1 and shape[0] == channels and channels > 1 and (bias is None or bias.size == 1):
        return "deconv"
    if shape[0] == 1:
        return "none"
    root = math.isqrt(shape[0])
    if root > 1 and root * root == shape[0] and scale in (None, root):
        return "subpixel"
    want = f"[{scale * scale}, {channels}, k, k]" if scale else f"[s*s, {channels}, k, k]"
    raise WeightsError(
        f"{source}: {mod.key('weight')}: shape {tuple(shape)} ends the network but is neither a "
        f"ConvTranspose2d to one channel [{channels}, 1, k, k], a conv to one channel [1, {channels}, k, k] "
        f"(SRCNN) nor a sub-pixel conv to scale² channels {want}"
    )


def _check_conv(mod: _Module, channels: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    w = mod.tensors["weight"]
    if w.ndim != 4:
        raise WeightsError(
            f"{source}: {mod.key('weight')}: expected a Conv2d weight [cout, cin, k, k], got {tuple(w.shape)}"
        )
    if w.shape[1] != channels:
        raise WeightsError(
            f"{source}: {mod.key('weight')}: shape {tuple(w.shape)} takes {w.shape[1]} input channels, "
            f"but the layer before gives {channels}"
        )
    b = mod.tensors.get("bias")
    if b is None:
        b = np.zeros(w.shape[0], np.float32)
    elif b.size != w.shape[0]:
        raise WeightsError(f"{source}: {mod.key('bias')}: expected {w.shape[0]} values, got shape {tuple(b.shape)}")
    return w, b


def _check_deconv(mod: _Module, channels: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    w = mod.tensors["weight"]
    if not (w.ndim == 4 and w.shape[0] == channels and w.shape[1] == 1 and w.shape[2] == w.shape[3]):
        raise WeightsError(
            f"{source}: {mod.key('weight')}: expected ConvTranspose2d weight [d, 1, k, k] with d = {channels} "
            f"(the channels of the layer before), got {tuple(w.shape)}"
        )
    b = mod.tensors.get("bias")
    if b is None:
        b = np.zeros(1, np.float32)
    elif b.size != 1:
        raise WeightsError(
            f"{source}: {mod.key('bias')}: a deconvolution to one channel has one bias, got shape {tuple(b.shape)}"
        )
    return w, b


def _activation(entry: _Entry) -> str | None:
    """What the state dict says of the activation after entry's conv; None: nothing (the assembler decides)."""
    if entry.prelu is not None:
        return "prelu"
    role = entry.module.role
    if role == "conv+relu" or (role == "conv" and entry.gap_after):
        return "relu"  # a parameter-free module (ReLU) between convs
    return "none" if role == "conv+none" else None


def _missing_prelu(conv: ConvOp) -> str:
    key = f"{conv.name}.weight" if conv.name else "weight"
    return (f"{key}: not followed by a PReLU, and FSRCNN has one after every convolution; if the model uses nn.ReLU "
            f"or no activation there, say so with mapping= (role 'conv+relu' or 'conv' for {conv.name!r})")


def _check_ranks(entries: list[_Entry], source: str) -> None:
    for e in entries:
        w = e.module.tensors["weight"]
        if w.ndim != 4:
            deconv = e.module.role == "deconv"
            kind = "ConvTranspose2d weight [d, 1, k, k]" if deconv else "Conv2d weight [cout, cin, k, k]"
            raise WeightsError(f"{source}: {e.module.key('weight')}: expected a {kind}, got {tuple(w.shape)}")
    for e in entries[:-1]:
        if e.module.role in ("deconv", "subpixel"):
            raise WeightsError(f"{source}: {e.module.key('weight')}: the {e.module.role} tail must be the last layer")


def _body(entries: list[_Entry], source: str) -> list[Op]:
    """The convolutions before the tail, each followed by its PReLU, chained from one channel."""
    ops: list[Op] = []
    channels = 1
    for e in entries:
        w, b = _check_conv(e.module, channels, source)
        act = _activation(e)
        ops.append(ConvOp(e.module.prefix, w, b, activation=None if act == "prelu" else act))
        if act == "prelu":
            slope = np.asarray(e.prelu).reshape(-1)
            if slope.size not in (1, w.shape[0]):
                raise WeightsError(
                    f"{source}: {e.prelu_key}: {slope.size} PReLU slopes after {e.module.prefix}, which gives "
                    f"{w.shape[0]} channels: expected 1 or {w.shape[0]}"
                )
            ops.append(ActOp(e.prelu_key, "prelu", slope))
        channels = int(w.shape[0])
    return ops


def _build(parsed: _Parsed, scale: int | None, border: str, offset: int | None, source: str,
           label: str, named: int | None = None) -> NetworkSpec:
    """named: the scale the file name gives (None: no name, or none in it)."""
    if border not in BORDERS:
        raise WeightsError(f"border must be one of {BORDERS}, got {border!r}")
    entries = _entries(parsed.modules, source)
    _check_ranks(entries, source)
    last = entries[-1]
    channels = int(entries[-2].module.tensors["weight"].shape[0]) if len(entries) > 1 else 1
    tail_kind = _tail_role(last, channels, scale, source)
    if tail_kind != "none" and last.prelu is not None:
        raise WeightsError(f"{source}: {last.prelu_key}: a PReLU after the {tail_kind} tail is not supported")
    meta = {"source": label, "layout": parsed.layout, "border": border}
    claims = [(named, "file name")]
    if tail_kind == "none":
        return assemble(_body(entries, source), source, scale=scale, claims=claims, border=border, metadata=meta)
    ops = _body(entries[:-1], source)
    mod = last.module
    detail = ""
    if tail_kind == "deconv":
        w, b = _check_deconv(mod, channels, source)
        # a state dict records neither ConvTranspose2d's stride nor its padding; FSRCNN code uses k // 2
        ops.append(DeconvOp(mod.prefix, w, b, default_offset=int(w.shape[2]) // 2))
    else:
        w, b = _check_conv(mod, channels, source)
        ops += [ConvOp(mod.prefix, w, b, activation="none"), ShuffleOp(mod.prefix)]
        detail = f"{mod.key('weight')} gives scale² = {int(w.shape[0])} channels: scale {{found}}"
    return assemble(ops, source, scale=scale, offset=offset, claims=claims, scale_detail=detail, border=border,
                    metadata=meta, missing_activation=_missing_prelu)


def _infer(state: Mapping[str, np.ndarray], scale: int | None, mapping: MappingSpec | None, border: str,
           offset: int | None, source: str, label: str, named: int | None = None) -> NetworkSpec:
    check_scale_argument(scale)
    parsed = _parse_auto(state, source) if mapping is None else _parse_mapping(state, mapping, source)
    return _build(parsed, scale, border, offset, source, label, named)


def spec_from_state_dict(
    state: Mapping[str, np.ndarray],
    scale: int | None = None,
    *,
    mapping: MappingSpec | None = None,
    border: str = "zero",
    offset: int | None = None,
    source: str = "<state dict>",
) -> NetworkSpec:
    """Infers the network from a state dict (``{name: array}``, e.g. from :func:`load_torch_state_dict`,
    or ``{k: v.numpy() for k, v in model.state_dict().items()}``); arguments as :func:`load_torch`,
    ``source`` names the dict in error messages."""
    return _infer(state, scale, mapping, border, offset, source, source)


def load_torch(
    path: PathLike,
    scale: int | None = None,
    *,
    mapping: MappingSpec | None = None,
    border: str = "zero",
    offset: int | None = None,
) -> NetworkSpec:
    """A PyTorch FSRCNN / SRCNN state dict as a :class:`NetworkSpec`, without torch and without
    running code from the file.

    ``scale``: the upscaling factor. A state dict does not record it, except a sub-pixel tail's scale²
    channels; otherwise it comes from the name (``fsrcnn_x3.pth``), and ``scale`` must agree with either
    (a x2 file asked for x3 is refused). Without either, ``scale`` is required.

    ``border``: what every layer sees beyond the image; ``"zero"`` is PyTorch's padding.

    ``offset``: the deconvolution's offset (see docs/networks.md); PyTorch's
    ``ConvTranspose2d(d, 1, k, stride=s, padding=p, output_padding=s-1)`` is offset p, and
    FSRCNN code uses p = k // 2, the default (recorded as such in ``spec.provenance``).

    ``mapping``: for any naming the inference does not know, the modules in forward order as
    ``{prefix: role}`` or ``[(prefix, role), ...]``. A prefix covers the tensors ``prefix.*``; roles:

    * ``"conv"`` - Conv2d (``weight`` [cout, cin, k, k], optional ``bias``), no activation;
    * ``"conv+relu"`` - Conv2d followed by ReLU;
    * ``"prelu"`` - a PReLU module (its one tensor) after the conv before it;
    * ``"deconv"`` - ConvTranspose2d(d, 1, k) tail, ``weight`` [d, 1, k, k];
    * ``"subpixel"`` - Conv2d to scale² channels, then PixelShuffle;
    * ``"ignore"`` - tensors to skip (e.g. a discriminator).

    For example ``{"head.conv": "conv", "head.act": "prelu", "body.0": "conv", "body.1": "prelu",
    "up": "deconv"}``. Every tensor must be covered; a network without a tail ends with a conv to one
    channel and runs on a bicubic-upscaled input (SRCNN).
    """
    p = Path(path)
    state = load_torch_state_dict(p)
    return _infer(state, scale, mapping, border, offset, str(p), f"PyTorch state dict {p.name}", scale_from_name(p))
