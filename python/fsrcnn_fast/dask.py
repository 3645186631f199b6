"""Super-resolution of Dask arrays, bit-identical to one :func:`fsrcnn_fast.upscale` call.

``fsrcnn_fast.dask.upscale(array, scale=3)`` returns a lazy Dask array whose chunks are the input's chunks
times the scale. Each output chunk is one task: it takes the input pixels its region needs (the region
plus the network's halo, :attr:`fsrcnn_fast.Model.halo`: its own chunk whole, and from each neighbouring
chunk only the halo rows and columns, cut where that chunk lives; every input chunk is read once) and
computes the region with the engine's region entry (:mod:`fsrcnn_fast.region`), which pads only at the
real image edges and keeps the engine's Winograd grid. So any chunking gives the whole-image result bit
for bit, ragged last chunks and chunks smaller than the halo included (nothing is rechunked: a chunk
smaller than the halo simply reads from more neighbours). Colour images are converted, networked,
chroma-bicubic'd and rounded in C++ exactly as ``upscale()`` does; the channel axis is gathered into one
chunk. The Model enters the graph once, as its own key: a distributed worker fetches it once and every
task on that worker shares it.

Needs the ``[dask]`` extra (``pip install 'fsrcnn_fast[dask]'``).
"""

from __future__ import annotations

import operator
import os
import pickle
from typing import Any, Literal

import numpy as np

from . import frame as _frame
from . import region as _region
from .api import Model
from .engine import check_scale
from .registry import cached_model


def _require_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise ImportError("fsrcnn_fast.dask needs Dask: pip install 'fsrcnn_fast[dask]'") from exc
    return dask, da


def _bounds(chunks: tuple[int, ...]) -> list[tuple[int, int]]:
    edges = np.concatenate([[0], np.cumsum(chunks)]).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _upscale_block(model: Model, pieces: list[list[np.ndarray]], full_shape, origin, box, scale: int, bgr: bool,
                   threads: int):
    """The output of ``box`` from the input around it, given as a grid of pieces (rows of column pieces)."""
    rows = [r[0] if len(r) == 1 else np.concatenate(r, axis=1) for r in pieces]
    part = rows[0] if len(rows) == 1 else np.concatenate(rows, axis=0)
    return model.upscale_region(part, full_shape, origin, box, scale=scale, threads=threads,
                                channel_order="BGR" if bgr else "RGB")


def _pieces(chunk_keys, row_bounds, col_bounds, need, getitem) -> list[list[Any]]:
    """The input rows [need[0], need[1]) x columns [need[2], need[3]) as a grid of pieces of the chunks
    (chunk_keys[i][j] covers row_bounds[i] x col_bounds[j]): whole chunks as they are, the halo as
    slices of the neighbouring chunks (getitem tasks, cut where those chunks live)."""
    grid = []
    for i, (a, b) in enumerate(row_bounds):
        if b <= need[0] or a >= need[1]:
            continue
        row = []
        for j, (c, d) in enumerate(col_bounds):
            if d <= need[2] or c >= need[3]:
                continue
            rows = slice(max(a, need[0]) - a, min(b, need[1]) - a)
            cols = slice(max(c, need[2]) - c, min(d, need[3]) - c)
            whole = rows == slice(0, b - a) and cols == slice(0, d - c)
            row.append(chunk_keys[i][j] if whole else getitem(chunk_keys[i][j], (rows, cols)))
        grid.append(row)
    return grid


def model_delayed(model: Model):
    """``model`` as one Dask key (named after its content), for graphs that share it."""
    dask, _ = _require_dask()
    from dask.base import tokenize

    return dask.delayed(model, name="fsrcnn-model-" + tokenize(pickle.dumps(model)), pure=True)


def upscale(
    array: Any,
    scale: int | None = None,
    *,
    model: str | Model = "fsrcnn",
    weights: str | os.PathLike[str] | None = None,
    offset: int | None = None,
    threads: int = 1,
    channel_order: Literal["RGB", "BGR"] = "RGB",
    min_chunk: int | None = None,
):
    """``fsrcnn_fast.upscale`` of a Dask array (H x W or H x W x C, C in 1, 3, 4; uint8, uint16, float32
    or float64), lazily: returns a Dask array of the input's dtype with chunks ``scale`` x the input's.

    ``model``: a shipped model's name (with ``weights`` / ``offset`` as in ``upscale()``) or a
    :class:`fsrcnn_fast.Model`. ``scale``: as in ``upscale()`` (default 3 for a shipped model, the
    Model's default scale for a Model). ``threads``: engine threads per task (Dask runs tasks in parallel).
    ``min_chunk``: chunks shorter than this along an axis are computed in groups at least this long and
    split back (default: four halos, ``4 * Model.halo``; 1: every chunk its own task).
    A NumPy array is accepted and wrapped as one chunk.
    """
    dask, da = _require_dask()
    if isinstance(model, Model):
        if weights is not None or offset is not None:
            raise ValueError("weights= and offset= are for a model given by name, not a Model")
        m = model
    else:
        s = None if scale is None else check_scale(scale)
        m = cached_model(model, weights, 3 if (weights is None and s is None) else s, offset)
    s = m._pick_scale(scale)
    bgr = _frame.check_channel_order(channel_order)
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    if not isinstance(array, da.Array):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"array must be a dask or numpy array, got {type(array).__name__}")
        array = da.from_array(array, chunks=array.shape)
    if array.dtype not in _frame.SUPPORTED_DTYPES:
        raise TypeError(f"unsupported image dtype {array.dtype}; use uint8, uint16, float32 or float64")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ValueError(f"array must be H x W or H x W x C with C in 1, 3, 4, got shape {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"array is empty (shape {array.shape})")
    if any(np.isnan(v) for v in array.shape):
        raise ValueError("array has unknown chunk sizes; call compute_chunk_sizes() first")
    max_side = _frame._limits()["max_side"]
    if max(array.shape[:2]) * s > max_side:
        raise ValueError(f"the output side would exceed {max_side} pixels (shape {array.shape}, x{s})")
    if array.ndim == 3 and len(array.chunks[2]) > 1:
        array = array.rechunk({2: -1})  # a pixel's channels belong together (colour conversion)

    full_shape = tuple(int(v) for v in array.shape)
    # Chunks smaller than a few halos are computed in groups (then split back): a task per tiny chunk
    # would read mostly halo, and its halo would span many chunks (a quadratic graph). Grouping
    # changes neither the result (every region is exact) nor the output chunks.
    if min_chunk is not None and (isinstance(min_chunk, bool) or not isinstance(min_chunk, (int, np.integer))
                                  or min_chunk < 1):
        raise ValueError(f"min_chunk must be an integer >= 1, got {min_chunk!r}")
    min_len = _GROUP_HALOS * _region.halo(m, s) if min_chunk is None else int(min_chunk)
    groups = [_groups(array.chunks[0], min_len), _groups(array.chunks[1], min_len)]
    work = array
    if groups != [list(array.chunks[0]), list(array.chunks[1])]:
        work = array.rechunk(tuple(groups) + array.chunks[2:])
    # Each input chunk is one key, computed (read) once; a task's halo is a slice of the neighbouring
    # chunks' keys. (Slicing the Dask array per task instead lets Dask fold every slice into the input's
    # own reads: each task read its neighbours again, and a Zarr or TIFF store decodes a whole chunk for a
    # slice of it: 170 chunk reads instead of 25 at 2400 x 2400 in 512 x 512 chunks.)
    chunk_keys = work.to_delayed(optimize_graph=False).reshape(len(work.chunks[0]), len(work.chunks[1]))
    row_bounds, col_bounds = _bounds(work.chunks[0]), _bounds(work.chunks[1])
    getitem = dask.delayed(operator.getitem, pure=True)
    model_key = model_delayed(m)
    block = dask.delayed(_upscale_block, pure=True)
    rows = []
    for r0, r1 in row_bounds:
        row = []
        for c0, c1 in col_bounds:
            box = (r0, r1, c0, c1)
            need = _region.needed_input(m, full_shape, box, scale=s)
            with dask.annotate(priority=_CUT_PRIORITY):
                pieces = _pieces(chunk_keys, row_bounds, col_bounds, need, getitem)
            task = block(model_key, pieces, full_shape, (need[0], need[2]), box, s, bgr, int(threads))
            shape = ((r1 - r0) * s, (c1 - c0) * s) + full_shape[2:]
            piece = da.from_delayed(task, shape, array.dtype)
            row.append([piece] if array.ndim == 3 else piece)  # da.block nests one list per axis
        rows.append(row)
    out = da.block(rows)
    wanted = tuple(tuple(c * s for c in axis) for axis in array.chunks[:2]) + array.chunks[2:]
    return out if out.chunks == wanted else out.rechunk(wanted)


_CUT_PRIORITY = 1  # halo cuts before any network work (Dask's default priority is 0)
_GROUP_HALOS = 4  # a task's region spans at least this many halos along each axis (unless the image is smaller)


def _groups(chunks: tuple[int, ...], min_len: int) -> list[int]:
    """Consecutive chunks merged until each group is at least min_len long (the last one may merge into
    its predecessor); chunks already that long stay as they are."""
    out: list[int] = []
    acc = 0
    for c in chunks:
        acc += int(c)
        if acc >= min_len:
            out.append(acc)
            acc = 0
    if acc:
        if out and acc < min_len:
            out[-1] += acc
        else:
            out.append(acc)
    return out
