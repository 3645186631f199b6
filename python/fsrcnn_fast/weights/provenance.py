"""Where a loaded network's scale and deconvolution offset come from, and the one rule that decides them.

Every importer states what its file says about the scale (and the offset), strongest first, and what the
caller asked for; :func:`decide_scale` and :func:`decide_offset` pick the value and name its source, one of
:data:`SOURCES`:

* ``metadata`` - written in the file as a value (safetensors ``scales``, ONNX ``fsrcnn_fast.scale``);
* ``graph`` - implied by the network the file describes (a transposed conv's stride, a DepthToSpace block
  size, a sub-pixel conv's scale² channels, a deconvolution's padding);
* ``file name`` - ``x3`` in the name (``fsrcnn_x3.pth``), for files that record nothing;
* ``argument`` - the caller's ``scale=`` / ``offset=``, where the file says nothing (or, for an offset a
  training crop can shift, overrides what it says);
* ``default`` - a convention of the format where the file cannot tell (PyTorch's ``padding = k // 2``).

A scale the caller asks for that differs from what the file says is refused, naming the file, its scale and
where that came from: a x2 network run at x3 gives garbage, not an error, further down. A scale that nothing
gives is refused too. The loaded :class:`~fsrcnn_fast.weights.schema.NetworkSpec` records the sources in
``provenance`` (``{"scale": "file name", "offset": "default"}``).
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

from .errors import WeightsError
from .schema import Deconv, NetworkSpec

__all__ = ["SOURCES", "scale_from_name", "decide_scale", "decide_offset", "with_provenance"]

SOURCES = ("metadata", "graph", "file name", "argument", "default")

Claim = Tuple[Optional[int], str]  # (value or None when the source says nothing, source)


def scale_from_name(path: Union[str, "os.PathLike[str]"]) -> int | None:
    """The scale written in a file name (``fsrcnn_x3.pth``, ``x4.mat``, ``model-X2``); None if there is none.

    An ``x`` right after a letter does not count (``box2``); two different scales are an error."""
    found = {int(m) for m in re.findall(r"(?<![a-z])x(\d{1,2})(?!\d)", Path(path).stem.lower())}
    if len(found) > 1:
        raise WeightsError(f"{path}: the name gives scales {sorted(found)}; pass scale=")
    return found.pop() if found else None


def _at(where: str) -> str:
    return f"{where}: " if where else ""


def check_scale_argument(scale: object) -> int | None:
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 16:
        raise WeightsError(f"scale must be an integer in [1, 16], got {scale!r}")
    return int(scale)


def decide_scale(where: str, wanted: object, claims: Sequence[Claim], detail: str = "") -> tuple[int, str]:
    """(scale, source). ``claims``: what the file says, strongest first (the first that says something wins);
    ``wanted``: the caller's scale or None; ``detail``: what in the file said it, for the message of a
    conflict, with ``{found}`` and ``{asked}`` for the two scales."""
    asked = check_scale_argument(wanted)
    said = next(((int(v), src) for v, src in claims if v is not None), None)
    if said is not None:
        value, src = said
        if asked is not None and asked != value:
            if not detail and src == "file name":
                detail = "its name gives scale {found}, not the {asked} asked for"
            clause = detail.format(found=value, asked=asked) + ": " if detail else ""
            raise WeightsError(
                _at(where) + clause + f"this network upscales by {value}, not {asked} (its scale comes from its "
                f"{src}); run it at scale {value}" + (", or rename the file" if src == "file name" else "")
            )
        return value, src
    if asked is not None:
        return asked, "argument"
    raise WeightsError(
        _at(where) + "cannot tell the scale: the file does not record the scale; pass scale= (or name the file "
        "like fsrcnn_x3)"
    )


def decide_offset(
    where: str,
    wanted: object,
    said: int | None = None,
    said_from: str = "graph",
    default: int | None = None,
    overridable: bool = True,
    hint: str = "",
) -> tuple[int, str]:
    """(offset, source) of a deconvolution. ``said``: what the file says (``said_from``); ``default``: the
    format's convention where the file says nothing; ``overridable``: whether ``wanted`` may replace what the
    file says (True where a training crop can shift it, or the importer always allowed it). With neither a
    file value, an argument nor a default, refused; ``hint`` is added to that message."""
    if wanted is not None and (isinstance(wanted, bool) or not isinstance(wanted, int)):
        raise WeightsError(f"offset must be an integer, got {wanted!r}")
    if said is not None:
        if wanted is not None and int(wanted) != said:
            if overridable:
                return int(wanted), "argument"
            raise WeightsError(_at(where) + f"the deconvolution offset is {said} (from its {said_from}), not {wanted}")
        return said, said_from
    if wanted is not None:
        return int(wanted), "argument"
    if default is not None:
        return default, "default"
    raise WeightsError(_at(where) + "the file cannot tell the deconvolution offset; pass offset=" + (f" ({hint})" if hint else ""))


def with_provenance(spec: NetworkSpec, scale: str, offset: str | None = None) -> NetworkSpec:
    """spec with its sources recorded (``offset`` only for a deconvolution tail)."""
    record = {"scale": scale}
    if isinstance(spec.tail, Deconv):
        record["offset"] = offset if offset is not None else "graph"
    return dataclasses.replace(spec, provenance=record)
