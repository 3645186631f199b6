"""Image (frame) policy of :func:`fsrcnn_fast.upscale`: which arrays are accepted, which output
arrays may be written, and the one engine call that does the rest.

The engine reads the caller's array as it is (any strides, gray / RGB / BGR / RGBA, four sample
types), runs the network tile by tile and writes straight into the output array (see
``csrc/engine/frame.h``); no full-size intermediate exists, in Python or C++.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))


def _limits() -> dict:
    from . import _core

    return _core.limits


def check_image(image: object) -> np.ndarray:
    """The image as an array, or a TypeError / ValueError naming what is wrong with it."""
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"image must be a numpy array, got {type(image).__name__}") from exc
    arr: np.ndarray = image  # type: ignore[assignment]
    if arr.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"unsupported image dtype {arr.dtype}; use uint8, uint16, float32 or float64")
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must be H x W or H x W x C, got {arr.ndim} dimensions (shape {arr.shape})")
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels, got {arr.shape[2]} (shape {arr.shape})")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    max_side = _limits()["max_side"]
    if max(arr.shape[:2]) > max_side:
        raise ValueError(f"image side exceeds {max_side} pixels (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or infinity")
    return arr


def check_channel_order(channel_order: object) -> bool:
    """True for BGR."""
    if channel_order not in ("RGB", "BGR"):
        raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
    return channel_order == "BGR"


def output_shape(image: np.ndarray, scale: int) -> tuple[int, ...]:
    return (image.shape[0] * scale, image.shape[1] * scale) + image.shape[2:]


def check_out(out: object, image: np.ndarray, scale: int, others: Sequence[np.ndarray] = ()) -> np.ndarray:
    """``out`` checked as the destination of ``image`` upscaled by ``scale`` (a new array when None):
    the output's exact shape and dtype, writeable, any strides, sharing no memory with the image or
    with ``others`` (the call's other outputs)."""
    shape = output_shape(image, scale)
    max_side = _limits()["max_side"]
    if max(shape[:2]) > max_side:
        raise ValueError(f"the output side would exceed {max_side} pixels (shape {shape})")
    if out is None:
        return np.empty(shape, image.dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}; x{scale} of an image of shape {image.shape} needs {shape}")
    if out.dtype != image.dtype:
        raise TypeError(f"out has dtype {out.dtype}; it must be the image's, {image.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if np.may_share_memory(out, image):
        raise ValueError("out overlaps the image: the output must not share memory with the input")
    if any(np.may_share_memory(out, o) for o in others):
        raise ValueError("two outputs overlap: every scale needs its own array")
    return out


def upscale_into(engine, image: np.ndarray, outs: Mapping[int, np.ndarray], bgr: bool, threads: int,
                 pre_upsample: int = 0) -> None:
    """One engine call: every scale of ``engine`` (a _core.Network) found in ``outs`` is written
    into its array; the layers the scales share run once. ``pre_upsample``: the scale of a network
    that runs on a bicubic-upscaled Y (SRCNN; its engine keeps the input's size), which the engine
    upscales tile by tile."""
    if pre_upsample:
        engine.run_frame(image, [outs[pre_upsample]], bgr, threads, pre_upsample=pre_upsample)
    else:
        engine.run_frame(image, [outs.get(s) for s in engine.scales], bgr, threads)
