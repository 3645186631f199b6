"""Images larger than memory: TIFF / Zarr / OME-Zarr in, Zarr / OME-Zarr / tiled TIFF out, chunk by chunk.

``fsrcnn-fast upscale big.tif out.zarr`` runs :func:`upscale_file`: the input is read in chunks of
``chunk`` x ``chunk`` pixels (each task reads only its tiles, plus the halo), every output chunk is
computed by :mod:`fsrcnn_fast.dask` (bit-identical to one ``upscale()`` of the whole image) and written
by the task that computed it, so memory is bounded by the chunk size times the tasks running at once,
not by the image. Zarr output is written by the workers themselves; a tiled TIFF is written by the
driver one row of output tiles at a time (tifffile writes tiles in order). On the local machine by
default (Dask's threaded scheduler); ``scheduler="tcp://host:8786"`` runs on a Dask cluster whose
workers see the same paths.

Needs the ``[dask]`` extra (dask, distributed, zarr, tifffile).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import frame as _frame
from . import region as _region

DEFAULT_CHUNK = 1024  # LR pixels per side of a task's region (a multiple of 16: TIFF tiles at any scale)
TIFF_SUFFIXES = (".tif", ".tiff")


def _require():
    try:
        import dask  # noqa: F401
        import tifffile  # noqa: F401
        import zarr  # noqa: F401
    except ImportError as exc:
        raise ImportError("out-of-core files need the [dask] extra: pip install 'fsrcnn_fast[dask]' "
                          f"({exc.name} is missing)") from exc


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """'tiff', 'ome-zarr', 'zarr' or None (not a format this module handles), from the name."""
    name = str(path).rstrip("/\\").lower()
    if name.endswith(TIFF_SUFFIXES):
        return "tiff"
    if name.endswith(".ome.zarr"):
        return "ome-zarr"
    if name.endswith(".zarr"):
        return "zarr"
    return None


def wants_streaming(src: str, dst: str, scale: int, options_given: bool) -> bool:
    """Whether the CLI should stream src -> dst: a Zarr on either side, an out-of-core option given, or
    a TIFF whose output would not comfortably fit in memory (> 1 GiB)."""
    ks, kd = kind_of(src), kind_of(dst)
    if ks in ("zarr", "ome-zarr") or kd in ("zarr", "ome-zarr") or options_given:
        return True
    if ks == "tiff" and kd == "tiff":
        try:
            shape, dtype, _ = _input_layout(src)
        except Exception:  # noqa: BLE001 - not readable as tiled input: the whole-image path says why
            return False
        return int(np.prod(shape)) * dtype.itemsize * scale * scale > (1 << 30)
    return False


# ---- input: a reader per task (picklable: paths and keys only) ----

def _input_layout(path: str) -> tuple[tuple[int, ...], np.dtype, dict[str, Any]]:
    """The image's shape (H, W[, C]) and dtype, and how tasks find it."""
    _require()
    kind = kind_of(path)
    if kind == "tiff":
        import tifffile

        with tifffile.TiffFile(path) as tf:
            series = tf.series[0]
            shape, dtype = tuple(int(v) for v in series.shape), np.dtype(series.dtype)
        return _check_layout(path, shape, dtype), dtype, {"kind": "tiff", "key": None, "channel_first": False}
    import zarr

    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such Zarr")
    node = zarr.open(path, mode="r")
    key, channel_first = None, False
    if isinstance(node, zarr.Group):
        attrs = dict(node.attrs)
        ome = attrs.get("ome", attrs)
        if "multiscales" not in ome:
            raise ValueError(f"{path}: a Zarr group without OME multiscales metadata; give the array's path")
        ms = ome["multiscales"][0]
        key = ms["datasets"][0]["path"]
        axes = [a["name"] if isinstance(a, dict) else a for a in ms.get("axes", [])]
        node = node[key]
        channel_first = len(axes) == 3 and axes[0] == "c"
    shape = tuple(int(v) for v in node.shape)
    if channel_first:
        shape = shape[1:] + shape[:1]
    return (_check_layout(path, shape, np.dtype(node.dtype)), np.dtype(node.dtype),
            {"kind": "zarr", "key": key, "channel_first": channel_first})


def _check_layout(path: str, shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    from .frame import SUPPORTED_DTYPES

    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
        raise ValueError(f"{path}: an image of shape {shape}; need H x W or H x W x C with C in 1, 3, 4")
    if dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{path}: unsupported sample type {dtype}; use uint8, uint16, float32 or float64")
    return shape


def _read_box(path: str, how: dict[str, Any], box: tuple[int, int, int, int]) -> np.ndarray:
    import zarr

    r0, r1, c0, c1 = box
    if how["kind"] == "tiff":
        import tifffile

        with tifffile.imread(path, aszarr=True) as store:
            return np.asarray(zarr.open(store, mode="r")[r0:r1, c0:c1])
    node = zarr.open(path, mode="r")
    if how["key"] is not None:
        node = node[how["key"]]
    if how["channel_first"]:
        return np.ascontiguousarray(np.moveaxis(np.asarray(node[:, r0:r1, c0:c1]), 0, -1))
    return np.asarray(node[r0:r1, c0:c1])


def input_array(path: str, chunk: int = DEFAULT_CHUNK):
    """The image at ``path`` as a lazy Dask array of chunk x chunk pixels, each read by its own task."""
    import dask
    import dask.array as da

    shape, dtype, how = _input_layout(path)
    read = dask.delayed(_read_box, pure=True)
    rows = []
    for r0 in range(0, shape[0], chunk):
        row = []
        for c0 in range(0, shape[1], chunk):
            box = (r0, min(shape[0], r0 + chunk), c0, min(shape[1], c0 + chunk))
            piece = da.from_delayed(read(path, how, box), (box[1] - r0, box[3] - c0) + shape[2:], dtype)
            row.append([piece] if len(shape) == 3 else piece)
        rows.append(row)
    return da.block(rows)


# ---- output ----

def _ome_attrs(ndim: int) -> dict[str, Any]:
    axes = ([{"name": "c", "type": "channel"}] if ndim == 3 else []) + [
        {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    return {"ome": {"version": "0.5", "multiscales": [{
        "axes": axes, "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0] * ndim}]}]}]}}


def _create_zarr(path: str, kind: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: np.dtype) -> dict:
    import zarr

    if kind == "ome-zarr":  # OME-NGFF orders axes c, y, x
        group = zarr.open_group(path, mode="w")
        group.attrs.update(_ome_attrs(len(shape)))
        cf = len(shape) == 3
        group.create_array("0", shape=shape[2:] + shape[:2] if cf else shape,
                           chunks=(shape[2],) + chunks[:2] if cf else chunks, dtype=dtype)
        return {"key": "0", "channel_first": cf}
    zarr.create_array(store=path, shape=shape, chunks=chunks, dtype=dtype, overwrite=True)
    return {"key": None, "channel_first": False}


def _write_box(path: str, how: dict[str, Any], r0: int, c0: int, block: np.ndarray) -> int:
    import zarr

    node = zarr.open(path, mode="r+")
    if how["key"] is not None:
        node = node[how["key"]]
    r1, c1 = r0 + block.shape[0], c0 + block.shape[1]
    if how["channel_first"]:
        node[:, r0:r1, c0:c1] = np.moveaxis(block, -1, 0)
    else:
        node[r0:r1, c0:c1] = block
    return 1


class _Runner:
    """Runs Dask collections on the local threaded scheduler or on a cluster, calling ``done`` per result."""

    def __init__(self, scheduler: str | None, workers: int):
        self.client = None
        self.workers = workers
        if scheduler:
            import distributed

            self.client = distributed.Client(scheduler)

    def run(self, tasks: list, done: Callable[[], None]) -> list:
        """The results of ``tasks`` (Dask delayed objects), calling ``done()`` as each finishes."""
        if self.client is not None:
            import distributed

            futures = self.client.compute(tasks)
            for future in distributed.as_completed(futures):
                future.result()  # raises the task's error here
                done()
            return self.client.gather(futures)
        import dask
        from dask.callbacks import Callback

        keys = {t.key for t in tasks}

        class Count(Callback):
            def _posttask(self, key, result, dsk, state, id):  # noqa: A002 - dask's signature
                if key in keys:
                    done()

        with Count():
            return list(dask.compute(*tasks, scheduler="threads", num_workers=self.workers))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def upscale_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    model: Any,
    *,
    scale: int | None = None,
    chunk: int = DEFAULT_CHUNK,
    scheduler: str | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Upscales the image file ``src`` (TIFF, Zarr, OME-Zarr) into ``dst`` (``.zarr``, ``.ome.zarr``,
    ``.tif``) chunk by chunk with ``model`` (a :class:`fsrcnn_fast.Model`). ``progress(done, total)``
    after each output chunk. Returns the input and output shapes and the chunk count."""
    import dask
    from dask.base import tokenize

    from . import dask as fdask
    from .api import default_threads

    src, dst = os.fspath(src), os.fspath(dst)
    kind = kind_of(dst)
    if kind is None:
        raise ValueError(f"{dst}: out-of-core output is .zarr, .ome.zarr or .tif/.tiff")
    if kind_of(src) is None:
        raise ValueError(f"{src}: out-of-core input is a TIFF, a .zarr or a .ome.zarr")
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 16 or chunk % 16:
        raise ValueError(f"chunk must be a multiple of 16, >= 16, got {chunk!r}")
    if Path(dst).exists() and not overwrite:
        raise FileExistsError(f"{dst}: exists (use --overwrite to replace it)")
    if Path(dst).resolve() == Path(src).resolve():
        raise ValueError(f"{dst}: the output would replace the input")
    s = model._pick_scale(scale)
    shape_in, dtype, how_in = _input_layout(src)
    shape = (shape_in[0] * s, shape_in[1] * s) + shape_in[2:]
    if max(shape[:2]) > _frame._limits()["max_side"]:
        raise ValueError(f"the output side would exceed {_frame._limits()['max_side']} pixels (shape {shape})")
    out_chunk = chunk * s
    boxes = [[(r0, min(shape_in[0], r0 + chunk), c0, min(shape_in[1], c0 + chunk))
              for c0 in range(0, shape_in[1], chunk)] for r0 in range(0, shape_in[0], chunk)]
    total = sum(len(row) for row in boxes)
    count = [0]

    def done() -> None:
        count[0] += 1
        if progress is not None:
            progress(count[0], total)

    # One independent task per output chunk: it reads its region plus the halo straight from the file,
    # computes the region exactly as the whole-image call would and writes it (Zarr) or returns it
    # (TIFF). No task depends on another, so nothing waits in memory for a neighbour.
    model_key = fdask.model_delayed(model)
    runner = _Runner(scheduler, workers or default_threads())
    try:
        if kind in ("zarr", "ome-zarr"):
            how_out = _create_zarr(dst, kind, shape, (out_chunk, out_chunk) + shape[2:], dtype)
            task = dask.delayed(_chunk_to_zarr, pure=False)
            tasks = [task(model_key, src, how_in, shape_in, box, s, dst, how_out,
                          dask_key_name=f"fsrcnn-chunk-{tokenize(dst)}-{i}-{j}")
                     for i, row in enumerate(boxes) for j, box in enumerate(row)]
            runner.run(tasks, done)
        else:
            task = dask.delayed(_chunk, pure=True)
            rows = [[task(model_key, src, how_in, shape_in, box, s, dask_key_name=f"fsrcnn-chunk-{tokenize(src, s)}-{i}-{j}")
                     for j, box in enumerate(row)] for i, row in enumerate(boxes)]
            _write_tiff(dst, shape, dtype, out_chunk, rows, runner, done)
    finally:
        runner.close()
    return {"input_shape": shape_in, "output_shape": shape, "chunks": total}


def _chunk(model, src: str, how: dict[str, Any], shape: tuple[int, ...], box: tuple[int, int, int, int],
           scale: int) -> np.ndarray:
    need = _region.needed_input(model, shape, box, scale=scale)
    part = _read_box(src, how, need)
    return model.upscale_region(part, shape, (need[0], need[2]), box, scale=scale)


def _chunk_to_zarr(model, src, how, shape, box, scale, dst: str, how_out: dict[str, Any]) -> int:
    block = _chunk(model, src, how, shape, box, scale)
    return _write_box(dst, how_out, box[0] * scale, box[2] * scale, block)


def _write_tiff(dst: str, shape, dtype, tile: int, rows: list, runner: "_Runner", done: Callable[[], None]) -> None:
    """A tiled TIFF, written by this process one row of output tiles at a time (tifffile takes tiles in
    order); each row's tiles are computed in parallel."""
    import tifffile

    def tiles():
        for row in rows:
            for block in runner.run(row, done):
                if block.shape[:2] != (tile, tile):  # edge tiles are padded to the tile size
                    full = np.zeros((tile, tile) + block.shape[2:], block.dtype)
                    full[:block.shape[0], :block.shape[1]] = block
                    block = full
                yield block

    big = int(np.prod(shape)) * np.dtype(dtype).itemsize > (1 << 31)
    photometric = "rgb" if len(shape) == 3 and shape[2] in (3, 4) else "minisblack"
    extra = {"extrasamples": ["unassalpha"]} if len(shape) == 3 and shape[2] == 4 else {}
    tifffile.imwrite(dst, tiles(), shape=shape, dtype=dtype, tile=(tile, tile), bigtiff=big,
                     photometric=photometric, **extra)
