"""The authors' MATLAB releases (``.mat``): FSRCNN / FSRCNN-s and SRCNN (needs SciPy).

FSRCNN files hold cell arrays ``weights_conv``, ``biases_conv``, ``prelu_conv``. Layer i's weights are
``[cin, k*k, cout]``, each k*k vector a k x k kernel in MATLAB column-major order, applied with
``imfilter(x, w, 'same', 'replicate')`` (correlation, replicate padding); PReLU has one slope per
layer; the last layer is the authors' ``deconv.m``: per input channel, the LR map is scattered at
stride s with its 9x9 filter, i.e. ``out[o] = sum_p x[p] * f[o - s*p + 4]`` (offset 4) away from the
border. Their x3 model comes out one HR pixel late under that rule (their demo shifts the output
before scoring), so it is imported with offset 3: correctly aligned output, no shift needed.

Flat-key FSRCNN files (chxy95/FSRCNN's ``weights.mat``, a PyTorch training written out for the authors'
MATLAB demo) hold ``weights_conv1..N`` (same ``[cin, k*k, cout]`` layout), ``weights_deconv``
``[1, k*k, d]``, ``biases_conv1..N``, ``biases_deconv`` and ``prelu1..N`` with one slope per channel
(``prelu{N+1}`` empty: no activation after the deconvolution). They run under the same conventions:
read column-major, replicate borders, the same offsets (measured on chxy95's x3: Set5 32.52 / Set14
29.07 dB, its README's numbers; read row-major it gives 32.52 / 29.09, with offset 4 26.32 / 24.57, with
zero borders 32.25 on Set5). The layout does not record the scale: it comes from the name or ``scale=``.

SRCNN files hold ``weights_conv1`` [k1*k1, n1], ``weights_conv2`` [n1, k2*k2, n2] (or [n1, n2] for
k2 = 1), ``weights_conv3`` [n2, k3*k3] and ``biases_conv1..3``; ReLU after conv1 and conv2.
"""

from __future__ import annotations

import io
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import WeightsError
from .limits import MAX_MEMBER_BYTES, check_elements, check_file_size
from .assemble import ActOp, ConvOp, DeconvOp, Op, assemble
from .provenance import decide_scale, scale_from_name
from .schema import Deconv, NetworkSpec

__all__ = ["load_matlab"]

# Deconvolution offsets that align each released model's output with the ground truth.
_FSRCNN_OFFSET = {2: 4, 3: 3, 4: 4}


def _read_mat(path: Path) -> dict:
    """``scipy.io.loadmat`` of a checked MAT v5 file read into memory, with every way it reports a damaged
    file (its MatReadError, or IndexError / EOFError / KeyError from a truncated one, zlib's error from a
    damaged compressed element) turned into WeightsError."""
    try:
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading MATLAB .mat weights needs SciPy: pip install scipy") from exc
    check_file_size(path)
    data = path.read_bytes()
    check_mat5(data, f"{path}: not a readable MATLAB file")
    try:
        # from memory: a file object's read(n) allocates the n a damaged size field asks for, BytesIO's does not
        return loadmat(io.BytesIO(data))
    except (MatReadError, ValueError, TypeError, OSError, IndexError, KeyError, EOFError, zlib.error,
            struct.error, NotImplementedError, OverflowError, AttributeError, RecursionError,
            NameError, ArithmeticError) as exc:  # SciPy's UnboundLocalError, ZeroDivisionError on damaged elements
        raise WeightsError(f"{path}: not a readable MATLAB file ({type(exc).__name__}: {exc})") from exc


_MI_INT8, _MI_INT32, _MI_UINT32, _MI_MATRIX, _MI_COMPRESSED = 1, 5, 6, 14, 15
# the element types MAT v5 defines (SciPy indexes tables with them: an unknown one crashes it)
_MI_NUMBERS = {1, 2, 3, 4, 5, 6, 7, 9, 12, 13}  # int8 .. uint32, single, double, int64, uint64
_MI_TEXT = {16, 17, 18}  # utf8, utf16, utf32 (char arrays)
_MX_CELL, _MX_STRUCT, _MX_CHAR = 1, 2, 4
_MX_NUMERIC = range(6, 16)  # double, single, int8 ... uint64
_MAX_NESTING = 8


def _tag(data: bytes, pos: int, order: str, where: str, end: int | None = None) -> tuple[int, int, int, int]:
    """(type, byte count, start of the data, end of the element padded to 8) of the element at pos, which
    must lie before ``end`` (default: the end of data)."""
    end = len(data) if end is None else end
    if pos + 8 > end:
        raise WeightsError(f"{where}: truncated element tag at byte {pos}")
    first, second = struct.unpack_from(order + "II", data, pos)
    if first >> 16:  # small data element: up to 4 bytes inside the tag
        if first >> 16 > 4:
            raise WeightsError(f"{where}: small element at byte {pos} claims {first >> 16} bytes")
        return first & 0xFFFF, first >> 16, pos + 4, pos + 8
    if pos + 8 + second > end:
        raise WeightsError(f"{where}: element at byte {pos} declares {second} bytes, {end - pos - 8} are left")
    # elements are padded to 8 bytes, except compressed ones
    return first, second, pos + 8, pos + 8 + second if first == _MI_COMPRESSED else min(end, pos + 8 + ((second + 7) & ~7))


def _check_matrix(data: bytes, pos: int, end: int, order: str, where: str, depth: int) -> None:
    """A miMATRIX body: class and dimensions, whose element count must fit in the bytes it has (each
    element takes at least one byte; each cell or field another miMATRIX of at least 8), and every
    sub-element of a known type within the matrix."""
    if depth > _MAX_NESTING:
        raise WeightsError(f"{where}: cell arrays nested deeper than {_MAX_NESTING}")
    if pos == end:
        return  # an empty matrix
    kind, size, start, pos = _tag(data, pos, order, where, end)
    if kind != _MI_UINT32 or size != 8:
        raise WeightsError(f"{where}: malformed array flags at byte {start}")
    mx_class = struct.unpack_from(order + "I", data, start)[0] & 0xFF
    kind, size, start, pos = _tag(data, pos, order, where, end)
    if kind != _MI_INT32 or size % 4 or not 8 <= size <= 4 * 8:
        raise WeightsError(f"{where}: malformed dimensions at byte {start}")
    dims = struct.unpack_from(f"{order}{size // 4}i", data, start)
    if mx_class not in (_MX_CELL, _MX_STRUCT, _MX_CHAR) and mx_class not in _MX_NUMERIC:
        raise WeightsError(f"{where}: MATLAB array class {mx_class} at byte {start} (sparse, object, ...) holds "
                           "no weights")
    per_item = 8 if mx_class in (_MX_CELL, _MX_STRUCT) else 1
    check_elements(dims, f"{where}: array at byte {start}", max(end - pos, 0) // per_item)
    kind, size, start, pos = _tag(data, pos, order, where, end)  # the name
    if kind != _MI_INT8:
        raise WeightsError(f"{where}: array name of element type {kind} at byte {start}")
    allowed = {_MI_MATRIX} if mx_class == _MX_CELL else (
        _MI_NUMBERS | {_MI_MATRIX} if mx_class == _MX_STRUCT else _MI_NUMBERS | _MI_TEXT)
    while pos < end:
        kind, size, start, pos = _tag(data, pos, order, where, end)
        if kind not in allowed:
            raise WeightsError(f"{where}: element type {kind} at byte {start} in a class-{mx_class} array")
        if kind == _MI_MATRIX:
            _check_matrix(data, start, start + size, order, where, depth + 1)


def check_mat5(data: bytes, where: str) -> None:
    """Walks a MAT v5 file's elements before SciPy reads it: sizes within the file, compressed elements
    inflating to at most MAX_MEMBER_BYTES, array shapes that fit in their bytes, only numeric, char, cell and
    struct arrays."""
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise WeightsError(f"{where}: not a MATLAB v5 .mat file (the releases are; v4 and v7.3 files are not read)")
    order = "<" if data[126:128] == b"IM" else ">"
    pos = 128
    while pos < len(data):
        kind, size, start, pos = _tag(data, pos, order, where)
        body, body_end = data, start + size
        if kind == _MI_COMPRESSED:
            inflate = zlib.decompressobj()
            try:
                body = inflate.decompress(data[start:start + size], MAX_MEMBER_BYTES + 1)
            except zlib.error as exc:
                raise WeightsError(f"{where}: damaged compressed element at byte {start} ({exc})") from exc
            if len(body) > MAX_MEMBER_BYTES:
                raise WeightsError(f"{where}: compressed element at byte {start} inflates beyond "
                                   f"{MAX_MEMBER_BYTES >> 20} MB")
            kind, size, start, _ = _tag(body, 0, order, where)
            body_end = start + size
        if kind == _MI_MATRIX:
            _check_matrix(body, start, body_end, order, where, 0)


def _kernel(vec: np.ndarray, name: str) -> np.ndarray:
    """A k*k column-major vector -> k x k kernel [ky, kx]."""
    k = math.isqrt(vec.size)
    if k * k != vec.size:
        raise WeightsError(f"{name}: {vec.size} taps is not a square kernel")
    return np.asarray(vec, np.float64).reshape((k, k), order="F")


def _cells(mat: dict, key: str, path: Path) -> list[np.ndarray]:
    if key not in mat:
        raise WeightsError(f"{path}: no {key!r} cell array (not an FSRCNN release file?)")
    return [np.asarray(c) for c in np.asarray(mat[key], dtype=object).ravel()]


def _fsrcnn_names(n_convs: int) -> list[str]:
    return ["feature", "shrink", *[f"map.{i}" for i in range(n_convs - 3)], "expand"]


def _conv_oihw(w: np.ndarray, name: str) -> np.ndarray:
    """The authors' [cin, k*k, cout] (column-major k x k vectors) -> OIHW."""
    w = np.asarray(w, np.float64)
    if w.ndim == 2:  # MATLAB drops a trailing singleton: [cin, k*k] with cout = 1
        w = w[:, :, None]
    if w.ndim != 3:
        raise WeightsError(f"{name}: expected [cin, k*k, cout] weights, got shape {w.shape}")
    cin, _, cout = w.shape
    return np.stack([np.stack([_kernel(w[ci, :, co], name) for ci in range(cin)]) for co in range(cout)])


def _deconv_weight(w: np.ndarray, name: str) -> np.ndarray:
    """The authors' deconvolution [1, k*k, d] (MATLAB may drop the leading 1) -> [d, 1, k, k]."""
    w = np.asarray(w, np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[0] != 1:
        raise WeightsError(f"{name}: expected [1, k*k, d] deconvolution weights (one output channel), got {w.shape}")
    return np.stack([_kernel(w[0, :, c], name) for c in range(w.shape[2])])[:, None]


def _deconv_op(weight: np.ndarray, bias: np.ndarray) -> DeconvOp:
    """The authors' deconv.m with the offset their demo scores at for its scale (a .mat file does not record
    it; ``offset=`` replaces it), replicate borders (see the module doc)."""
    return DeconvOp("deconv", weight, np.asarray(bias, np.float64).reshape(-1),
                    default_offset=lambda s: _FSRCNN_OFFSET.get(s, 4), border="replicate")


def _fsrcnn(mat: dict, path: Path) -> list[Op]:
    weights = _cells(mat, "weights_conv", path)
    biases = _cells(mat, "biases_conv", path)
    prelus = _cells(mat, "prelu_conv", path)
    if not (len(weights) == len(biases) and len(weights) >= 4):
        raise WeightsError(f"{path}: weights_conv and biases_conv must have the same length (>= 4)")
    layers: list[Op] = []
    for i, name in enumerate(_fsrcnn_names(len(weights) - 1)):
        slope = np.asarray(prelus[i], np.float64).reshape(-1)
        if slope.size != 1:
            raise WeightsError(f"{path}: {name}: expected one shared PReLU slope, got {slope.size}")
        layers += [ConvOp(name, _conv_oihw(weights[i], name), biases[i].reshape(-1), "replicate"),
                   ActOp(f"prelu_conv{{{i + 1}}}", "prelu", slope)]
    return layers + [_deconv_op(_deconv_weight(weights[-1], "deconv"), biases[-1])]


def _flat_key(mat: dict, key: str, path: Path) -> np.ndarray:
    if key not in mat:
        raise WeightsError(f"{path}: no {key!r} (flat-key FSRCNN layout: weights_conv1..N, biases_conv1..N, "
                         "prelu1..N, weights_deconv, biases_deconv)")
    return np.asarray(mat[key])


def _fsrcnn_flat(mat: dict, path: Path) -> list[Op]:
    """chxy95-style flat keys: weights_conv{i} / biases_conv{i} / prelu{i} (per channel), weights_deconv."""
    n = 0
    while f"weights_conv{n + 1}" in mat:
        n += 1
    if n < 3:
        raise WeightsError(f"{path}: flat-key FSRCNN needs weights_conv1..N with N >= 3, found {n}")
    layers: list[Op] = []
    for i, name in enumerate(_fsrcnn_names(n), start=1):
        label = f"{name} (weights_conv{i})"
        oihw = _conv_oihw(_flat_key(mat, f"weights_conv{i}", path), f"{path}: {label}")
        slope = np.asarray(_flat_key(mat, f"prelu{i}", path), np.float64).reshape(-1)
        if slope.size not in (1, oihw.shape[0]):
            raise WeightsError(f"{path}: prelu{i}: {slope.size} slopes for {oihw.shape[0]} channels (expected 1 or "
                             f"{oihw.shape[0]})")
        bias = np.asarray(_flat_key(mat, f"biases_conv{i}", path), np.float64).reshape(-1)
        layers += [ConvOp(name, oihw, bias, "replicate"), ActOp(f"prelu{i}", "prelu", slope)]
    after = np.asarray(mat.get(f"prelu{n + 1}", np.zeros(0)))
    if after.size:
        raise WeightsError(f"{path}: prelu{n + 1} has {after.size} values: an activation after the deconvolution "
                         "is not part of FSRCNN (it must be empty)")
    deconv = _deconv_weight(_flat_key(mat, "weights_deconv", path), f"{path}: weights_deconv")
    return layers + [_deconv_op(deconv, _flat_key(mat, "biases_deconv", path))]


def _srcnn(mat: dict, path: Path) -> list[Op]:
    w1 = np.asarray(mat["weights_conv1"], np.float64)  # [k1*k1, n1]
    w2 = np.asarray(mat["weights_conv2"], np.float64)  # [n1, k2*k2, n2] or [n1, n2]
    w3 = np.asarray(mat["weights_conv3"], np.float64)  # [n2, k3*k3]
    if w2.ndim == 2:
        w2 = w2[:, None, :]
    n1, n2 = w1.shape[1], w2.shape[2]
    conv1 = np.stack([_kernel(w1[:, o], "conv1") for o in range(n1)])[:, None]
    conv2 = np.stack([np.stack([_kernel(w2[i, :, o], "conv2") for i in range(n1)]) for o in range(n2)])
    conv3 = np.stack([_kernel(w3[i, :], "conv3") for i in range(n2)])[None]
    # the file records no activations: the assembler gives SRCNN's ReLUs
    return [ConvOp(name, w, np.asarray(mat[f"biases_{name}"]).reshape(-1), "replicate")
            for name, w in (("conv1", conv1), ("conv2", conv2), ("conv3", conv3))]


def load_matlab(path: str | Path, scale: int | None = None, *, offset: int | None = None) -> NetworkSpec:
    """Reads an FSRCNN (cell arrays or flat keys) or SRCNN file. A .mat file does not record its scale: it
    comes from the name (``x3.mat``), and ``scale`` must agree with it; without one in the name, from
    ``scale``. ``offset``: replaces the FSRCNN deconvolution offset the releases line up at (module doc).

    ``scipy.io.loadmat`` reads MATLAB's numeric format only (no code is executed)."""
    p = Path(path)
    claims = [(scale_from_name(p), "file name")]
    decide_scale(str(p), scale, claims)  # before reading: the file can never tell
    mat = _read_mat(p)
    if "weights_deconv" in mat:
        ops, label = _fsrcnn_flat(mat, p), f"MATLAB flat-key file {p.name}"
    elif "weights_conv1" in mat:
        if offset is not None:
            raise WeightsError(f"{p}: offset= given, but an SRCNN has no deconvolution")
        ops, label = _srcnn(mat, p), p.name
    else:
        ops, label = _fsrcnn(mat, p), f"MATLAB release {p.name}"
    spec = assemble(ops, str(p), scale=scale, offset=offset, claims=claims, metadata={"source": label},
                    record_tail=False)
    if isinstance(spec.tail, Deconv):
        spec.metadata["deconv_offset"] = str(spec.tail.offset)
    return spec
