"""Colour and sample-format conversions.

The networks run on Y of YCbCr as MATLAB's ``rgb2ycbcr`` defines it
(ITU-R BT.601, studio range: Y in [16, 235]/255, Cb/Cr in [16, 240]/255),
which is what the paper and its evaluation use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y_uint8", "to_unit_float", "from_unit_float", "round_half_away"]

# rows: Y, Cb, Cr; columns: R, G, B, applied to values in [0, 255] / 255 scaled.
_RGB_TO_YCBCR = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
) / 255.0
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64) / 255.0
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """float RGB in [0, 1] (..., 3) -> float YCbCr in [0, 1] (..., 3), in rgb's float type."""
    return rgb @ _RGB_TO_YCBCR.T.astype(rgb.dtype) + _YCBCR_OFFSET.astype(rgb.dtype)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (no clipping), in ycbcr's float type."""
    return (ycbcr - _YCBCR_OFFSET.astype(ycbcr.dtype)) @ _YCBCR_TO_RGB.T.astype(ycbcr.dtype)


def rgb_to_y_uint8(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` on a uint8 image, Y channel only, rounded to uint8."""
    x = np.asarray(rgb, np.float64)[..., :3]
    y = 16.0 + (x @ np.array([65.481, 128.553, 24.966])) / 255.0
    return np.clip(np.round(y), 0, 255).astype(np.uint8)


_INT_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def to_unit_float(x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """uint8/uint16 -> [0, 1] floats of ``dtype``; float types are converted as they are."""
    scale = _INT_MAX.get(x.dtype)
    if scale is None:
        return x.astype(dtype)
    return x.astype(dtype) * dtype(1.0 / scale)


def round_half_away(x: np.ndarray) -> np.ndarray:
    """MATLAB's rounding (``round``, ``uint8()``, ``uint16()``): half away from zero, exact for every
    float (``x - floor(x)`` is exact; ``floor(x + 0.5)`` is not, e.g. for 0.49999997). The engine's
    pack_row kernel rounds the same way."""
    a = np.abs(x)
    f = np.floor(a)
    return np.copysign(f + (a - f >= 0.5), x)


def from_unit_float(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """[0, 1] float -> ``dtype``: clipped, and for integer types scaled and rounded as MATLAB
    (half away from zero)."""
    scale = _INT_MAX.get(np.dtype(dtype))
    if scale is None:
        return np.clip(x, 0.0, 1.0).astype(dtype)
    x = np.clip(x, 0.0, 1.0) * x.dtype.type(scale)
    return round_half_away(x).astype(dtype)
