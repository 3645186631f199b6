"""upscale() in NumPy, float64 from the caller's samples to the rounding: colour to YCbCr, the
network on Y (through ``run_y``), MATLAB's bicubic (:func:`imresize`) for Cb, Cr and alpha, back to
the caller's layout, rounded as MATLAB. This is the reference the engine's one-call frame path
(:mod:`fsrcnn_fast.frame`) is tested against, FSRCNN's and SRCNN's (whose ``run_y`` bicubic-upscales
the whole Y plane first). Memory is O(image): several full-size planes. No library path uses it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from . import color
from .resize import imresize


def upscale(image: np.ndarray, scale: int, run_y: Callable[[np.ndarray], np.ndarray], bgr: bool = False) -> np.ndarray:
    """``image`` (checked: H x W or H x W x 1/3/4, one of the four dtypes) upscaled by ``scale``;
    ``run_y(y)`` maps a float32 Y plane to the network's float32 output ``scale`` x larger."""
    x = color.to_unit_float(image, np.float64)
    if x.ndim == 2 or x.shape[2] == 1:
        y = run_y(np.ascontiguousarray(x if x.ndim == 2 else x[..., 0], np.float32)).astype(np.float64)
        return color.from_unit_float(y if x.ndim == 2 else y[..., None], image.dtype)
    rgb = x[..., 2::-1] if bgr else x[..., :3]
    ycc = color.rgb_to_ycbcr(rgb)
    y = run_y(np.ascontiguousarray(ycc[..., 0], np.float32)).astype(np.float64)
    chroma = imresize(ycc[..., 1:], scale)
    out = color.ycbcr_to_rgb(np.concatenate([y[..., None], chroma], axis=2))
    if bgr:
        out = out[..., ::-1]
    if x.shape[2] == 4:
        out = np.concatenate([out, imresize(x[..., 3], scale)[..., None]], axis=2)
    return color.from_unit_float(out, image.dtype)
