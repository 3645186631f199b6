"""MATLAB-compatible bicubic resizing (``imresize(x, scale, 'bicubic')``).

The evaluation protocol of the super-resolution literature, the LR images the
models are trained on, SRCNN's pre-upsampling and the chroma path of
:func:`fsrcnn_fast.upscale` all use MATLAB's ``imresize``: a cubic kernel with
a = -0.5, widened by ``1/scale`` when shrinking (antialiasing), and symmetric
(mirror) boundary handling. Reproducing it exactly is what makes our PSNRs
comparable with published ones, so it is written out here from MATLAB's
documented algorithm, one separable pass per axis, in float64.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["imresize", "resize_planes"]

_KERNEL_WIDTH = 4.0


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0))
    return near + far


@lru_cache(maxsize=64)
def _contributions(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Source indices and weights, each (out_len, taps), for one axis.

    Mirrors MATLAB's ``contributions()``: output pixel x (1-based) maps to
    u = x/scale + (1 - 1/scale)/2 in input coordinates; out-of-range taps are
    reflected symmetrically; all-zero tap columns are dropped.
    """
    if scale < 1.0:
        width = _KERNEL_WIDTH / scale

        def kernel(t: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * t)
    else:
        width = _KERNEL_WIDTH
        kernel = _cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(u[:, None] - idx)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    keep = np.any(weights != 0.0, axis=0)
    idx, weights = idx[:, keep], weights[:, keep]
    idx.setflags(write=False)
    weights.setflags(write=False)
    return idx, weights


def _resize_axis(x: np.ndarray, axis: int, out_len: int, scale: float) -> np.ndarray:
    idx, weights = _contributions(x.shape[axis], out_len, scale)
    x = np.moveaxis(x, axis, 0)
    out = np.zeros((out_len,) + x.shape[1:], dtype=np.float64)
    extra = (slice(None),) + (None,) * (x.ndim - 1)
    for t in range(idx.shape[1]):
        out += weights[:, t][extra] * x[idx[:, t]]
    return np.moveaxis(out, 0, axis)


def imresize(image: np.ndarray, scale: float | None = None, *, output_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Bicubic resize of the first two axes of ``image`` exactly as MATLAB does.

    Give either ``scale`` (output size ``ceil(scale * input)``, MATLAB's rule)
    or ``output_shape`` (rows, cols; the scale per axis is then out/in).
    Returns float64; the caller rounds or clips as its protocol requires.
    """
    x = np.asarray(image, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"imresize needs at least 2 dimensions, got shape {x.shape}")
    rows, cols = x.shape[:2]
    if output_shape is None:
        if scale is None or scale <= 0:
            raise ValueError("imresize needs a positive scale or an output_shape")
        out_rows, out_cols = math.ceil(rows * scale - 1e-9), math.ceil(cols * scale - 1e-9)
        scale_r = scale_c = float(scale)
    else:
        out_rows, out_cols = (int(v) for v in output_shape)
        scale_r, scale_c = out_rows / rows, out_cols / cols
    if min(rows, cols, out_rows, out_cols) < 1:
        raise ValueError(f"imresize cannot resize shape {x.shape} to {(out_rows, out_cols)}")
    # MATLAB resizes the axis with the smaller scale first (rows on a tie).
    if scale_c < scale_r:
        x = _resize_axis(x, 1, out_cols, scale_c)
        return _resize_axis(x, 0, out_rows, scale_r)
    x = _resize_axis(x, 0, out_rows, scale_r)
    return _resize_axis(x, 1, out_cols, scale_c)


def resize_planes(planes: np.ndarray, scale: int, threads: int, out: np.ndarray | None = None) -> np.ndarray:
    """Float32 [C, H, W] planes upscaled by ``scale`` with the same taps as :func:`imresize`,
    applied by the engine (multi-threaded, in float32): SRCNN's pre-upsampling. (``upscale()``'s
    chroma and alpha are resized tile by tile inside the engine's frame path, with the same taps.)"""
    from . import _core

    _, rows, cols = planes.shape
    r_idx, r_w = _contributions(rows, rows * scale, float(scale))
    c_idx, c_w = _contributions(cols, cols * scale, float(scale))
    return _core.resize(
        np.ascontiguousarray(planes, dtype=np.float32),
        np.ascontiguousarray(r_idx, np.int32), np.ascontiguousarray(r_w, np.float32),
        np.ascontiguousarray(c_idx, np.int32), np.ascontiguousarray(c_w, np.float32),
        threads,
        out,
    )
