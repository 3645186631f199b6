"""One region of a larger image, computed exactly as the whole-image call computes it there.

The engine pads each layer at the real image edges only and places its Winograd blocks at image-aligned
positions, so a region's output depends on where the region sits in the image, not only on the pixels
around it. :func:`upscale_region` passes that position to the engine (``Network.run_frame_region``):
given the part of the image around a region (at least :func:`needed_input`), it returns what
``Model.upscale`` of the whole image returns for that region, bit for bit. This is what the Dask
and out-of-core paths build on (``fsrcnn_fast.dask``, ``fsrcnn_fast.outofcore``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np

from . import frame as _frame

if TYPE_CHECKING:
    from .api import Model

Box = tuple[int, int, int, int]  # rows [r0, r1) x columns [c0, c1) of LR (input) pixels


def region_align() -> int:
    """Regions are computed on this grid (the engine's Winograd block alignment)."""
    return int(_frame._limits()["region_align"])


def _engine(model: "Model", scale: int):
    return model._engines[scale]


def _pre_upsample(model: "Model", scale: int) -> int:
    """The engine's pre_upsample argument: the scale for a network on the bicubic-upscaled Y (SRCNN),
    whose engine keeps its input's size; 0 otherwise."""
    return scale if model.spec_for(scale).pre_upsample else 0


def halo(model: "Model", scale: int | None = None) -> int:
    """Input pixels on each side of any region (aligned or not) that the region's output depends on:
    the engine's receptive field including its Winograd groups and the chroma bicubic (for SRCNN: the
    network's at the output's size, through the bicubic of Y), plus the alignment of the region to the
    engine's grid."""
    s = model._pick_scale(scale)
    pre = _pre_upsample(model, s)
    engine = _engine(model, s)
    return int(engine.halo_of(pre) if pre else engine.halo) + region_align() - 1


def _check_box(region: object, shape: tuple[int, int]) -> Box:
    try:
        r0, r1, c0, c1 = (int(v) for v in region)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise TypeError(f"region must be (row0, row1, col0, col1), got {region!r}") from exc
    if not (0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]):
        raise ValueError(f"region {(r0, r1, c0, c1)} is not a non-empty part of an image of shape {shape}")
    return r0, r1, c0, c1


def aligned_region(region: Box, shape: tuple[int, int]) -> Box:
    """The smallest region on the engine's grid (or at the image's edges) holding ``region``."""
    a = region_align()
    r0, r1, c0, c1 = region
    return (r0 // a * a, min(shape[0], -(-r1 // a) * a), c0 // a * a, min(shape[1], -(-c1 // a) * a))


def needed_input(model: "Model", full_shape: tuple[int, ...], region: Box, *, scale: int | None = None,
                 colour: bool | None = None) -> Box:
    """The input pixels (rows [r0, r1) x columns [c0, c1) of the whole image) that
    :func:`upscale_region` needs for ``region`` of an image of ``full_shape`` (H, W[, C]).
    ``colour``: by default, whether ``full_shape`` has 3 or 4 channels."""
    s = model._pick_scale(scale)
    shape = (int(full_shape[0]), int(full_shape[1]))
    if colour is None:
        colour = len(full_shape) == 3 and int(full_shape[2]) in (3, 4)
    box = aligned_region(_check_box(region, shape), shape)
    return tuple(_engine(model, s).needed_input(shape, box, bool(colour),  # type: ignore[return-value]
                                                pre_upsample=_pre_upsample(model, s)))


def upscale_region(
    model: "Model",
    part: np.ndarray,
    full_shape: tuple[int, ...],
    origin: tuple[int, int],
    region: Box,
    *,
    scale: int | None = None,
    threads: int = 1,
    channel_order: Literal["RGB", "BGR"] = "RGB",
) -> np.ndarray:
    """``model.upscale(image, scale=scale)[r0*s:r1*s, c0*s:c1*s]`` for ``region`` = (r0, r1, c0, c1),
    bit for bit, from only ``part``: the pixels of ``image`` (shape ``full_shape``) whose first is at
    ``origin`` (row, col), holding at least :func:`needed_input` of the region."""
    s = model._pick_scale(scale)
    arr = _frame.check_image(part)
    bgr = _frame.check_channel_order(channel_order)
    shape = (int(full_shape[0]), int(full_shape[1]))
    if tuple(int(v) for v in full_shape[2:]) != arr.shape[2:]:
        raise ValueError(f"part has shape {arr.shape}; an image of shape {tuple(full_shape)} has other channels")
    box = _check_box(region, shape)
    wanted = aligned_region(box, shape)
    o_r, o_c = int(origin[0]), int(origin[1])
    if o_r < 0 or o_c < 0 or o_r + arr.shape[0] > shape[0] or o_c + arr.shape[1] > shape[1]:
        raise ValueError(f"part of shape {arr.shape} at {(o_r, o_c)} reaches beyond an image of shape {shape}")
    need = needed_input(model, full_shape, wanted, scale=s, colour=arr.ndim == 3 and arr.shape[2] in (3, 4))
    if o_r > need[0] or o_r + arr.shape[0] < need[1] or o_c > need[2] or o_c + arr.shape[1] < need[3]:
        raise ValueError(f"part covers rows [{o_r}, {o_r + arr.shape[0]}) x columns [{o_c}, {o_c + arr.shape[1]}); "
                         f"region {box} needs rows [{need[0]}, {need[1]}) x columns [{need[2]}, {need[3]})")
    if threads < 1:
        raise ValueError("threads must be >= 1")
    out = np.empty(((wanted[1] - wanted[0]) * s, (wanted[3] - wanted[2]) * s) + arr.shape[2:], arr.dtype)
    _engine(model, s).run_frame_region(arr, out, 0, bgr, shape, (o_r, o_c), wanted, threads,
                                       pre_upsample=_pre_upsample(model, s))
    r0, c0 = (box[0] - wanted[0]) * s, (box[2] - wanted[2]) * s
    view = out[r0:r0 + (box[1] - box[0]) * s, c0:c0 + (box[3] - box[2]) * s]
    return view if view.shape == out.shape else np.ascontiguousarray(view)
