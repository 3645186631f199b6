"""upscale() as one engine call (python/fsrcnn_fast/frame.py, csrc/engine/frame.cpp) against the
float64 NumPy path it replaced (fsrcnn_fast._numpy_frame): every layout, sample type and stride
pattern; MATLAB rounding on exact ties; out=; bitwise identical across threads, tiles and ISAs;
extra memory O(tile), measured in a subprocess."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import netgen
from fsrcnn_fast import Model, _core, _numpy_frame, color
from fsrcnn_fast.weights.schema import Deconv

ISAS = _core.supported_isas()
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]
LAYOUTS = [(19, 23), (19, 23, 1), (19, 23, 3), (19, 23, 4)]
MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@pytest.fixture(scope="module")
def model():
    return Model(netgen.fsrcnn(np.random.default_rng(0), d=16, s=6, m=2, scale=3, border="replicate"))


def small_srcnn(scale=3, border="replicate", seed=3):
    return Model(netgen.srcnn(np.random.default_rng(seed), 9, 1, 5, n1=8, n2=4, scale=scale, border=border))


@pytest.fixture(scope="module", params=["fsrcnn", "srcnn"])
def any_network(request, model):
    """Both kinds of network the frame path runs: FSRCNN (LR in) and SRCNN (bicubic-upscaled Y in)."""
    return model if request.param == "fsrcnn" else small_srcnn()


@pytest.fixture(scope="module")
def trained():
    return Model.load("fsrcnn", scale=3)


def random_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "u":
        return rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    return rng.uniform(0, 1, shape).astype(dtype)


def oracle_unrounded(model, image, scale, bgr=False):
    """The NumPy path's result before rounding, in the caller's units (0..255, 0..65535 or 0..1)."""
    x = color.to_unit_float(image, np.float64)  # float64 in: the NumPy path only clips, never rounds
    out = _numpy_frame.upscale(x, scale, lambda y: model.run_y(y, scale=scale), bgr)
    return out * MAX.get(image.dtype, 1.0)


def assert_matches_oracle(model, image, scale=3, bgr=False):
    """Floats: within 1e-5 (the engine converts colour and resizes chroma in float32, the oracle in
    float64). uint8: equal, except off by one level where the oracle's value lies within 2e-3 of a
    k + 0.5 tie (float32 vs float64 arithmetic can only move a value across the rounding point there).
    uint16: within one level: a level of 65535 is 1.5e-5, finer than the float32 network's own
    agreement with the float64 oracle (1e-4 on Y), so which side of a tie a value lands is not
    determined by the arithmetic; at most 5 % of the samples may differ."""
    got = model.upscale(image, scale=scale, channel_order="BGR" if bgr else "RGB")
    assert got.dtype == image.dtype and got.shape == (image.shape[0] * scale, image.shape[1] * scale) + image.shape[2:]
    want = oracle_unrounded(model, image, scale, bgr)
    if image.dtype.kind == "f":
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        return
    rounded = color.round_half_away(want)
    diff = got.astype(np.float64) - rounded
    assert np.abs(diff).max() <= 1
    if image.dtype == np.uint8:
        off = diff != 0
        assert np.all(np.abs(want[off] - np.floor(want[off]) - 0.5) <= 2e-3), want[off]
    else:
        assert np.mean(diff != 0) <= 0.05


@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_layout_and_dtype_matches_numpy_path(any_network, shape, dtype):
    assert_matches_oracle(any_network, random_image(shape, dtype, seed=len(shape)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bgr_matches_numpy_path(any_network, dtype):
    assert_matches_oracle(any_network, random_image((13, 17, 3), dtype), bgr=True)
    assert_matches_oracle(any_network, random_image((13, 17, 4), dtype), bgr=True)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_trained_model_matches_numpy_path(trained, scale):
    model = Model.load("fsrcnn", scale=scale)
    assert_matches_oracle(model, random_image((31, 29, 3), np.uint8, seed=scale), scale=scale)
    assert_matches_oracle(model, random_image((31, 29), np.uint8, seed=scale), scale=scale)


STRIDES = {
    "fortran": np.asfortranarray,
    "negative": lambda a: a[::-1, ::-1],
    "steps": lambda a: a[::2, 1::3],
    "channels reversed": lambda a: a[..., ::-1] if a.ndim == 3 else a.T,
    "transposed": lambda a: a.transpose(1, 0, *range(2, a.ndim)),
    "read-only": lambda a: _read_only(a),
    "broadcast": lambda a: np.broadcast_to(a[:1], a.shape),
}


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_small_and_thin_images_match_numpy_path(scale):
    """Images of 1 to 7 rows or columns: the bicubic taps mirror at both edges at once, where the chroma
    row ring (frame.cpp) sees its most irregular pattern of rows; and 1 to 2 tile rows per thread."""
    model = Model(netgen.fsrcnn(np.random.default_rng(scale), d=8, s=4, m=1, scale=scale, border="replicate"))
    for rows, cols in [(1, 1), (1, 9), (2, 5), (3, 3), (4, 13), (5, 2), (6, 7), (7, 1), (13, 6)]:
        image = random_image((rows, cols, 3), np.float32, seed=rows * 31 + cols)
        assert_matches_oracle(model, image, scale=scale)
        for threads in (1, 2):
            np.testing.assert_array_equal(model.upscale(image, scale=scale, threads=threads),
                                          model.upscale(image, scale=scale, threads=1))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_wide_images_match_numpy_path_for_any_tile_width(isa, scale):
    """Colour rows of 526 to 1052 output columns (any splitting of the chroma passes along a row must
    keep them elementwise): the NumPy path's result, and the same bits for tiles of every width."""
    model = Model(netgen.fsrcnn(np.random.default_rng(scale), d=8, s=4, m=1, scale=scale, border="replicate"))
    image = random_image((11, 263, 3), np.uint8, seed=scale)
    assert_matches_oracle(model, image, scale=scale)
    engine = model._engines[scale]
    want = np.empty((11 * scale, 263 * scale, 3), np.uint8)
    engine.run_frame(image, [want], False, 1, isa=isa)
    for threads, tile_cols in [(1, 8), (2, 92), (1, 100), (2, 180), (1, 260)]:
        got = np.full_like(want, 7)
        engine.run_frame(image, [got], False, threads, tile_cols=tile_cols, isa=isa)
        assert np.array_equal(got, want), (threads, tile_cols)


@pytest.mark.parametrize("strides", list(STRIDES))
@pytest.mark.parametrize("shape", [(26, 34), (26, 34, 1), (26, 34, 3), (26, 34, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_any_strides_equal_contiguous(model, strides, shape, dtype):
    """The engine reads the caller's strides directly: the same bits as a contiguous copy, and the
    caller's array is never written."""
    base = random_image(shape, dtype, seed=7)
    view = STRIDES[strides](base)
    keep = np.array(view)
    got = model(view)
    np.testing.assert_array_equal(got, model(np.ascontiguousarray(view)))
    np.testing.assert_array_equal(view, keep)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [(37, 45), (37, 45, 3), (37, 45, 4)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_identical_across_threads_and_tiles(model, isa, shape, dtype):
    """Within each ISA (the conv kernels of different ISAs differ in the last bits; the frame kernels
    do not, see test_kernels.py)."""
    image = random_image(shape, dtype, seed=3)
    engine = model._engine
    want = np.empty((111, 135) + shape[2:], dtype)
    engine.run_frame(image, [want], False, 1, isa=isa)
    for threads, tile_rows, tile_cols in [(1, 0, 0), (2, 0, 0), (2, 5, 8), (3, 16, 24), (4, 1, 40), (2, 37, 4)]:
        got = np.full_like(want, 7)
        engine.run_frame(image, [got], False, threads, tile_rows=tile_rows, tile_cols=tile_cols, isa=isa)
        assert np.array_equal(got, want), (threads, tile_rows, tile_cols)


def test_multiscale_one_call_equals_each_scale():
    """fsrcnn-multi shares every layer but the tails: upscale_all runs them in one engine call."""
    rng = np.random.default_rng(5)
    model = Model.load("fsrcnn-multi")
    image = rng.integers(0, 256, (21, 25, 3)).astype(np.uint8)
    both = model.upscale_all(image, (2, 3, 4), threads=2)
    for s in (2, 3, 4):
        np.testing.assert_array_equal(both[s], model.upscale(image, scale=s, threads=1))


# ---- rounding: MATLAB's uint8() / uint16(), half away from zero, on every path ----

def _constant_model(value: float, scale=3) -> Model:
    """A network whose output is exactly ``value`` everywhere: the deconv's weights are zero."""
    spec = netgen.fsrcnn(np.random.default_rng(2), d=8, s=4, m=1, scale=scale)
    t = spec.tail
    tail = Deconv(t.name, np.zeros_like(t.weight), np.array([value]), t.scale, t.offset, t.border)
    return Model(type(spec)(spec.kind, spec.layers, tail, spec.scale))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_ties_round_half_away_from_zero(dtype):
    """Exact ties k + 0.5 (values v whose float32 v * max is exactly k + 0.5) go up, gray H x W and
    H x W x 1, as MATLAB's uint8() does (the NumPy path used to round them to even)."""
    top = MAX[np.dtype(dtype)]
    ks = range(0, 255) if dtype == np.uint8 else range(0, 65535, 257)
    tested = 0
    for k in ks:
        v = np.float32((k + 0.5) / top)
        if np.float32(v * np.float32(top)) != k + 0.5:
            continue  # not an exact tie in float32
        model = _constant_model(float(v))
        for shape in [(3, 4), (3, 4, 1)]:
            out = model(np.zeros(shape, dtype))
            assert np.all(out == k + 1), (k, out.ravel()[:4])
        tested += 1
    assert tested >= 20


def test_numpy_rounding_matches_engine_rule():
    x = np.array([0.5, 1.5, 2.5, 254.5, 0.49999997, 1.4999999, -0.5, -1.5, 3.0], np.float64)
    np.testing.assert_array_equal(color.round_half_away(x), [1, 2, 3, 255, 0, 1, -1, -2, 3])
    np.testing.assert_array_equal(color.from_unit_float(np.array([0.5 / 255, 2.5 / 255]), np.uint8), [1, 3])


# ---- out= ----

def test_out_is_written_and_returned(model):
    image = random_image((10, 12, 3), np.uint8)
    out = np.zeros((30, 36, 3), np.uint8)
    assert model(image, out=out) is out
    np.testing.assert_array_equal(out, model(image))
    big = np.zeros((40, 50, 3), np.uint8)  # a strided view into a larger array
    view = big[5:35, 7:43]
    model.upscale(image, out=view)
    np.testing.assert_array_equal(view, out)
    assert not big[:5].any() and not big[35:].any() and not big[:, :7].any() and not big[:, 43:].any()
    import fsrcnn_fast

    gray = random_image((8, 9), np.uint16)
    o = np.empty((24, 27), np.uint16)
    assert fsrcnn_fast.upscale(gray, 3, out=o) is o


def test_out_errors(model):
    image = random_image((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        model(image, out=np.zeros((30, 35, 3), np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        model(image, out=np.zeros((30, 36, 3), np.float32))
    ro = np.zeros((30, 36, 3), np.uint8)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        model(image, out=ro)
    with pytest.raises(TypeError, match="numpy array"):
        model(image, out=[[0]])
    buf = np.zeros((30, 36, 3), np.uint8)
    with pytest.raises(ValueError, match="overlaps"):
        model(buf[:10, :12], out=buf)


def test_upscale_all_out_without_copy():
    model = Model.load("fsrcnn-multi")
    image = random_image((9, 11, 3), np.uint8)
    outs = {2: np.empty((18, 22, 3), np.uint8), 4: np.empty((36, 44, 3), np.uint8)}
    got = model.upscale_all(image, (2, 3, 4), out=outs)
    assert got[2] is outs[2] and got[4] is outs[4]
    for s in (2, 3, 4):
        np.testing.assert_array_equal(got[s], model.upscale(image, scale=s))
    with pytest.raises(ValueError, match="not computed"):
        model.upscale_all(image, (2,), out={3: np.empty((27, 33, 3), np.uint8)})
    shared = np.empty((36, 44, 3), np.uint8)
    with pytest.raises(ValueError, match="overlap"):
        model.upscale_all(image, (2, 4), out={2: shared[:18, :22], 4: shared})


# ---- memory: peak RSS of a subprocess ----

_MEMORY_PROBE = textwrap.dedent("""
    import sys, numpy as np
    from fsrcnn_fast import Model
    rows, cols, channels, scale = map(int, sys.argv[1:5])
    model = Model.load(sys.argv[5], scale=scale)
    shape = (rows, cols) if channels == 1 else (rows, cols, channels)
    image = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    model(image[:16, :16], threads=2)  # warm: thread team and code paged in
    def rss(field):
        for line in open("/proc/self/status"):
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    before = rss("VmRSS:")
    out = model(image, threads=2)
    print(rss("VmHWM:") - before, out.nbytes)
""")


def measure_extra_rss(rows, cols, channels, scale, model="fsrcnn"):
    """(peak RSS during one upscale() minus RSS before it, output bytes), in a fresh process.
    model: a shipped name or a weights file (Model.load)."""
    res = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(rows), str(cols), str(channels), str(scale),
                          model], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    extra, out_bytes = map(int, res.stdout.split())
    return extra, out_bytes


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS reset")
@pytest.mark.parametrize("shape", [(900, 700, 1), (480, 640, 3)])
def test_extra_memory_is_output_plus_tiles(shape):
    """The output array plus O(tile x threads) scratch: under output + 24 MB (the NumPy path needed
    several full-size float planes: 4 bytes per output sample each). benchmarks/frame_memory.py
    measures the issue's large sizes."""
    extra, out_bytes = measure_extra_rss(*shape, 3)
    assert extra <= out_bytes + 24 * 2**20, (extra / 2**20, out_bytes / 2**20)


# ---- the engine's typed inputs and exported limits (issue 17 item 7) ----

def test_engine_inputs_are_typed_objects_and_limits_come_from_cpp():
    import fsrcnn_fast
    from fsrcnn_fast.engine import engine_layers as _engine_layers, engine_tail as _engine_tail

    spec = netgen.fsrcnn(np.random.default_rng(0), d=8, s=4, m=1, scale=3)
    layers, tail = _engine_layers(spec), _engine_tail(spec.tail)
    assert all(isinstance(l, _core.ConvLayer) for l in layers) and isinstance(tail, _core.Tail)
    assert (layers[0].k, layers[0].cin, layers[0].cout) == (5, 1, 8) and (tail.scale, tail.offset) == (3, 4)
    w = np.zeros((2, 1, 3, 3), np.float32)
    with pytest.raises(TypeError, match="float32"):
        _core.ConvLayer(w.astype(np.float64), np.zeros(2, np.float32), np.zeros(0, np.float32), "none", "zero")
    with pytest.raises(ValueError, match="activation"):
        _core.ConvLayer(w, np.zeros(2, np.float32), np.zeros(0, np.float32), "tanh", "zero")
    limits = _core.limits
    with pytest.raises(ValueError, match="deconv offset"):
        _core.Tail("deconv", np.zeros((8, 9, 9), np.float32), np.zeros(1, np.float32), 3, limits["max_offset"] + 1, "zero")
    with pytest.raises(ValueError, match=f"\\[2, {limits['max_scale']}\\]"):
        fsrcnn_fast.upscale(np.zeros((4, 4), np.uint8), scale=limits["max_scale"] + 1)
    with pytest.raises(ValueError, match=str(limits["max_side"])):
        fsrcnn_fast.frame.check_image(np.broadcast_to(np.uint8(0), (1, limits["max_side"] + 1)))
