"""The authors' MATLAB releases (``.mat``): FSRCNN / FSRCNN-s and SRCNN (needs SciPy).

FSRCNN files hold cell arrays ``weights_conv``, ``biases_conv``, ``prelu_conv``. Layer i's weights are
``[cin, k*k, cout]``, each k*k vector a k x k kernel in MATLAB column-major order, applied with
``imfilter(x, w, 'same', 'replicate')`` (correlation, replicate padding); PReLU has one slope per
layer; the last layer is the authors' ``deconv.m``: per input channel, the LR map is scattered at
stride s with its 9x9 filter, i.e. ``out[o] = sum_p x[p] * f[o - s*p + 4]`` (offset 4) away from the
border. Their x3 model comes out one HR pixel late under that rule (their demo shifts the output
before scoring), so it is imported with offset 3: correctly aligned output, no shift needed.

SRCNN files hold ``weights_conv1`` [k1*k1, n1], ``weights_conv2`` [n1, k2*k2, n2] (or [n1, n2] for
k2 = 1), ``weights_conv3`` [n2, k3*k3] and ``biases_conv1..3``; ReLU after conv1 and conv2.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .schema import Conv, Deconv, NetworkSpec

__all__ = ["load_matlab"]

# Deconvolution offsets that align each released model's output with the ground truth.
_FSRCNN_OFFSET = {2: 4, 3: 3, 4: 4}


def _scipy_loadmat():
    try:
        from scipy.io import loadmat
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading MATLAB .mat weights needs SciPy: pip install scipy") from exc
    return loadmat


def _kernel(vec: np.ndarray, name: str) -> np.ndarray:
    """A k*k column-major vector -> k x k kernel [ky, kx]."""
    k = math.isqrt(vec.size)
    if k * k != vec.size:
        raise ValueError(f"{name}: {vec.size} taps is not a square kernel")
    return np.asarray(vec, np.float64).reshape((k, k), order="F")


def _scale_from_name(path: Path, scale: int | None) -> int:
    if scale is not None:
        return scale
    m = re.search(r"x(\d+)", path.stem)
    if not m:
        raise ValueError(f"{path}: cannot tell the scale from the file name; pass scale=")
    return int(m.group(1))


def _cells(mat: dict, key: str, path: Path) -> list[np.ndarray]:
    if key not in mat:
        raise ValueError(f"{path}: no {key!r} cell array (not an FSRCNN release file?)")
    return [np.asarray(c) for c in np.asarray(mat[key], dtype=object).ravel()]


def _fsrcnn(mat: dict, path: Path, scale: int) -> NetworkSpec:
    weights = _cells(mat, "weights_conv", path)
    biases = _cells(mat, "biases_conv", path)
    prelus = _cells(mat, "prelu_conv", path)
    if not (len(weights) == len(biases) and len(weights) >= 4):
        raise ValueError(f"{path}: weights_conv and biases_conv must have the same length (>= 4)")
    names = ["feature", "shrink", *[f"map.{i}" for i in range(len(weights) - 4)], "expand"]
    layers = []
    for i, name in enumerate(names):
        w = weights[i]
        if w.ndim == 2:  # MATLAB drops a trailing singleton: [cin, k*k] with cout = 1
            w = w[:, :, None]
        cin, taps, cout = w.shape
        oihw = np.stack([np.stack([_kernel(w[ci, :, co], name) for ci in range(cin)]) for co in range(cout)])
        slope = np.asarray(prelus[i], np.float64).reshape(-1)
        if slope.size != 1:
            raise ValueError(f"{path}: {name}: expected one shared PReLU slope, got {slope.size}")
        layers.append(Conv(name, oihw, biases[i].reshape(-1), "prelu", slope, "replicate"))
    w = weights[-1]
    if w.ndim == 2:
        w = w[None]
    d = w.shape[2]
    deconv = np.stack([_kernel(w[0, :, c], "deconv") for c in range(d)])[:, None]
    offset = _FSRCNN_OFFSET.get(scale, 4)
    tail = Deconv("deconv", deconv, biases[-1].reshape(-1), scale, offset, "replicate")
    meta = {"source": f"MATLAB release {path.name}", "deconv_offset": str(offset)}
    return NetworkSpec("fsrcnn", tuple(layers), tail, scale, metadata=meta)


def _srcnn(mat: dict, path: Path, scale: int) -> NetworkSpec:
    w1 = np.asarray(mat["weights_conv1"], np.float64)  # [k1*k1, n1]
    w2 = np.asarray(mat["weights_conv2"], np.float64)  # [n1, k2*k2, n2] or [n1, n2]
    w3 = np.asarray(mat["weights_conv3"], np.float64)  # [n2, k3*k3]
    if w2.ndim == 2:
        w2 = w2[:, None, :]
    n1, n2 = w1.shape[1], w2.shape[2]
    conv1 = np.stack([_kernel(w1[:, o], "conv1") for o in range(n1)])[:, None]
    conv2 = np.stack([np.stack([_kernel(w2[i, :, o], "conv2") for i in range(n1)]) for o in range(n2)])
    conv3 = np.stack([_kernel(w3[i, :], "conv3") for i in range(n2)])[None]
    layers = (
        Conv("conv1", conv1, np.asarray(mat["biases_conv1"]).reshape(-1), "relu", None, "replicate"),
        Conv("conv2", conv2, np.asarray(mat["biases_conv2"]).reshape(-1), "relu", None, "replicate"),
        Conv("conv3", conv3, np.asarray(mat["biases_conv3"]).reshape(-1), "none", None, "replicate"),
    )
    return NetworkSpec("srcnn", layers, None, scale, pre_upsample=True, metadata={"source": path.name})


def load_matlab(path: str | Path, scale: int | None = None) -> NetworkSpec:
    """Reads an FSRCNN or SRCNN release file; the scale comes from the name (``x3.mat``) if not given.

    ``scipy.io.loadmat`` reads MATLAB's numeric format only (no code is executed)."""
    p = Path(path)
    s = _scale_from_name(p, scale)
    try:
        mat = _scipy_loadmat()(str(p))
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError(f"{p}: not a readable MATLAB file ({exc})") from exc
    if "weights_conv1" in mat:
        return _srcnn(mat, p, s)
    return _fsrcnn(mat, p, s)
