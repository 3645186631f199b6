"""Float64 NumPy oracle of every network the engine runs: plain, slow, obviously correct.

It shares no code with the engine or with fsrcnn_fast's Python package: it reads a
NetworkSpec's arrays and nothing else.
"""

from __future__ import annotations

import numpy as np


def pad(x: np.ndarray, lo: int, hi: int, border: str) -> np.ndarray:
    """Pads the last two axes by lo before and hi after."""
    width = [(0, 0)] * (x.ndim - 2) + [(lo, hi), (lo, hi)]
    return np.pad(x, width, mode="edge" if border == "replicate" else "constant")


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, border: str) -> np.ndarray:
    """'same' correlation: x [cin, H, W], weight [cout, cin, k, k] -> [cout, H, W]."""
    cout, cin, k, _ = weight.shape
    r = k // 2
    h, w = x.shape[1:]
    xp = pad(x.astype(np.float64), r, r, border)
    out = np.zeros((cout, h, w))
    for dy in range(k):
        for dx in range(k):
            window = xp[:, dy : dy + h, dx : dx + w]
            out += np.einsum("oc,chw->ohw", weight[:, :, dy, dx].astype(np.float64), window)
    return out + bias.astype(np.float64)[:, None, None]


def prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    a = np.broadcast_to(np.asarray(slope, np.float64).reshape(-1), (x.shape[0],))[:, None, None]
    return np.where(x > 0, x, a * x)


def deconv(x: np.ndarray, weight: np.ndarray, bias: float, scale: int, offset: int, border: str) -> np.ndarray:
    """out[o] = bias + sum_c sum_p x_c[p] * w_c[o + offset - scale*p], p over every LR index
    (outside the image: zero, or the nearest edge pixel for 'replicate'); scatter form."""
    cin, h, w = x.shape
    k = weight.shape[-1]
    wt = weight.reshape(cin, k, k).astype(np.float64)
    oh, ow = h * scale, w * scale
    # p reaches beyond the image by at most `margin` on each side.
    margin = (k + abs(offset)) // scale + 2
    xp = pad(x.astype(np.float64), margin, margin, border)
    out = np.zeros((oh, ow))
    for py in range(-margin, h + margin):
        for px in range(-margin, w + margin):
            # scatter x[:, py, px] * w over outputs o = scale*p - offset + t
            oy0, ox0 = scale * py - offset, scale * px - offset
            contrib = np.einsum("c,cij->ij", xp[:, py + margin, px + margin], wt)
            y0, y1 = max(oy0, 0), min(oy0 + k, oh)
            x0, x1 = max(ox0, 0), min(ox0 + k, ow)
            if y0 < y1 and x0 < x1:
                out[y0:y1, x0:x1] += contrib[y0 - oy0 : y1 - oy0, x0 - ox0 : x1 - ox0]
    return out + float(np.asarray(bias).reshape(-1)[0])


def depth_to_space(x: np.ndarray, scale: int) -> np.ndarray:
    """[scale^2, H, W] -> [H*scale, W*scale], DCR: out[s*i+a, s*j+b] = x[a*s+b, i, j]."""
    _, h, w = x.shape
    return x.reshape(scale, scale, h, w).transpose(2, 0, 3, 1).reshape(h * scale, w * scale)


def bicubic_up(y: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB imresize bicubic upscaling by an integer factor (no antialiasing needed)."""

    def cubic(t: np.ndarray) -> np.ndarray:
        a = np.abs(t)
        return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0.0))

    def matrix(n: int) -> np.ndarray:
        m = np.zeros((n * scale, n))
        for o in range(n * scale):
            u = (o + 1) / scale + 0.5 * (1 - 1 / scale)
            for t in range(int(np.floor(u - 2)), int(np.floor(u - 2)) + 6):
                src = t - 1  # 0-based, mirrored symmetrically
                period = 2 * n
                src = src % period
                if src >= n:
                    src = period - 1 - src
                m[o, src] += cubic(u - t)
        return m / m.sum(axis=1, keepdims=True)

    return matrix(y.shape[0]) @ y.astype(np.float64) @ matrix(y.shape[1]).T


def run(spec, y: np.ndarray) -> np.ndarray:
    """Runs a NetworkSpec on a 2-D plane in float64."""
    x = y.astype(np.float64)
    if spec.pre_upsample:
        x = bicubic_up(x, spec.scale)
    x = x[None]
    for layer in spec.layers:
        x = conv2d(x, layer.weight, layer.bias, layer.border)
        if layer.activation == "relu":
            x = np.maximum(x, 0.0)
        elif layer.activation == "prelu":
            x = prelu(x, layer.slope)
    tail = spec.tail
    if tail is None:
        return x[0]
    if type(tail).__name__ == "Deconv":
        return deconv(x, tail.weight, tail.bias, tail.scale, tail.offset, tail.border)
    return depth_to_space(conv2d(x, tail.weight, tail.bias, tail.border), tail.scale)
