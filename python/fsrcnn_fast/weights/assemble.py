"""The one assembler: a file's list of operations -> :class:`~fsrcnn_fast.weights.schema.NetworkSpec`.

Every importer reads its format down to the same few operations, in network order, each saying only what
its file says:

* :class:`ConvOp` - a 'same' convolution (OIHW weight, bias, border if the file says one), with its
  activation when the layer itself carries one (``None``: the file does not say);
* :class:`ActOp` - a standalone activation (``none`` / ``relu`` / ``prelu`` with its slopes);
* :class:`DeconvOp` - a transposed convolution to one channel (the tail), with the scale and offset the
  file gives, if any;
* :class:`ShuffleOp` - a depth-to-space of the previous convolution's channels (the sub-pixel tail).

:func:`assemble` then does, once for every format: activation folding (an activation belongs to the
convolution right before it; one each), tail detection (a deconvolution, or the convolution a shuffle
rearranges, ends the network; nothing but a no-op may follow), activations the file does not record
(SRCNN's ReLUs; FSRCNN's PReLUs must be recorded), the border of 1x1 layers, scale and offset through
:mod:`~fsrcnn_fast.weights.provenance`, and the provenance record. Every error names ``where`` (the file)
and the layer or tensor (the op's ``name``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import numpy as np

from .errors import WeightsError
from .provenance import SOURCES, Claim, decide_offset, decide_scale, with_provenance
from .schema import BORDERS, Conv, Deconv, NetworkSpec, Subpixel

__all__ = ["ConvOp", "ActOp", "DeconvOp", "ShuffleOp", "Op", "Chain", "fold", "assemble"]


@dataclass
class ConvOp:
    """A stride-1 'same' convolution, weight OIHW. ``border`` None: the network's (a 1x1 kernel, or a file
    that does not say). ``activation`` None: the file does not record one (weights-only files)."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    border: Optional[str] = None
    activation: Optional[str] = None
    slope: Optional[np.ndarray] = None


@dataclass
class ActOp:
    """A standalone activation after the previous convolution: ``none``, ``relu`` or ``prelu`` (slope)."""

    name: str
    activation: str
    slope: Optional[np.ndarray] = None


@dataclass
class DeconvOp:
    """A transposed convolution to one channel (weight [cin, 1, k, k]): the deconvolution tail.

    ``scale``: its stride, None where the file does not record it. ``offset``: what the file says
    (``offset_from`` names where: ``graph`` or ``metadata``); ``default_offset``: the format's convention
    where it says nothing; ``overridable``: whether ``offset=`` may replace what the file says;
    ``offset_hint``: added to the refusal when nothing gives the offset."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    scale: Optional[int] = None
    offset: Union[int, Callable[[int], int], None] = None  # a function of the scale where that decides it
    offset_from: str = "graph"
    default_offset: Union[int, Callable[[int], int], None] = None  # likewise
    overridable: bool = True
    offset_hint: str = ""
    border: Optional[str] = None


@dataclass
class ShuffleOp:
    """A depth-to-space (DCR) of the previous convolution's channels. ``block`` None: the file does not
    record it, and the convolution's scale² channels give it."""

    name: str
    block: Optional[int] = None


Op = Union[ConvOp, ActOp, DeconvOp, ShuffleOp]


@dataclass
class Chain:
    """The ops folded: body convolutions (each with its activation) and the tail, if any."""

    body: list[ConvOp]
    tail: Union[DeconvOp, ConvOp, None]  # the conv a shuffle rearranges, for a sub-pixel tail
    shuffle: Optional[ShuffleOp] = None


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def fold(ops: Sequence[Op], where: str = "") -> Chain:
    """Activation folding and tail detection: each activation joins the convolution right before it."""
    body: list[ConvOp] = []
    tail: Union[DeconvOp, ConvOp, None] = None
    shuffle: Optional[ShuffleOp] = None
    tail_name = ""
    for op in ops:
        if isinstance(op, ActOp) and op.activation == "none":
            continue  # a linear activation layer: nothing to fold
        if tail is not None:
            what = "an activation" if isinstance(op, ActOp) else "layer"
            raise WeightsError(f"{_at(where)}{what} {op.name!r} comes after the upscaling tail {tail_name!r}")
        if isinstance(op, ConvOp):
            body.append(op)
        elif isinstance(op, ActOp):
            if not body:
                raise WeightsError(f"{_at(where)}activation {op.name!r} comes before any convolution")
            conv = body[-1]
            if conv.activation not in (None, "none"):
                raise WeightsError(
                    f"{_at(where)}{conv.name!r} already has activation {conv.activation!r}, then {op.name!r} "
                    "(one activation per convolution)"
                )
            conv.activation, conv.slope = op.activation, op.slope
        elif not body:
            raise WeightsError(f"{_at(where)}the tail {op.name!r} comes before any convolution")
        elif isinstance(op, DeconvOp):
            tail, tail_name = op, op.name
        else:
            tail, shuffle, tail_name = body.pop(), op, op.name
            channels = int(np.shape(tail.weight)[0])
            if op.block is not None and (not 2 <= op.block <= 16 or channels != op.block * op.block):
                raise WeightsError(f"{_at(where)}{op.name!r}: block size {op.block} needs {op.block * op.block} "
                                   f"channels, {tail.name!r} gives {channels}")
            if tail.activation not in (None, "none"):
                raise WeightsError(f"{_at(where)}{tail.name!r} has activation {tail.activation!r} before the shuffle "
                                   f"{op.name!r}")
    if not body:
        raise WeightsError(f"{_at(where)}no convolution before the tail" if tail else f"{_at(where)}no convolutions")
    return Chain(body, tail, shuffle)


def _unknown_activations(chain: Chain, where: str, refuse: Callable[[ConvOp], str]) -> None:
    """Activations the file does not record: SRCNN (no tail) has ReLUs between its convolutions and none after
    the last; FSRCNN's PReLUs carry weights, so a missing one is refused with ``refuse(conv)``'s message."""
    for i, conv in enumerate(chain.body):
        if conv.activation is not None:
            continue
        if chain.tail is not None:
            raise WeightsError(_at(where) + refuse(conv))
        conv.activation = "none" if i == len(chain.body) - 1 else "relu"


def _default_refusal(conv: ConvOp) -> str:
    return f"{conv.name!r} is not followed by an activation the file records, and FSRCNN has a PReLU after each"


def _strongest_first(claims: list[Claim]) -> list[Claim]:
    """A value written in the file outranks what its graph implies, which outranks its name (SOURCES' order)."""
    return sorted(claims, key=lambda claim: SOURCES.index(claim[1]))


def _scale(where: str, wanted: object, claims: Sequence[Claim], detail: str, layer: str = "") -> tuple[int, str]:
    """decide_scale, and the scale a file claims in the range every part of the engine runs (a damaged
    file can say 0)."""
    s, s_from = decide_scale(where, wanted, _strongest_first(list(claims)), detail)
    if not 1 <= s <= 16:
        what = f"layer {layer!r}: " if layer else ""
        raise WeightsError(f"{_at(where)}{what}scale must be an integer in [1, 16], got {s} (from its {s_from})")
    return s, s_from


def _build(where: str, cls: Callable[..., object], *args: object) -> object:
    try:
        return cls(*args)
    except WeightsError as exc:
        if where and not str(exc).startswith(where):
            raise WeightsError(f"{where}: {exc}") from exc
        raise


def assemble(
    ops: Sequence[Op],
    where: str = "",
    *,
    scale: object = None,
    offset: object = None,
    claims: Sequence[Claim] = (),
    scale_detail: str = "",
    border: str = "zero",
    kind: Optional[str] = None,
    metadata: Optional[dict[str, str]] = None,
    missing_activation: Callable[[ConvOp], str] = _default_refusal,
    no_tail: Optional[Callable[[Chain], Optional[str]]] = None,
    record_tail: bool = True,
) -> NetworkSpec:
    """The network ``ops`` describe, at the scale and offset the file (or the caller) gives.

    ``where``: the file, named in every error. ``scale`` / ``offset``: the caller's. ``claims``: what else
    the file says about the scale, taken in the order of ``provenance.SOURCES`` with the graph's own (a deconvolution's stride, a
    shuffle's block): ``[(scale_from_name(path), "file name")]``, ``[(stored, "metadata")]``.
    ``scale_detail``: what in the file gave the scale, for a conflict's message (``{found}`` / ``{asked}``).
    ``border``: of every layer whose op does not say. ``kind``: overrides ``fsrcnn`` (tail) / ``srcnn``.
    ``missing_activation``: the message for an FSRCNN convolution without a recorded activation.
    ``no_tail``: a message refusing a network without a tail, or None to accept it as SRCNN-style.
    ``record_tail``: note the tail (and the offset used) in the metadata.
    """
    if border not in BORDERS:
        raise WeightsError(f"border must be one of {BORDERS}, got {border!r}")
    chain = fold(ops, where)
    _unknown_activations(chain, where, missing_activation)
    meta = dict(metadata or {})
    tail_op = chain.tail
    # 1x1 layers (and a tail) that say nothing take the border of the first layer that does, else border=
    said = [c.border for c in chain.body + ([tail_op] if tail_op is not None else []) if c.border]  # type: ignore[list-item]
    border = said[0] if said else border
    layers = tuple(_build(where, Conv, c.name, c.weight, c.bias, c.activation, c.slope, c.border or border)
                   for c in chain.body)
    if tail_op is None:
        refusal = no_tail(chain) if no_tail is not None else None
        if refusal:
            raise WeightsError(_at(where) + refusal)
        last = chain.body[-1]
        if int(np.shape(last.weight)[0]) != 1:
            raise WeightsError(f"{_at(where)}the last layer {last.name!r} gives {np.shape(last.weight)[0]} channels "
                               "and nothing upscales them")
        s, s_from = _scale(where, scale, claims, scale_detail)
        spec = _build(where, NetworkSpec, kind or "srcnn", layers, None, s, s != 1, meta)
        return with_provenance(spec, s_from)  # type: ignore[arg-type]
    tail: Union[Deconv, Subpixel]
    off_from: Optional[str] = None
    if isinstance(tail_op, DeconvOp):
        s, s_from = _scale(where, scale, [(tail_op.scale, "graph"), *claims], scale_detail, tail_op.name)
        border = tail_op.border or border
        _build(where, Deconv, tail_op.name, tail_op.weight, tail_op.bias, s, 0, border)  # the layer, before its offset
        said = tail_op.offset(s) if callable(tail_op.offset) else tail_op.offset
        default = tail_op.default_offset(s) if callable(tail_op.default_offset) else tail_op.default_offset
        off, off_from = decide_offset(where, offset, said, tail_op.offset_from, default,
                                      tail_op.overridable, tail_op.offset_hint)
        if not -32 <= off <= 32:  # the engine's range
            raise WeightsError(f"{_at(where)}layer {tail_op.name!r}: deconvolution offset {off} (from its {off_from}) is "
                               "outside [-32, 32], what the engine runs")
        tail = _build(where, Deconv, tail_op.name, tail_op.weight, tail_op.bias, s, off, border)  # type: ignore[assignment]
        if record_tail:
            meta.update(tail="deconv", deconv_offset=str(off))
    else:
        assert chain.shuffle is not None
        block = chain.shuffle.block
        if block is None:
            root = int(np.sqrt(np.shape(tail_op.weight)[0]) + 0.5)
            block = root if root > 1 and root * root == np.shape(tail_op.weight)[0] else None
        s, s_from = _scale(where, scale, [(block, "graph"), *claims], scale_detail, chain.shuffle.name)
        tail = _build(where, Subpixel, tail_op.name, tail_op.weight, tail_op.bias, s,  # type: ignore[assignment]
                      tail_op.border or border)
        if record_tail:
            meta.update(tail="subpixel")
    spec = _build(where, NetworkSpec, kind or "fsrcnn", layers, tail, s, False, meta)
    return with_provenance(spec, s_from, off_from)  # type: ignore[arg-type]
