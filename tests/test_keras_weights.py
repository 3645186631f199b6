"""Keras files: models built and saved by real Keras (3, torch backend) in every format it writes,
run by our engine against Keras' own predict() and the oracle; files in tf.keras 2's layouts written
by hand with h5py; refused layers; damaged files; h5py missing.

Tests that need Keras skip without it, the hand-written files need only h5py, and a few tests need
neither."""

import io
import json
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest

import oracle
from fsrcnn_fast import Model, WeightsError
from fsrcnn_fast.weights import keras_io
from fsrcnn_fast.weights.schema import Conv, Deconv, NetworkSpec, Subpixel

try:
    import h5py
except ImportError:  # pragma: no cover - depends on the environment
    h5py = None

needs_h5py = pytest.mark.skipif(h5py is None, reason="h5py not installed")
SCALES = [2, 3, 4]


def image(seed=0, shape=(13, 17)):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on the torch backend (the backend must be chosen before the first import)."""
    os.environ["KERAS_BACKEND"] = "torch"
    pytest.importorskip("h5py")
    try:
        import keras as k
    except Exception as exc:  # keras absent, or its backend unusable
        pytest.skip(f"keras unavailable: {exc}")
    if int(k.__version__.split(".")[0]) < 3:
        pytest.skip("needs Keras 3")
    return k


# ---- Keras models -------------------------------------------------------------------------------


def randomise(model, seed):
    """Small random weights, PReLU slopes different per channel (Keras starts them at 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for w in layer.get_weights():
            if w.ndim == 4:  # HWIO kernel, [k, k, out, in] for Conv2DTranspose
                cin = w.shape[3] if type(layer).__name__ == "Conv2DTranspose" else w.shape[2]
                values.append(rng.normal(0, 1 / np.sqrt(w.shape[0] * w.shape[1] * cin), w.shape))
            elif w.ndim == 3:  # PReLU alpha
                values.append(rng.uniform(0.05, 0.4, w.shape))
            else:
                values.append(rng.uniform(-0.1, 0.1, w.shape))
        layer.set_weights([v.astype(np.float32) for v in values])
    return model


def fsrcnn(keras, scale, d=8, s=4, m=2, seed=0, **deconv):
    """FSRCNN(d, s, m) as the paper: a PReLU after every conv, a 9x9 transposed conv tail."""
    L = keras.layers
    inp = keras.Input((None, None, 1))
    x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(d, 5, padding="same")(inp))
    x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(s, 1, padding="same")(x))
    for _ in range(m):
        x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(s, 3, padding="same")(x))
    x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(d, 1, padding="same")(x))
    out = L.Conv2DTranspose(1, 9, strides=scale, padding="same", **deconv)(x)
    return randomise(keras.Model(inp, out), seed)


def srcnn(keras, n1=8, n2=4, seed=0):
    L = keras.layers
    return randomise(keras.Sequential([
        keras.Input((None, None, 1)),
        L.Conv2D(n1, 9, padding="same", activation="relu"),
        L.Conv2D(n2, 5, padding="same", activation="relu"),
        L.Conv2D(1, 5, padding="same"),
    ]), seed)


def keras_run(model, x):
    return model.predict(np.asarray(x, np.float32)[None, ..., None], verbose=0)[0, ..., 0]


def save(model, path, fmt):
    """fmt: keras (model.save .keras), h5 (legacy model.save .h5), weights (Keras 3 save_weights
    .weights.h5), legacy-weights (the tf.keras 2 save_weights .h5 layout, written by Keras' own code)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if fmt in ("keras", "h5"):
            model.save(path)
        elif fmt == "weights":
            model.save_weights(path)
        else:
            from keras.src.legacy.saving import legacy_h5_format

            with h5py.File(path, "w") as f:
                legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


SUFFIX = {"keras": ".keras", "h5": ".h5", "weights": ".weights.h5", "legacy-weights": ".h5"}


def check_runs_like(spec, model, y, pre_upsample_scale=None):
    """Our engine vs the oracle vs Keras itself, to 1e-4."""
    ours = Model(spec).run_y(y)
    np.testing.assert_allclose(ours, oracle.run(spec, y), atol=1e-4)
    x = oracle.bicubic_up(y, pre_upsample_scale) if pre_upsample_scale else y
    np.testing.assert_allclose(ours, keras_run(model, x), atol=1e-4)


# ---- FSRCNN in every file Keras writes ----------------------------------------------------------


@pytest.fixture(scope="module", params=SCALES)
def fsrcnn_files(request, keras, tmp_path_factory):
    scale = request.param
    model = fsrcnn(keras, scale, seed=scale)
    out = tmp_path_factory.mktemp(f"x{scale}")
    files = {fmt: save(model, out / f"fsrcnn_x{scale}_{fmt}{SUFFIX[fmt]}", fmt) for fmt in SUFFIX}
    return scale, model, files


@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_fsrcnn_matches_keras(fsrcnn_files, fmt):
    scale, model, files = fsrcnn_files
    spec = keras_io.load_keras(files[fmt])
    assert spec.kind == "fsrcnn" and spec.scale == scale and not spec.pre_upsample
    assert [l.weight.shape for l in spec.layers] == [(8, 1, 5, 5), (4, 8, 1, 1), (4, 4, 3, 3), (4, 4, 3, 3),
                                                     (8, 4, 1, 1)]
    assert all(l.activation == "prelu" and l.slope.shape == (l.cout,) and l.border == "zero" for l in spec.layers)
    assert isinstance(spec.tail, Deconv) and spec.tail.weight.shape == (8, 1, 9, 9)
    assert spec.tail.offset == (9 - scale) // 2 == int(spec.metadata["deconv_offset"])
    check_runs_like(spec, model, image(scale))


def test_formats_give_identical_specs(fsrcnn_files):
    _, _, files = fsrcnn_files
    specs = [keras_io.load_keras(p) for p in files.values()]
    for spec in specs[1:]:
        for a, b in zip(spec.layers + (spec.tail,), specs[0].layers + (specs[0].tail,)):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.bias, b.bias)
    assert [s.metadata["format"] for s in specs] == ["keras", "keras-h5", "keras3-weights", "keras-h5-weights"]


def test_real_size_fsrcnn(keras, tmp_path):
    model = fsrcnn(keras, 3, d=56, s=12, m=4, seed=7)
    spec = keras_io.load_keras(save(model, tmp_path / "fsrcnn.keras", "keras"))
    assert spec.macs_per_input_pixel == 12464 and spec.scale == 3
    check_runs_like(spec, model, image(1, (11, 14)))


@pytest.mark.parametrize("scale", [2, 3])
def test_output_padding_and_odd_sizes(keras, tmp_path, scale):
    """output_padding = s - 1 gives s*H pixels too, at Keras' 'same' offset; odd, tiny images."""
    model = fsrcnn(keras, scale, d=6, s=3, m=1, seed=11, output_padding=scale - 1)
    spec = keras_io.load_keras(save(model, tmp_path / "op.keras", "keras"))
    assert spec.tail.offset == (9 - scale) // 2
    for shape in [(1, 1), (2, 5), (7, 3)]:
        check_runs_like(spec, model, image(2, shape))


@pytest.mark.parametrize("kernel", [4, 5, 8])
def test_other_deconv_kernels(keras, tmp_path, kernel):
    """The 'same' offset max(k - s, 0) // 2 holds for any kernel, even ones."""
    L = keras.layers
    inp = keras.Input((None, None, 1))
    x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(4, 3, padding="same")(inp))
    model = randomise(keras.Model(inp, L.Conv2DTranspose(1, kernel, strides=4, padding="same")(x)), 3)
    spec = keras_io.load_keras(save(model, tmp_path / "k.keras", "keras"))
    assert spec.tail.offset == max(kernel - 4, 0) // 2
    check_runs_like(spec, model, image(3, (5, 6)))


def test_sequential_activations_and_bias_free(keras, tmp_path):
    """A Sequential with ReLU / LeakyReLU / Activation layers, activation= in Conv2D, a PReLU with one
    shared slope, a conv without bias and a no-op Dropout."""
    L = keras.layers
    model = randomise(keras.Sequential([
        keras.Input((None, None, 1)),
        L.Conv2D(6, 5, padding="same"), L.PReLU(shared_axes=[1, 2, 3]),
        L.Conv2D(3, 1, padding="valid", use_bias=False), L.ReLU(),
        L.Conv2D(3, 3, padding="same"), L.LeakyReLU(negative_slope=0.1),
        L.Dropout(0.5),
        L.Conv2D(3, 3, padding="same", activation="leaky_relu"),
        L.Conv2D(6, 1, padding="same"), L.Activation("relu"),
        L.Conv2DTranspose(1, 9, strides=3, padding="same"),
    ]), 4)
    for fmt in ("keras", "h5"):
        spec = keras_io.load_keras(save(model, tmp_path / f"seq{SUFFIX[fmt]}", fmt))
        assert [l.activation for l in spec.layers] == ["prelu", "relu", "prelu", "prelu", "relu"]
        assert spec.layers[0].slope.shape == (1,) and np.all(spec.layers[1].bias == 0)
        np.testing.assert_allclose(spec.layers[2].slope, [0.1]), np.testing.assert_allclose(spec.layers[3].slope, [0.2])
        check_runs_like(spec, model, image(4))


@pytest.mark.parametrize("scale", [2, 3])
def test_depth_to_space_tail(keras, tmp_path, scale):
    """keras.ops.depth_to_space after a conv to scale^2 channels: the sub-pixel tail."""
    L = keras.layers
    inp = keras.Input((None, None, 1))
    x = L.PReLU(shared_axes=[1, 2])(L.Conv2D(6, 5, padding="same")(inp))
    x = keras.ops.depth_to_space(L.Conv2D(scale * scale, 3, padding="same")(x), scale)
    model = randomise(keras.Model(inp, x), 5)
    spec = keras_io.load_keras(save(model, tmp_path / "sub.keras", "keras"))
    assert isinstance(spec.tail, Subpixel) and spec.scale == scale and spec.metadata["tail"] == "subpixel"
    check_runs_like(spec, model, image(5))
    with pytest.raises(WeightsError, match=f"block size gives scale {scale}, not the 4"):
        keras_io.load_keras(tmp_path / "sub.keras", 4)


@pytest.mark.parametrize("fmt", list(SUFFIX))
def test_srcnn(keras, tmp_path, fmt):
    model = srcnn(keras, seed=6)
    path = save(model, tmp_path / f"srcnn_x3_{fmt}{SUFFIX[fmt]}", fmt)
    spec = keras_io.load_keras(path)
    assert spec.kind == "srcnn" and spec.pre_upsample and spec.tail is None and spec.scale == 3
    assert [l.activation for l in spec.layers] == ["relu", "relu", "none"]
    check_runs_like(spec, model, image(6, (6, 7)), pre_upsample_scale=3)
    assert keras_io.load_keras(path, 2).scale == 2
    nameless = tmp_path / f"model{SUFFIX[fmt]}"
    nameless.write_bytes(path.read_bytes())
    with pytest.raises(WeightsError, match="pass scale="):
        keras_io.load_keras(nameless)


def test_options(fsrcnn_files):
    scale, _, files = fsrcnn_files
    spec = keras_io.load_keras(files["keras"], border="replicate", offset=4)
    assert spec.tail.offset == 4 and {l.border for l in spec.layers + (spec.tail,)} == {"replicate"}
    y = image(8)
    np.testing.assert_allclose(Model(spec).run_y(y), oracle.run(spec, y), atol=1e-4)
    with pytest.raises(WeightsError, match=f"strides of 'conv2d_transpose.*' gives scale {scale}"):
        keras_io.load_keras(files["keras"], scale + 1)
    with pytest.raises(ValueError, match="border"):
        keras_io.load_keras(files["keras"], border="reflect")
    assert keras_io.load_keras(files["weights"], scale + 1).scale == scale + 1  # weights only: the caller's scale


# ---- refused models -----------------------------------------------------------------------------


def _model_with(keras, *middle, shape=(None, None, 1)):
    L = keras.layers
    inp = keras.Input(shape)
    x = L.Conv2D(4, 3, padding="same")(inp)
    for layer in middle:
        x = layer(x)
    return keras.Model(inp, L.Conv2DTranspose(1, 9, strides=2, padding="same")(x))


def test_refused_layers(keras, tmp_path):
    L = keras.layers

    def depth_to_space(t):  # as Lambda(tf.nn.depth_to_space) records it: by name
        return keras.ops.depth_to_space(t, 2)

    class Custom(L.Layer):
        def call(self, x):
            return x

    cases = {
        "lambda": (_model_with(keras, L.Lambda(lambda t: t * 2)),
                   r"'lambda.*' \(Lambda\): Lambda layers hold Python code"),
        "shuffle": (_model_with(keras, L.Lambda(depth_to_space)), "sub-pixel shuffle written as a Lambda"),
        "custom": (_model_with(keras, Custom()), r"\(Custom\): a custom class"),
        "bn": (_model_with(keras, L.BatchNormalization()), r"\(BatchNormalization\): not a layer of FSRCNN"),
        "valid": (_model_with(keras, L.Conv2D(4, 3)), r"padding='valid' shrinks the image"),
        "stride": (_model_with(keras, L.Conv2D(4, 3, strides=2, padding="same")), "stride 1"),
        "tanh": (_model_with(keras, L.Activation("tanh")), "activation 'tanh'"),
        "alpha": (_model_with(keras, L.PReLU(), shape=(6, 7, 1)), r"alpha of shape \(6, 7, 4\) varies over the image"),
        "twice": (_model_with(keras, L.ReLU(), L.PReLU(shared_axes=[1, 2])), "already has activation 'relu'"),
    }
    for name, (model, message) in cases.items():
        path = save(model, tmp_path / f"{name}_x2.keras", "keras")
        with pytest.raises(WeightsError, match=message):
            keras_io.load_keras(path)


def test_refused_tails_and_graphs(keras, tmp_path):
    L = keras.layers
    inp = keras.Input((None, None, 1))
    x = L.Conv2D(4, 3, padding="same")(inp)
    deconv = L.Conv2DTranspose(1, 9, strides=2, padding="same")
    cases = {
        "valid": (keras.Model(inp, L.Conv2DTranspose(1, 9, strides=2)(x)), "padding='valid' gives"),
        "filters": (keras.Model(inp, L.Conv2DTranspose(3, 9, strides=2, padding="same")(x)), "filters=3"),
        "branch": (keras.Model(inp, L.Add()([x, L.Conv2D(4, 3, padding="same")(x)])), "takes 2 inputs"),
        "after": (keras.Model(inp, L.Conv2D(1, 3, padding="same")(deconv(x))), "comes after the upscaling tail"),
    }
    for name, (model, message) in cases.items():
        path = save(model, tmp_path / f"{name}_x2.keras", "keras")
        with pytest.raises(WeightsError, match=message):
            keras_io.load_keras(path)
    relu = keras.Model(inp, L.Conv2DTranspose(1, 9, strides=2, padding="same")(L.ReLU()(x)))
    with pytest.raises(WeightsError, match="not followed by a PReLU"):  # weights-only: the ReLU is not recorded
        keras_io.load_keras(save(relu, tmp_path / "relu_x2.weights.h5", "weights"))


# ---- damaged files ------------------------------------------------------------------------------


def test_truncated_and_corrupted_files(fsrcnn_files, tmp_path):
    _, _, files = fsrcnn_files
    rng = np.random.default_rng(0)
    for fmt, path in files.items():
        data = path.read_bytes()
        cut = tmp_path / f"cut_x2{SUFFIX[fmt]}"
        for n in (0, 10, len(data) // 3, len(data) // 2, len(data) - 1):
            cut.write_bytes(data[:n])
            with pytest.raises(ValueError):
                keras_io.load_keras(cut)
        # Flipped bytes: a clean error or a loadable file, never another exception.
        for pos in rng.integers(0, len(data), 15):
            mutated = bytearray(data)
            mutated[pos] ^= 0xFF
            cut.write_bytes(bytes(mutated))
            try:
                keras_io.load_keras(cut)
            except ValueError:
                pass


def test_garbage_files(tmp_path):
    cases = {
        "text.h5": b"not a keras file at all",
        "empty.keras": b"",
        "fake.h5": b"\x89HDF\r\n\x1a\n" + bytes(100),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(WeightsError, match="neither a .keras zip nor an HDF5"):
        keras_io.load_keras(tmp_path / "text.h5", 2)
    with pytest.raises(WeightsError, match="neither"):
        keras_io.load_keras(tmp_path / "empty.keras", 2)
    if h5py is not None:
        with pytest.raises(WeightsError, match="unreadable"):
            keras_io.load_keras(tmp_path / "fake.h5", 2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data.pkl", b"x")
    (tmp_path / "torch.keras").write_bytes(buf.getvalue())
    with pytest.raises(WeightsError, match="without config.json"):
        keras_io.load_keras(tmp_path / "torch.keras")
    with pytest.raises(WeightsError, match="directory"):
        keras_io.load_keras(tmp_path)


def test_h5py_missing(tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": []}}))
        zf.writestr("model.weights.h5", b"")
    (tmp_path / "m.keras").write_bytes(buf.getvalue())
    (tmp_path / "m.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(100))
    monkeypatch.setitem(sys.modules, "h5py", None)
    for name in ("m.keras", "m.h5"):
        with pytest.raises(ImportError, match=r"reading Keras weights needs h5py: pip install h5py"):
            keras_io.load_keras(tmp_path / name, 2)


# ---- files in tf.keras 2's layouts, written by hand (h5py only) ---------------------------------


def _net(rng, d=6, s=3, m=1):
    """(name, HWIO kernel, bias, PReLU alpha [1, 1, C]) per conv, and the deconv kernel [9, 9, 1, d]."""
    shapes = [(5, 1, d), (1, d, s)] + [(3, s, s)] * m + [(1, s, d)]
    convs = []
    for i, (k, cin, cout) in enumerate(shapes):
        convs.append((f"conv2d_{i}" if i else "conv2d", rng.normal(0, 0.3, (k, k, cin, cout)).astype("f4"),
                      rng.uniform(-0.1, 0.1, cout).astype("f4"), rng.uniform(0.05, 0.4, (1, 1, cout)).astype("f4")))
    return convs, rng.normal(0, 0.1, (9, 9, 1, d)).astype("f4"), np.array([0.05], "f4")


def _expected(convs, deconv, bias, scale):
    layers = tuple(Conv(n, k.transpose(3, 2, 0, 1), b, "prelu", a) for n, k, b, a in convs)
    tail = Deconv("d", deconv.transpose(3, 2, 0, 1), bias, scale, (9 - scale) // 2)
    return NetworkSpec("fsrcnn", layers, tail, scale)


def _keras2_config(convs, scale):
    """A tf.keras 2 functional config: node lists, batch_input_shape, dtype strings."""
    def entry(cls, name, inbound, **cfg):
        nodes = [[[inbound, 0, 0, {}]]] if inbound else []
        return {"class_name": cls, "config": {"name": name, "trainable": True, "dtype": "float32", **cfg},
                "name": name, "inbound_nodes": nodes}

    layers = [entry("InputLayer", "input_1", None, batch_input_shape=[None, None, None, 1], sparse=False)]
    prev = "input_1"
    for i, (name, k, _, _) in enumerate(convs):
        layers.append(entry("Conv2D", name, prev, filters=k.shape[3], kernel_size=list(k.shape[:2]), strides=[1, 1],
                            padding="same", data_format="channels_last", dilation_rate=[1, 1], groups=1,
                            activation="linear", use_bias=True))
        prelu = f"p_re_lu_{i}" if i else "p_re_lu"
        layers.append(entry("PReLU", prelu, name, shared_axes=[1, 2]))
        prev = prelu
    layers.append(entry("Conv2DTranspose", "conv2d_transpose", prev, filters=1, kernel_size=[9, 9],
                        strides=[scale, scale], padding="same", output_padding=None, data_format="channels_last",
                        dilation_rate=[1, 1], activation="linear", use_bias=True))
    return {"class_name": "Functional", "config": {"name": "model", "layers": layers,
                                                   "input_layers": [["input_1", 0, 0]],
                                                   "output_layers": [["conv2d_transpose", 0, 0]]}}


def _write_keras2_weights(group, convs, deconv, bias, chunked=False, tail="conv2d_transpose", relu=False):
    """tf.keras 2's save_weights_to_hdf5_group: layer_names, groups in name order, 'name/var:0' weights.
    relu: a weightless ReLU layer after each conv instead of a PReLU."""
    weights = {"input_1": []}
    for i, (name, k, b, a) in enumerate(convs):
        weights[name] = [(f"{name}/kernel:0", k), (f"{name}/bias:0", b)]
        act = (f"re_lu_{i}" if relu else f"p_re_lu_{i}") if i else ("re_lu" if relu else "p_re_lu")
        weights[act] = [] if relu else [(f"{act}/alpha:0", a)]
    weights[tail] = [(f"{tail}/kernel:0", deconv), (f"{tail}/bias:0", bias)]
    names = np.array([n.encode() for n in weights])
    if chunked:  # how Keras splits an attribute beyond 64 KiB
        for i, part in enumerate(np.array_split(names, 3)):
            group.attrs[f"layer_names{i}"] = part
    else:
        group.attrs["layer_names"] = names
    group.attrs["backend"] = b"tensorflow"
    group.attrs["keras_version"] = b"2.13.1"
    for name in sorted(weights):
        g = group.create_group(name)
        g.attrs["weight_names"] = np.array([n.encode() for n, _ in weights[name]])
        for wname, value in weights[name]:
            g.create_dataset(wname, data=value)


@needs_h5py
@pytest.mark.parametrize("layout", ["model", "weights", "weights-chunked"])
def test_tf_keras2_files(tmp_path, layout):
    rng = np.random.default_rng(9)
    convs, deconv, bias = _net(rng)
    path = tmp_path / "fsrcnn_x3.h5"
    with h5py.File(path, "w") as f:
        if layout == "model":
            f.attrs["keras_version"] = b"2.13.1"
            f.attrs["backend"] = b"tensorflow"
            f.attrs["model_config"] = json.dumps(_keras2_config(convs, 3)).encode()
            _write_keras2_weights(f.create_group("model_weights"), convs, deconv, bias)
        else:  # custom names: the transposed conv is told by its shape [k, k, 1, d]
            _write_keras2_weights(f, convs, deconv, bias, chunked=layout.endswith("chunked"), tail="upscale")
    spec = keras_io.load_keras(path)
    want = _expected(convs, deconv, bias, 3)
    for a, b in zip(spec.layers + (spec.tail,), want.layers + (want.tail,)):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert [l.slope.tolist() for l in spec.layers] == [l.slope.tolist() for l in want.layers]
    assert spec.tail.offset == 3 and spec.metadata["backend"] == "tensorflow"
    y = image(9)
    np.testing.assert_allclose(Model(spec).run_y(y), oracle.run(want, y), atol=1e-4)


@needs_h5py
def test_keras3_weights_file_orders_numbers_numerically(tmp_path):
    """layers/conv2d_10 comes after conv2d_9 (a Keras 3 weights file records only these numbers)."""
    rng = np.random.default_rng(10)
    convs, deconv, bias = _net(rng, m=9)  # conv2d ... conv2d_11
    path = tmp_path / "fsrcnn_x2.weights.h5"
    with h5py.File(path, "w") as f:
        layers = f.create_group("layers")
        for i, (name, k, b, a) in enumerate(convs):
            v = layers.create_group(f"{name}/vars")
            v["0"], v["1"] = k, b
            layers.create_group(f"p_re_lu_{i}/vars" if i else "p_re_lu/vars")["0"] = a
        v = layers.create_group("conv2d_transpose/vars")
        v["0"], v["1"] = deconv, bias
        layers.create_group("input_layer/vars")
        f.create_group("vars")
    spec = keras_io.load_keras(path)
    assert [l.name for l in spec.layers] == [c[0] for c in convs]
    for layer, (_, k, _, a) in zip(spec.layers, convs):
        np.testing.assert_array_equal(layer.weight, k.transpose(3, 2, 0, 1))
        np.testing.assert_array_equal(layer.slope, a.reshape(-1))
    assert spec.scale == 2 and spec.tail.offset == 3
    with pytest.raises(WeightsError, match="does not record the scale; pass scale="):
        keras_io.load_keras(path.rename(tmp_path / "fsrcnn.weights.h5"))


@needs_h5py
def test_links_to_other_files_are_refused(tmp_path):
    rng = np.random.default_rng(11)
    convs, deconv, bias = _net(rng)
    path = tmp_path / "fsrcnn_x3.h5"
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["secret"] = np.zeros((5, 5, 1, 6), "f4")
    with h5py.File(path, "w") as f:
        _write_keras2_weights(f, convs, deconv, bias)
        del f["conv2d/conv2d/kernel:0"]
        f["conv2d/conv2d/kernel:0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "secret")
    with pytest.raises(WeightsError, match="links to another file"):
        keras_io.load_keras(path)


@needs_h5py
def test_hdf5_not_from_keras(tmp_path):
    path = tmp_path / "plain_x2.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(WeightsError, match="not written by Keras"):
        keras_io.load_keras(path)


@needs_h5py
def test_weights_only_limits(tmp_path):
    rng = np.random.default_rng(12)
    convs, deconv, bias = _net(rng)
    path = tmp_path / "relu_x3.h5"
    with h5py.File(path, "w") as f:
        _write_keras2_weights(f, convs, deconv, bias, relu=True)
    with pytest.raises(WeightsError, match="'conv2d' is not followed by a PReLU.*save the whole model"):
        keras_io.load_keras(path)
    path = tmp_path / "fsrcnn_x3.weights.h5"
    with h5py.File(path, "w") as f:
        layers = f.create_group("layers")
        for i, (name, k, b, a) in enumerate(convs):
            v = layers.create_group(f"{name}/vars")
            v["0"], v["1"] = k, b
            if i:  # no PReLU after the first conv: cannot be placed without an order
                layers.create_group(f"p_re_lu_{i}/vars")["0"] = a
        v = layers.create_group("conv2d_transpose/vars")
        v["0"], v["1"] = deconv, bias
    with pytest.raises(WeightsError, match="4 convolutions and 3 PReLUs"):
        keras_io.load_keras(path)


@needs_h5py
def test_keras1_files_are_refused(tmp_path):
    path = tmp_path / "old_x3.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"1.2.2"
        f.attrs["model_config"] = b"{}"
    with pytest.raises(WeightsError, match="Keras 1.2.2"):
        keras_io.load_keras(path)
