"""The public API: layouts, dtypes, colour, bad input, immutability, threads."""

import subprocess
import sys
import threading

import numpy as np
import pytest

import netgen
import fsrcnn_fast
from fsrcnn_fast import Model
from fsrcnn_fast.color import rgb_to_ycbcr


@pytest.fixture(scope="module")
def model():
    return Model(netgen.fsrcnn(np.random.default_rng(0), d=16, s=6, m=2, scale=3))


def random_image(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, shape).astype(np.uint8)
    if dtype == np.uint16:
        return rng.integers(0, 65536, shape).astype(np.uint16)
    return rng.uniform(0, 1, shape).astype(dtype)


LAYOUTS = [(17, 23), (17, 23, 1), (17, 23, 3), (17, 23, 4)]
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]


@pytest.mark.parametrize("shape", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_keeps_dtype_and_layout(model, shape, dtype):
    img = random_image(shape, dtype)
    out = model(img)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == (shape[0] * 3, shape[1] * 3) + shape[2:]
    if np.dtype(dtype).kind == "f":
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_gray_matches_engine_on_y(model):
    img = random_image((20, 21), np.float64)
    np.testing.assert_allclose(model(img), np.clip(model.run_y(img), 0, 1), atol=1e-7)


def test_chroma_matches_float64_bicubic(trained):
    from fsrcnn_fast.resize import imresize

    rgb = random_image((13, 17, 3), np.float64, seed=3)
    out = trained(rgb)
    ycc = rgb_to_ycbcr(rgb)
    want = imresize(ycc[..., 1:], 3.0)
    got = rgb_to_ycbcr(out)[..., 1:]
    inside = (out > 0.001).all(axis=2) & (out < 0.999).all(axis=2)
    np.testing.assert_allclose(got[inside], want[inside], atol=1e-5)


@pytest.fixture(scope="module")
def trained():
    return Model.load("fsrcnn", scale=3)


def test_rgb_y_equals_gray_path_on_y(trained):
    # A smooth colour image keeps RGB in range, so clipping cannot move Y.
    model = trained
    yy, xx = np.mgrid[0:24, 0:30] / 40.0
    rgb = np.stack([0.3 + 0.3 * np.sin(xx * 3), 0.4 + 0.2 * np.cos(yy * 2), 0.5 + 0.1 * xx], axis=2)
    out = model(rgb)
    y_in = rgb_to_ycbcr(rgb)[..., 0]
    y_gray = np.clip(model.run_y(y_in), 0, 1)
    inside = (out > 0.001).all(axis=2) & (out < 0.999).all(axis=2)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 0][inside], y_gray[inside], atol=1e-5)


def test_rgb_uint8_y_within_rounding(trained):
    model = trained
    rgb = (np.random.default_rng(1).uniform(0.3, 0.7, (16, 16, 3)) * 255).round().astype(np.uint8)
    out = model(rgb).astype(np.float64) / 255
    y_in = rgb_to_ycbcr(rgb / 255.0)[..., 0]
    y_gray = np.clip(model.run_y(y_in), 0, 1)
    inside = (out > 0.01).all(axis=2) & (out < 0.99).all(axis=2)
    np.testing.assert_allclose(rgb_to_ycbcr(out)[..., 0][inside], y_gray[inside], atol=1.0 / 255)


def test_bgr_is_rgb_reversed(model):
    rgb = random_image((12, 14, 3), np.uint8)
    np.testing.assert_array_equal(model(rgb[..., ::-1], channel_order="BGR"), model(rgb)[..., ::-1])


def test_rgba_alpha_is_bicubic(model):
    from fsrcnn_fast.resize import imresize

    rgba = random_image((12, 14, 4), np.float64)
    out = model(rgba)
    np.testing.assert_allclose(out[..., 3], np.clip(imresize(rgba[..., 3], 3.0), 0, 1), atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda a: np.asfortranarray(a),
    lambda a: a[::2, ::3],
    lambda a: a[:, :, ::-1],
])
def test_non_contiguous_inputs(model, make):
    base = random_image((30, 36, 3), np.uint8)
    view = make(base)
    np.testing.assert_array_equal(model(view), model(np.ascontiguousarray(view)))


def test_read_only_input_is_fine_and_never_modified(model):
    img = random_image((15, 15, 3), np.uint8)
    keep = img.copy()
    img.setflags(write=False)
    model(img)
    np.testing.assert_array_equal(img, keep)


BAD = [
    (np.zeros((4, 4), bool), TypeError, "dtype bool"),
    (np.zeros((4, 4), np.complex64), TypeError, "dtype complex64"),
    (np.zeros((4, 4), np.int64), TypeError, "dtype int64"),
    (np.zeros((4, 4), object), TypeError, "dtype object"),
    (np.zeros(4, np.uint8), ValueError, "1 dimensions"),
    (np.zeros((2, 2, 2, 2), np.uint8), ValueError, "4 dimensions"),
    (np.zeros((4, 4, 2), np.uint8), ValueError, "got 2"),
    (np.zeros((0, 4), np.uint8), ValueError, "empty"),
    (np.zeros((4, 0, 3), np.uint8), ValueError, "empty"),
    (np.array([[0.1, np.nan]], np.float32), ValueError, "NaN"),
    (np.array([[0.1, np.inf]]), ValueError, "NaN or infinity"),
]


@pytest.mark.parametrize("bad, exc, words", BAD)
def test_bad_input_raises_clearly(model, bad, exc, words):
    keep = bad.copy()
    with pytest.raises(exc, match=words):
        model(bad)
    with pytest.raises(exc, match=words):
        fsrcnn_fast.upscale(bad, scale=3)
    np.testing.assert_array_equal(bad, keep)


def test_bad_arguments(model):
    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match="channel_order"):
        model(img, channel_order="XYZ")
    with pytest.raises(ValueError, match="threads"):
        model(img, threads=0)
    with pytest.raises(TypeError, match="threads"):
        model(img, threads=1.5)
    with pytest.raises(ValueError, match="unknown model"):
        fsrcnn_fast.upscale(img, model="nope")
    with pytest.raises(TypeError, match="scale"):
        fsrcnn_fast.upscale(img, scale=2.5)
    with pytest.raises(ValueError, match="scale"):
        fsrcnn_fast.upscale(img, scale=1)
    with pytest.raises(ValueError, match="x7"):
        fsrcnn_fast.upscale(img, scale=7)
    with pytest.raises(TypeError, match="numpy array"):
        model([[1, 2], [3]])


def test_engine_rejects_wrong_arrays(model):
    engine = model._engine
    with pytest.raises(TypeError, match="float32"):
        engine.run(np.zeros((3, 3)), 1)
    with pytest.raises(ValueError, match="2 dimensions"):
        engine.run(np.zeros((3, 3, 1), np.float32), 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        engine.run(np.zeros((3, 4), np.float32).T, 1)
    with pytest.raises(ValueError, match="empty"):
        engine.run(np.zeros((0, 3), np.float32), 1)
    with pytest.raises(ValueError, match="threads"):
        engine.run(np.zeros((3, 3), np.float32), 0)


# Issue 17's floor: 8 Python threads sharing one Model, each output bitwise equal to the serial call's.
# Both go through upscale()'s one engine call (the fused frame path); RGB uint8 adds the colour
# conversion, the chroma bicubic and the rounding to uint8. "mixed" runs both kinds at once.
# A barrier starts the threads together and each repeats its call, so the calls really overlap, with
# 1 and 2 engine threads per call (the process-wide thread budget is contended).
CONCURRENT_THREADS = 8


@pytest.mark.parametrize("kind", ["gray float32", "RGB uint8", "mixed"])
def test_concurrent_calls_from_python_threads(model, kind):
    def image(i):
        rgb = kind == "RGB uint8" or (kind == "mixed" and i % 2)
        return random_image((41, 37, 3), np.uint8, seed=i) if rgb else random_image((40, 33), np.float32, seed=i)

    imgs = [image(i) for i in range(CONCURRENT_THREADS)]
    want = [model.upscale(im, threads=1) for im in imgs]
    repeats = 4
    got = [[None] * repeats for _ in imgs]
    errors = []
    barrier = threading.Barrier(CONCURRENT_THREADS)

    def work(i):
        try:
            barrier.wait(timeout=60)
            for r in range(repeats):
                got[i][r] = model.upscale(imgs[i], threads=1 + (i + r) % 2)
        except BaseException as e:  # reported below: an exception in a thread would otherwise be lost
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(CONCURRENT_THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in ts), "a thread did not finish"
    assert not errors, errors
    for i, w in enumerate(want):
        for g in got[i]:
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)


def test_import_is_light_and_silent():
    code = (
        "import sys, fsrcnn_fast\n"
        "heavy = [m for m in ('torch', 'PIL', 'scipy', 'cv2', 'onnx', 'h5py') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""


def test_model_properties():
    m = Model.load("fsrcnn", scale=3)
    assert m.scale == 3
    assert m.arch == "FSRCNN(56,12,4)"
    assert m.border == "replicate"
    with pytest.raises(AttributeError):
        m.scale = 2


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_models_upscale(scale):
    out = fsrcnn_fast.upscale(np.zeros((24, 20), np.uint8), scale=scale)
    assert out.shape == (24 * scale, 20 * scale) and out.dtype == np.uint8
    rgb = fsrcnn_fast.upscale(np.full((30, 31, 3), 128, np.uint8), scale=scale)
    assert rgb.shape == (30 * scale, 31 * scale, 3)
    # a flat grey stays flat grey (edges included: the models pad by replication)
    assert np.abs(rgb.astype(int) - 128).max() <= 2


def test_cpu_info_and_threads():
    info = fsrcnn_fast.cpu_info()
    assert info["isa"] in info["supported_isas"]
    assert info["threads"] >= 1 and isinstance(info["openmp"], bool)
    assert info["threading"] == "own pool (pthreads)" and info["openmp"] is False
    try:
        fsrcnn_fast.set_num_threads(1)
        assert fsrcnn_fast.cpu_info()["threads"] == 1
        with pytest.raises(ValueError):
            fsrcnn_fast.set_num_threads(0)
    finally:
        fsrcnn_fast.set_num_threads(None)
    assert fsrcnn_fast.cpu_info()["threads"] == info["available_cores"]


def test_engine_out_buffer(model):
    y = np.random.default_rng(0).uniform(0, 1, (5, 6)).astype(np.float32)
    out = np.full((15, 18), np.nan, np.float32)
    assert model._engine.run(y, 1, out=out) is not None
    np.testing.assert_array_equal(out, model._engine.run(y, 1))
    with pytest.raises(ValueError, match="wrong shape"):
        model._engine.run(y, 1, out=np.zeros((15, 17), np.float32))
    with pytest.raises(TypeError, match="float32"):
        model._engine.run(y, 1, out=np.zeros((15, 18)))
    with pytest.raises(ValueError, match="C-contiguous"):
        model._engine.run(y, 1, out=np.zeros((18, 15), np.float32).T)
