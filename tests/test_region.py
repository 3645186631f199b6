"""A region of an image computed from only the pixels around it (fsrcnn_fast.region, the engine's
RunOptions::region) equals the whole-image call there, bit for bit: random images, regions, edges,
layouts, sample types, networks (Winograd 2 / 4 / none, zero / replicate borders, both tails)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import netgen
from fsrcnn_fast import region as fr
from fsrcnn_fast.api import Model, _to_engine
from fsrcnn_fast.registry import cached_model


def _image(rng, shape, dtype):
    x = rng.random(shape)
    if np.dtype(dtype).kind == "u":
        return (x * np.iinfo(dtype).max).round().astype(dtype)
    return x.astype(dtype)


def _random_region(rng, rows, cols):
    r0 = int(rng.integers(0, rows))
    c0 = int(rng.integers(0, cols))
    return r0, int(rng.integers(r0 + 1, rows + 1)), c0, int(rng.integers(c0 + 1, cols + 1))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_model_regions_equal_whole_image(scale):
    model = cached_model("fsrcnn", None, scale)
    rng = np.random.default_rng(scale)
    layouts = [(), (3,), (4,), (1,)]
    dtypes = [np.uint8, np.uint16, np.float32, np.float64]
    for trial in range(40):
        rows, cols = (int(v) for v in rng.integers(1, 90, 2))
        shape = (rows, cols) + layouts[trial % 4]
        image = _image(rng, shape, dtypes[(trial // 4) % 4])
        whole = model.upscale(image)
        for _ in range(3):
            box = _random_region(rng, rows, cols)
            need = fr.needed_input(model, image.shape, box)
            # The minimal part: a region run that read outside it would raise (the engine checks).
            part = image[need[0]:need[1], need[2]:need[3]]
            got = model.upscale_region(part, image.shape, (need[0], need[2]), box)
            r0, r1, c0, c1 = (v * scale for v in box)
            assert got.dtype == image.dtype
            np.testing.assert_array_equal(got, whole[r0:r1, c0:c1], err_msg=f"{shape} {image.dtype} {box}")


def test_large_image_several_bands_and_threads():
    # Regions wider and taller than the planner's tiles, computed with several threads.
    model = cached_model("fsrcnn", None, 3)
    rng = np.random.default_rng(7)
    image = _image(rng, (301, 523, 3), np.uint8)
    whole = model.upscale(image, threads=2)
    for box in [(0, 301, 0, 523), (5, 298, 3, 517), (100, 101, 0, 523), (17, 243, 250, 251)]:
        need = fr.needed_input(model, image.shape, box)
        part = image[need[0]:need[1], need[2]:need[3]]
        got = model.upscale_region(part, image.shape, (need[0], need[2]), box, threads=2)
        np.testing.assert_array_equal(got, whole[box[0] * 3:box[1] * 3, box[2] * 3:box[3] * 3])


NETWORKS = [
    dict(border="zero", tail="deconv"),
    dict(border="replicate", tail="deconv", offset=3),
    dict(border="zero", tail="subpixel", scale=2),
    dict(border="replicate", tail="subpixel", scale=4, subpixel_k=5),
]


@pytest.mark.parametrize("winograd", [0, 2, 4])
@pytest.mark.parametrize("net", range(len(NETWORKS)))
def test_random_networks_plane_regions(net, winograd):
    # The float-plane entry (Network.run_region) on aligned regions, against Network.run.
    rng = np.random.default_rng(100 * net + winograd)
    spec = netgen.fsrcnn(rng, d=8, s=5, m=3, **NETWORKS[net])
    engine = _to_engine(spec, winograd)
    align = fr.region_align()
    for _ in range(12):
        rows, cols = (int(v) for v in rng.integers(1, 80, 2))
        plane = rng.random((rows, cols), dtype=np.float32)
        whole = engine.run(plane, 1)
        box = fr.aligned_region(_random_region(rng, rows, cols), (rows, cols))
        need = engine.needed_input((rows, cols), box, False)
        for side, limit in zip(need, (box[0], box[1], box[2], box[3])):
            assert abs(side - limit) <= engine.halo  # the exported halo bounds every reach
        got = engine.run_region(np.ascontiguousarray(plane[need[0]:need[1], need[2]:need[3]]), (rows, cols), (need[0], need[2]), box,
                                int(rng.integers(1, 3)))
        s = engine.scale
        np.testing.assert_array_equal(got, whole[box[0] * s:box[1] * s, box[2] * s:box[3] * s])
        assert box[0] % align == 0 and box[2] % align == 0


def test_halo_bounds_needed_input_for_any_region():
    model = cached_model("fsrcnn", None, 3)
    rng = np.random.default_rng(3)
    h = model.halo
    assert 0 < h < 64
    for _ in range(200):
        rows, cols = (int(v) for v in rng.integers(1, 400, 2))
        box = _random_region(rng, rows, cols)
        need = fr.needed_input(model, (rows, cols, 3), box)
        assert box[0] - h <= need[0] <= box[0] and box[1] <= need[1] <= box[1] + h
        assert box[2] - h <= need[2] <= box[2] and box[3] <= need[3] <= box[3] + h
        assert need[0] >= 0 and need[2] >= 0 and need[1] <= rows and need[3] <= cols


def test_bad_regions_and_parts_are_refused():
    model = cached_model("fsrcnn", None, 3)
    engine = model._engines[3]
    image = np.zeros((40, 40), np.uint8)
    with pytest.raises(ValueError, match="needs rows"):
        model.upscale_region(image[10:20, 10:20], image.shape, (10, 10), (12, 16, 12, 16))
    with pytest.raises(ValueError, match="not a non-empty part"):
        model.upscale_region(image, image.shape, (0, 0), (5, 5, 0, 10))
    with pytest.raises(ValueError, match="reaches beyond"):
        model.upscale_region(image, image.shape, (1, 0), (0, 4, 0, 4))
    with pytest.raises(TypeError):
        model.upscale_region(image, image.shape, (0, 0), (0, 4))
    plane = np.zeros((40, 40), np.float32)
    with pytest.raises(ValueError, match="multiples of"):  # the engine's own check: unaligned region
        engine.run_region(plane, (40, 40), (0, 0), (1, 8, 0, 8), 1)
    with pytest.raises(ValueError, match="does not hold"):
        engine.run_region(plane[:20], (40, 40), (0, 0), (0, 20, 0, 8), 1)
    with pytest.raises(ValueError):
        engine.run_region(plane, (40, 40), (0, 0), (0, 44, 0, 8), 1)


def test_model_pickles_to_the_same_results():
    model = cached_model("fsrcnn", None, 3)
    clone = pickle.loads(pickle.dumps(model))
    assert isinstance(clone, Model) and clone.scales == model.scales and clone.halo == model.halo
    image = _image(np.random.default_rng(1), (23, 31, 3), np.uint8)
    np.testing.assert_array_equal(clone.upscale(image), model.upscale(image))
