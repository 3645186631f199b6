"""SRCNN (a network on a pre-upsampled plane) on the one-call frame path: the engine bicubic-upscales Y
tile by tile in front of the network (csrc/engine/frame.cpp, FrameTile::load_y), so upscale() of an
SRCNN model has O(tile) memory like FSRCNN's. Checked against the NumPy path it replaced
(fsrcnn_fast._numpy_frame: full-size bicubic plane, then the network) and the float64 oracle: scales,
borders, tiny images and stride patterns here (every layout, sample type and BGR in test_frame.py, whose
`any_network` tests run both kinds of network); bitwise across threads, tiles and ISAs, out= and
upscale_all; extra memory measured in a subprocess."""

import os

import numpy as np
import pytest

import netgen
import oracle
from datafiles import require_file
from fsrcnn_fast import Model, _core, color
from fsrcnn_fast.resize import imresize
from fsrcnn_fast.weights.schema import Conv, NetworkSpec
from test_frame import DTYPES, MAX, STRIDES, assert_matches_oracle, measure_extra_rss, random_image, small_srcnn

ISAS = _core.supported_isas()


@pytest.fixture(scope="module")
def model():
    return small_srcnn()


def release_srcnn(shared_data, scale, net="9-5-5(ImageNet)"):
    pytest.importorskip("scipy")
    path = shared_data / "weights" / "official_srcnn_via_yaBorn" / "model" / net / f"x{scale}.mat"
    return Model.load(require_file(path))


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("border", ["zero", "replicate"])
@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3), (5, 4, 4), (9, 40, 3), (40, 9)])
def test_scales_borders_and_tiny_images_match_numpy_path(scale, border, shape):
    """Tiny images: the bicubic taps mirror at both edges of a one- or two-pixel axis."""
    assert_matches_oracle(small_srcnn(scale, border), random_image(shape, np.uint8, seed=scale), scale=scale)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_release_model_matches_numpy_path(shared_data, scale):
    """The authors' SRCNN 9-5-5 (64, 32 channels): RGB and gray uint8."""
    model = release_srcnn(shared_data, scale)
    assert_matches_oracle(model, random_image((23, 21, 3), np.uint8, seed=scale), scale=scale)
    assert_matches_oracle(model, random_image((23, 21), np.uint8, seed=scale), scale=scale)


@pytest.mark.parametrize("border", ["zero", "replicate"])
def test_gray_float64_matches_float64_oracle(border):
    """Y within 1e-4 of the float64 oracle (tests/oracle.py: its own bicubic and convolutions)."""
    model = small_srcnn(3, border, seed=11)
    image = random_image((17, 22), np.float64, seed=4)
    want = np.clip(oracle.run(model.spec, image), 0.0, 1.0)
    np.testing.assert_allclose(model(image), want, atol=1e-4, rtol=0)


def _conv(name, weight, bias, activation):
    w = np.asarray(weight, np.float32)
    return Conv(name, w, np.asarray(bias, np.float32), activation, None, "replicate")


def test_identity_network_gives_matlab_bicubic():
    """An SRCNN whose layers pass Y through: upscale() is MATLAB's bicubic of every channel (resize.py's
    imresize), so the engine's pre-upsampling taps are MATLAB's."""
    one = np.ones((1, 1, 1, 1))
    spec = NetworkSpec("srcnn", (_conv("conv1", one, [0.0], "relu"), _conv("conv2", one, [0.0], "relu"),
                                 _conv("conv3", one, [0.0], "none")), None, 3, pre_upsample=True)
    model = Model(spec)
    image = random_image((14, 19), np.float64, seed=9)
    np.testing.assert_allclose(model(image), np.clip(imresize(image, 3), 0, 1), atol=2e-6, rtol=0)
    rgb = random_image((14, 19, 3), np.float64, seed=9)
    np.testing.assert_allclose(model(rgb), np.clip(imresize(rgb, 3), 0, 1), atol=2e-6, rtol=0)


def _constant_srcnn(value):
    """An SRCNN whose output is exactly ``value`` everywhere: its last layer's weights are zero."""
    spec = netgen.srcnn(np.random.default_rng(2), 3, 1, 3, n1=4, n2=2, scale=2)
    last = spec.layers[2]
    layers = spec.layers[:2] + (_conv(last.name, np.zeros_like(last.weight), [value], "none"),)
    return Model(NetworkSpec("srcnn", layers, None, 2, pre_upsample=True))


def test_gray_ties_round_half_away_from_zero():
    tested = 0
    for k in range(0, 255, 7):
        v = np.float32((k + 0.5) / 255)
        if np.float32(v * np.float32(255)) != k + 0.5:
            continue  # not an exact tie in float32
        out = _constant_srcnn(float(v))(np.zeros((3, 4), np.uint8))
        assert out.shape == (6, 8) and np.all(out == k + 1), (k, out.ravel()[:4])
        tested += 1
    assert tested >= 5


@pytest.mark.parametrize("strides", list(STRIDES))
@pytest.mark.parametrize("shape", [(26, 34), (26, 34, 3), (26, 34, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_any_strides_equal_contiguous(model, strides, shape, dtype):
    base = random_image(shape, dtype, seed=7)
    view = STRIDES[strides](base)
    keep = np.array(view)
    np.testing.assert_array_equal(model(view), model(np.ascontiguousarray(view)))
    np.testing.assert_array_equal(view, keep)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [(37, 45), (37, 45, 3), (37, 45, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_across_threads_and_tiles(model, isa, shape, dtype):
    """Tiles are in output pixels here: tile_cols 4 splits the upscaled Y between every few pixels."""
    image = random_image(shape, dtype, seed=3)
    engine = model._engine
    want = np.empty((111, 135) + shape[2:], dtype)
    engine.run_frame(image, [want], False, 1, isa=isa, pre_upsample=3)
    for threads, tile_rows, tile_cols in [(2, 0, 0), (2, 5, 8), (3, 16, 24), (4, 1, 40), (2, 37, 4), (1, 111, 4)]:
        got = np.full_like(want, 7)
        engine.run_frame(image, [got], False, threads, tile_rows=tile_rows, tile_cols=tile_cols, isa=isa,
                         pre_upsample=3)
        assert np.array_equal(got, want), (threads, tile_rows, tile_cols)


def test_out_and_upscale_all():
    model = Model([netgen.srcnn(np.random.default_rng(s), 9, 1, 5, n1=8, n2=4, scale=s) for s in (2, 3)])
    image = random_image((11, 13, 3), np.uint8)
    out = np.empty((22, 26, 3), np.uint8)
    assert model(image, scale=2, out=out) is out
    want = color.round_half_away(__import__("test_frame").oracle_unrounded(model, image, 2))
    np.testing.assert_array_equal(out, want)
    strided = np.zeros((33, 39 * 2, 3), np.uint8)[:, ::2]
    got = model.upscale_all(image, out={3: strided})
    assert got[3] is strided and set(got) == {2, 3}
    for s in (2, 3):
        np.testing.assert_array_equal(got[s], model(image, scale=s))


def test_engine_refuses_what_it_cannot_do(model):
    image = random_image((8, 9, 3), np.uint8)
    engine = model._engine
    with pytest.raises(ValueError, match="pre_upsample"):
        engine.run_frame(image, [np.empty((8, 9, 3), np.uint8)], False, 1, pre_upsample=1)
    with pytest.raises(ValueError, match="wrong shape"):
        engine.run_frame(image, [np.empty((16, 18, 3), np.uint8)], False, 1, pre_upsample=3)
    with pytest.raises(ValueError, match="upscaling network"):  # no pre_upsample: the network keeps the size
        engine.run_frame(image, [np.empty((8, 9, 3), np.uint8)], False, 1)
    fsrcnn = Model(netgen.fsrcnn(np.random.default_rng(0), d=8, s=4, m=1, scale=3))
    with pytest.raises(ValueError, match="keeps its input's size"):
        fsrcnn._engine.run_frame(image, [np.empty((24, 27, 3), np.uint8)], False, 1, pre_upsample=3)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS reset")
def test_extra_memory_is_output_plus_tiles(shared_data):
    """The authors' SRCNN 9-1-5 x3 on 480 x 640 RGB: the output plus O(tile x threads) scratch, under
    output + 24 MB (the NumPy path held several full-size float64 planes, 8 bytes per output sample
    each). benchmarks/frame_memory.py --srcnn measures 1920 x 1080."""
    pytest.importorskip("scipy")
    path = require_file(shared_data / "weights" / "official_srcnn_via_yaBorn" / "model" / "9-1-5(91 images)" / "x3.mat")
    extra, out_bytes = measure_extra_rss(480, 640, 3, 3, model=str(path))
    assert extra <= out_bytes + 24 * 2**20, (extra / 2**20, out_bytes / 2**20)


# ---- regions (fsrcnn_fast.region, Network.run_frame_region) and Dask, as for FSRCNN in test_region.py ----

def _random_region(rng, rows, cols):
    r0, c0 = int(rng.integers(0, rows)), int(rng.integers(0, cols))
    return r0, int(rng.integers(r0 + 1, rows + 1)), c0, int(rng.integers(c0 + 1, cols + 1))


@pytest.mark.parametrize("scale, border", [(2, "zero"), (3, "replicate"), (4, "replicate")])
def test_regions_equal_whole_image(scale, border):
    """The minimal part (needed_input) of random regions, every layout and sample type: bitwise the
    whole-image call there (a region run that read outside its part would raise: the engine checks)."""
    from fsrcnn_fast import region as fr

    model = small_srcnn(scale, border, seed=scale)
    rng = np.random.default_rng(scale)
    layouts = [(), (3,), (4,), (1,)]
    for trial in range(16):
        rows, cols = (int(v) for v in rng.integers(1, 60, 2))
        shape = (rows, cols) + layouts[trial % 4]
        image = random_image(shape, DTYPES[(trial // 4) % 4], seed=trial)
        whole = model.upscale(image)
        for _ in range(3):
            box = _random_region(rng, rows, cols)
            need = fr.needed_input(model, image.shape, box)
            part = image[need[0]:need[1], need[2]:need[3]]
            got = model.upscale_region(part, image.shape, (need[0], need[2]), box, threads=int(rng.integers(1, 3)))
            r0, r1, c0, c1 = (v * scale for v in box)
            np.testing.assert_array_equal(got, whole[r0:r1, c0:c1], err_msg=f"{shape} {image.dtype} {box}")


def test_halo_bounds_needed_input_and_bad_parts_are_refused():
    from fsrcnn_fast import region as fr

    model = small_srcnn(3)
    h = model.halo
    assert 0 < h < 16  # 4 + 0 + 2 output pixels of receptive field (2 image pixels), the bicubic's 2, the grid's 3
    rng = np.random.default_rng(1)
    for _ in range(100):
        rows, cols = (int(v) for v in rng.integers(1, 300, 2))
        box = _random_region(rng, rows, cols)
        need = fr.needed_input(model, (rows, cols, 3), box)
        assert box[0] - h <= need[0] <= box[0] and box[1] <= need[1] <= box[1] + h
        assert box[2] - h <= need[2] <= box[2] and box[3] <= need[3] <= box[3] + h
    image = random_image((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="needs rows"):
        model.upscale_region(image[10:20, 10:20], image.shape, (10, 10), (12, 16, 12, 16))
    out = np.empty((24, 24, 3), np.uint8)
    with pytest.raises(ValueError, match="does not hold"):  # the engine's own check of the part
        model._engine.run_frame_region(image[8:20, 8:20], out, 0, False, (40, 40), (8, 8), (8, 16, 8, 16), 1,
                                       pre_upsample=3)


def test_dask_result_is_bitwise_the_in_memory_call():
    da = pytest.importorskip("dask.array", reason="needs the [dask] extra")
    import fsrcnn_fast.dask as fdask

    model = small_srcnn(3)
    for shape, chunks in [((50, 61), (16, 16)), ((50, 61, 3), (7, 9, 3)), ((33, 29, 4), (10, 9, 2))]:
        image = random_image(shape, np.uint8, seed=len(shape))
        y = fdask.upscale(da.from_array(image, chunks=chunks), model=model, min_chunk=12)
        assert y.shape == (shape[0] * 3, shape[1] * 3) + shape[2:]
        np.testing.assert_array_equal(y.compute(scheduler="synchronous"), model.upscale(image))


@pytest.mark.parametrize("winograd", [2, 4])
def test_winograd_layers_bitwise_across_tiles_and_regions(winograd):
    """3 x 3 layers run as Winograd blocks at output-pixel positions that are multiples of the block:
    the same bits for every tiling and every region (the region's pipeline runs in output pixels),
    and within 1e-4 of the direct convolution."""
    from fsrcnn_fast.engine import to_engine

    spec = netgen.srcnn(np.random.default_rng(winograd), 5, 3, 3, n1=8, n2=8, scale=3, border="zero")
    engine, direct = to_engine(spec, winograd), to_engine(spec, 0)
    image = random_image((29, 31, 3), np.float32, seed=5)
    want = np.empty((87, 93, 3), np.float32)
    engine.run_frame(image, [want], False, 1, pre_upsample=3)
    plain = np.empty_like(want)
    direct.run_frame(image, [plain], False, 1, pre_upsample=3)
    np.testing.assert_allclose(want, plain, atol=1e-4, rtol=0)
    for threads, tile_rows, tile_cols in [(2, 0, 0), (2, 5, 8), (3, 7, 12), (1, 87, 4)]:
        got = np.full_like(want, 7)
        engine.run_frame(image, [got], False, threads, tile_rows=tile_rows, tile_cols=tile_cols, pre_upsample=3)
        assert np.array_equal(got, want), (threads, tile_rows, tile_cols)
    for box in [(0, 29, 0, 31), (4, 12, 8, 28), (12, 29, 0, 4), (28, 29, 20, 31)]:
        need = engine.needed_input((29, 31), box, True, pre_upsample=3)
        part = image[need[0]:need[1], need[2]:need[3]]
        out = np.empty(((box[1] - box[0]) * 3, (box[3] - box[2]) * 3, 3), np.float32)
        engine.run_frame_region(part, out, 0, False, (29, 31), (need[0], need[2]), box, 2, pre_upsample=3)
        assert np.array_equal(out, want[box[0] * 3:box[1] * 3, box[2] * 3:box[3] * 3]), box
