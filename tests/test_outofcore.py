"""Out-of-core files (fsrcnn_fast.outofcore, ``fsrcnn-fast upscale big.tif out.zarr``): TIFF / Zarr / OME-Zarr
in and out bitwise equal to the in-memory call, and the driver's memory bounded by the chunk, not the image."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile", reason="needs the [dask] extra")
zarr = pytest.importorskip("zarr", reason="needs the [dask] extra")
pytest.importorskip("dask.array", reason="needs the [dask] extra")

import fsrcnn_fast  # noqa: E402
from fsrcnn_fast import outofcore  # noqa: E402
from fsrcnn_fast.cli import main  # noqa: E402


def _gray(shape, seed=0):
    return (np.random.default_rng(seed).random(shape) * 255).round().astype(np.uint8)


def test_tiff_to_zarr_ome_zarr_and_tiff(tmp_path):
    image = _gray((150, 205))
    src = tmp_path / "in.tif"
    tifffile.imwrite(src, image, tile=(32, 32))
    expected = fsrcnn_fast.upscale(image, 3)
    assert main(["upscale", str(src), str(tmp_path / "out.zarr"), "--chunk", "48", "-q"]) == 0
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "out.zarr")[:], expected)
    assert main(["upscale", str(src), str(tmp_path / "out.ome.zarr"), "--chunk", "64", "-q"]) == 0
    group = zarr.open_group(tmp_path / "out.ome.zarr")
    assert [a["name"] for a in dict(group.attrs)["ome"]["multiscales"][0]["axes"]] == ["y", "x"]
    np.testing.assert_array_equal(group["0"][:], expected)
    assert main(["upscale", str(src), str(tmp_path / "out.tif"), "--chunk", "32", "-q"]) == 0
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), expected)
    # an existing output is refused without --overwrite
    assert main(["upscale", str(src), str(tmp_path / "out.zarr"), "--chunk", "48", "-q"]) == 2


def test_rgb_zarr_in_ome_zarr_out_float32(tmp_path):
    image = np.random.default_rng(1).random((70, 53, 3)).astype(np.float32)
    zarr.create_array(store=tmp_path / "in.zarr", shape=image.shape, chunks=(16, 16, 3), dtype=image.dtype)[:] = image
    model = fsrcnn_fast.Model.load("fsrcnn", scale=2)
    result = outofcore.upscale_file(tmp_path / "in.zarr", tmp_path / "out.ome.zarr", model, chunk=32)
    assert result["output_shape"] == (140, 106, 3) and result["chunks"] == 6
    out = zarr.open_group(tmp_path / "out.ome.zarr")["0"]
    assert out.shape == (3, 140, 106)  # OME-NGFF: c, y, x
    np.testing.assert_array_equal(np.moveaxis(out[:], 0, -1), model.upscale(image))
    # ... and that OME-Zarr back in as an input, to a TIFF
    outofcore.upscale_file(tmp_path / "out.ome.zarr", tmp_path / "again.tif", model, chunk=64)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "again.tif"), model.upscale(model.upscale(image)))


def test_bad_paths_and_options(tmp_path):
    model = fsrcnn_fast.Model.load("fsrcnn", scale=3)
    tifffile.imwrite(tmp_path / "in.tif", _gray((20, 20)))
    with pytest.raises(ValueError, match="multiple of 16"):
        outofcore.upscale_file(tmp_path / "in.tif", tmp_path / "o.zarr", model, chunk=20)
    with pytest.raises(ValueError, match="out-of-core output"):
        outofcore.upscale_file(tmp_path / "in.tif", tmp_path / "o.png", model)
    with pytest.raises(FileNotFoundError):
        outofcore.upscale_file(tmp_path / "missing.zarr", tmp_path / "o.zarr", model)
    tifffile.imwrite(tmp_path / "planar.tif", np.zeros((2, 20, 20), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        outofcore.upscale_file(tmp_path / "planar.tif", tmp_path / "o.zarr", model)


# Peak RSS of a fresh interpreter running the CLI, against the same interpreter's RSS with everything
# imported and the model loaded (the fixed cost). Run as a script so no other test's memory counts.
_MEASURE = r"""
import json, resource, sys
import dask.array, distributed, tifffile, zarr
import fsrcnn_fast, fsrcnn_fast.dask, fsrcnn_fast.outofcore
from fsrcnn_fast.cli import main
fsrcnn_fast.Model.load("fsrcnn", scale=3)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "base_kib": base, "peak_kib": peak}))
"""


def test_driver_memory_is_bounded_by_the_chunk_not_the_image(tmp_path):
    side, chunk = 2400, 256  # output 7200 x 7200 uint8: 52 MB; an output chunk: 768 x 768 (0.6 MB)
    src = tmp_path / "big.tif"
    tifffile.imwrite(src, _gray((side, side)), tile=(256, 256))
    run = subprocess.run([sys.executable, "-c", _MEASURE, "upscale", str(src), str(tmp_path / "big.zarr"),
                          "--chunk", str(chunk), "--threads", "2", "-q"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    m = json.loads(run.stdout.strip().splitlines()[-1])
    assert m["code"] == 0
    growth = (m["peak_kib"] - m["base_kib"]) * 1024
    output_bytes = (3 * side) ** 2
    # A whole-image call would hold the input, the output and more (> 52 MB); streaming holds a few
    # chunks per running task.
    assert growth < output_bytes / 4, f"peak RSS grew by {growth / 2**20:.1f} MiB for a {output_bytes / 2**20:.0f} MiB output"
    assert m["peak_kib"] * 1024 < 1 << 30
    out = zarr.open_array(tmp_path / "big.zarr")
    assert out.shape == (3 * side, 3 * side)
    # spot check: a region equals the in-memory call's
    image = tifffile.imread(src)[1000:1100, 1500:1600]
    full = fsrcnn_fast.upscale(tifffile.imread(src), 3)
    np.testing.assert_array_equal(out[3000:3300, 4500:4800], full[3000:3300, 4500:4800])
    del image


def _peak_rss_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_on_a_cluster_with_scheduler_address(tmp_path):
    distributed = pytest.importorskip("distributed")
    image = _gray((200, 170), seed=3)
    tifffile.imwrite(tmp_path / "in.tif", image, tile=(64, 64))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", worker_dashboard_address=":0") as cluster:
        seen = []
        code = main(["upscale", str(tmp_path / "in.tif"), str(tmp_path / "out.zarr"), "--chunk", "64", "-q",
                     "--scheduler", cluster.scheduler_address])
        assert code == 0
        model = fsrcnn_fast.Model.load("fsrcnn", scale=3)
        outofcore.upscale_file(tmp_path / "in.tif", tmp_path / "out.tif", model, chunk=96,
                               scheduler=cluster.scheduler_address, progress=lambda d, t: seen.append((d, t)))
        with distributed.Client(cluster) as client:
            worker_peaks = client.run(_peak_rss_bytes)
    expected = fsrcnn_fast.upscale(image, 3)
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "out.zarr")[:], expected)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out.tif"), expected)
    assert seen[-1] == (6, 6) and [d for d, _ in seen] == list(range(1, 7))  # progress for the whole job
    assert len(worker_peaks) == 2 and all(p < 1 << 30 for p in worker_peaks.values())
