"""fsrcnn_fast.dask on a real two-process cluster: bitwise equal to the in-memory upscale() for gray and
RGB(A), uint8 and float32, and chunkings square, ragged, one-row and smaller than the halo; the Model
enters the graph once."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="needs the [dask] extra")
distributed = pytest.importorskip("distributed", reason="needs the [dask] extra")

import fsrcnn_fast  # noqa: E402
import fsrcnn_fast.dask as fdask  # noqa: E402
from fsrcnn_fast.registry import cached_model  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", worker_dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _image(shape, dtype, seed):
    x = np.random.default_rng(seed).random(shape)
    return (x * 255).round().astype(np.uint8) if dtype == np.uint8 else x.astype(dtype)


# rows x cols per chunk, for a 96 x 122 image; the shipped model's halo is 22 (Model.halo).
CHUNKINGS = {"square": (32, 32), "ragged": (40, 50), "one-row": (1, 122), "smaller-than-halo": (7, 9)}


def _check(client, layout, dtype, chunking, **options):
    shape = (96, 122) if layout == "gray" else (96, 122, 3)
    image = _image(shape, dtype, seed=len(chunking) + (layout == "rgb"))
    chunks = CHUNKINGS[chunking] + shape[2:]
    x = da.from_array(image, chunks=chunks)
    y = fdask.upscale(x, scale=3, **options)
    assert y.dtype == image.dtype and y.shape == (288, 366) + shape[2:]
    assert y.chunks[:2] == tuple(tuple(3 * c for c in axis) for axis in x.chunks[:2])
    got = client.compute(y).result()
    np.testing.assert_array_equal(got, fsrcnn_fast.upscale(image, 3))


@pytest.mark.parametrize("chunking", list(CHUNKINGS))
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("layout", ["gray", "rgb"])
def test_cluster_result_is_bitwise_the_in_memory_call(client, layout, dtype, chunking):
    # min_chunk=24: many small tasks (a grouped 24+ pixel region each), so regions meet everywhere:
    # at every image edge, inside, at every Winograd phase.
    _check(client, layout, dtype, chunking, min_chunk=24)


@pytest.mark.parametrize("chunking", ["square", "one-row", "smaller-than-halo"])
def test_default_grouping(client, chunking):
    _check(client, "rgb", np.uint8, chunking)


def test_rgba_bgr_and_other_scales(client):
    image = _image((33, 29, 4), np.uint8, seed=5)
    model = cached_model("fsrcnn", None, 2)
    y = fdask.upscale(da.from_array(image, chunks=(10, 9, 2)), model=model, channel_order="BGR")
    np.testing.assert_array_equal(client.compute(y).result(), model.upscale(image, channel_order="BGR"))


def test_model_enters_the_graph_once():
    model = cached_model("fsrcnn", None, 3)
    y = fdask.upscale(da.from_array(_image((40, 40), np.uint8, 1), chunks=(8, 8)), model=model)
    graph = dict(y.__dask_graph__())
    model_size = len(pickle.dumps(model))
    carrying = [k for k, v in graph.items() if len(pickle.dumps(v)) >= model_size]
    assert len(carrying) == 1 and "fsrcnn-model" in str(carrying[0])
    assert len(graph) > 25  # 25 output blocks, each its own task that refers to the model's key


def test_bad_arguments():
    x = da.zeros((10, 10, 2), chunks=5, dtype=np.uint8)
    with pytest.raises(ValueError, match="C in 1, 3, 4"):
        fdask.upscale(x)
    with pytest.raises(TypeError, match="dtype"):
        fdask.upscale(da.zeros((10, 10), chunks=5, dtype=np.int32))
    with pytest.raises(ValueError, match="threads"):
        fdask.upscale(da.zeros((10, 10), chunks=5, dtype=np.uint8), threads=0)
    with pytest.raises(TypeError, match="dask or numpy"):
        fdask.upscale([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="min_chunk"):
        fdask.upscale(da.zeros((10, 10), chunks=5, dtype=np.uint8), min_chunk=0)
    with pytest.raises(ValueError, match="scales"):
        fdask.upscale(da.zeros((10, 10), chunks=5, dtype=np.uint8), scale=5)


class _CountingSource:
    """An array-like that records every read, as a Zarr or TIFF store would serve them."""

    def __init__(self, image):
        self.image, self.shape, self.dtype, self.ndim = image, image.shape, image.dtype, image.ndim
        self.reads: list[tuple] = []

    def __getitem__(self, index):
        part = self.image[index]
        self.reads.append((index, part.nbytes))
        return part


@pytest.mark.parametrize("shape, chunks, min_chunk", [((300, 260), (64, 64), None), ((300, 260, 3), (100, 90, 3), None),
                                                      ((300, 260), (30, 20), None), ((300, 260), (50, 40), 1)])
def test_each_input_chunk_is_read_once(shape, chunks, min_chunk):
    # A task's halo is cut from its neighbours' chunks, not read again from the source (a Zarr store
    # would decode a whole chunk for each such slice).
    import dask

    image = _image(shape, np.uint8, seed=3)
    source = _CountingSource(image)
    x = da.from_array(source, chunks=chunks)
    with dask.config.set(scheduler="sync"):
        got = fdask.upscale(x, scale=3, min_chunk=min_chunk).compute()
    np.testing.assert_array_equal(got, fsrcnn_fast.upscale(image, 3))
    chunk_reads = [r for r in source.reads if r[1] > 0]
    assert len(chunk_reads) == x.npartitions
    assert sum(n for _, n in chunk_reads) == image.nbytes
