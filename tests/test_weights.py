"""The native safetensors format: round trip, per-scale tensors, and every way a file can be bad."""

import numpy as np
import pytest
from safetensors.numpy import save_file

import netgen
import oracle
from fsrcnn_fast import Model, WeightsError
from fsrcnn_fast.weights import safetensors_io


def fsrcnn_tensors(rng, d=8, s=4, m=2, scales=(3,), shared_deconv=False):
    t = {}
    def conv(name, cin, cout, k):
        t[f"{name}.weight"] = rng.normal(0, 0.3, (cout, cin, k, k)).astype(np.float32)
        t[f"{name}.bias"] = rng.normal(0, 0.1, cout).astype(np.float32)
        t[f"{name}.prelu"] = np.full(cout, 0.2, np.float32)
    conv("feature", 1, d, 5)
    conv("shrink", d, s, 1)
    for i in range(m):
        conv(f"map.{i}", s, s, 3)
    conv("expand", s, d, 1)
    for sc in scales:
        prefix = "" if len(scales) == 1 else f"x{sc}."
        t[f"{prefix}deconv.weight"] = rng.normal(0, 0.05, (d, 1, 9, 9)).astype(np.float32)
        t[f"{prefix}deconv.bias"] = np.array([0.01 * sc], np.float32)
    return t


META = {"network": "fsrcnn", "scales": "3", "border": "zero", "tail": "deconv", "deconv_offset": "4"}


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "m.safetensors"
    safetensors_io.save(path, META, fsrcnn_tensors(rng))
    model = Model.load(path)
    assert model.scale == 3 and model.arch == "FSRCNN(8,4,2)"
    y = rng.uniform(0, 1, (9, 10)).astype(np.float32)
    np.testing.assert_allclose(model.run_y(y), oracle.run(model.spec, y), atol=1e-4)


def test_multi_scale_file_with_per_scale_tail(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "multi.safetensors"
    safetensors_io.save(path, {**META, "scales": "2,3,4"}, fsrcnn_tensors(rng, scales=(2, 3, 4)))
    for s in (2, 3, 4):
        m = Model.load(path, scale=s)
        assert m.scale == s
        assert m.spec.tail.bias[0] == pytest.approx(0.01 * s)
    with pytest.raises(ValueError, match="not 5"):
        Model.load(path, scale=5)


def test_srcnn_file(tmp_path):
    rng = np.random.default_rng(2)
    spec = netgen.srcnn(rng, 9, 1, 5, n1=8, n2=4, scale=2, border="replicate")
    t = {}
    for l in spec.layers:
        t[f"{l.name}.weight"], t[f"{l.name}.bias"] = l.weight, l.bias
    path = tmp_path / "srcnn.safetensors"
    safetensors_io.save(path, {"network": "srcnn", "scales": "2", "border": "replicate"}, t)
    m = Model.load(path)
    y = rng.uniform(0, 1, (7, 9)).astype(np.float32)
    np.testing.assert_allclose(m.run_y(y), oracle.run(spec, y), atol=1e-4)
    assert m.arch.startswith("SRCNN 9-1-5")


def write_raw(path, tensors, meta):
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(path),
              metadata={"format": safetensors_io.FORMAT, **meta})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Model.load(tmp_path / "none.safetensors")


def test_truncated_file(tmp_path):
    path = tmp_path / "t.safetensors"
    safetensors_io.save(path, META, fsrcnn_tensors(np.random.default_rng(0)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        Model.load(path)


def test_garbage_file(tmp_path):
    path = tmp_path / "g.safetensors"
    path.write_bytes(b"\xff" * 100)
    with pytest.raises(WeightsError):
        Model.load(path)


def test_not_our_format(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file({"a": np.zeros(3, np.float32)}, str(path))
    with pytest.raises(WeightsError, match="not an fsrcnn_fast weights file"):
        Model.load(path)


def test_bad_metadata(tmp_path):
    t = fsrcnn_tensors(np.random.default_rng(0))
    for key, value, words in [("scales", "three", "scales"), ("border", "mirror", "border"),
                              ("network", "vdsr", "network"), ("tail", "magic", "unknown tail")]:
        path = tmp_path / f"{key}.safetensors"
        write_raw(path, t, {**META, key: value})
        with pytest.raises(WeightsError, match=words):
            Model.load(path)


def _set(name, value):
    def corrupt(t):
        t[name] = value
    return corrupt


def _nan_in(name):
    def corrupt(t):
        t[name][0, 0, 0, 0] = np.nan
    return corrupt


# Each corruption of a valid file, and the words its error must contain.
CORRUPTIONS = [
    (_set("map.1.weight", np.zeros((4, 5, 3, 3), np.float32)), "map.1: takes 5 input channels"),
    (_set("shrink.bias", np.zeros(4, np.int32)), "shrink.bias: expected a floating-point tensor"),
    (lambda t: t.pop("deconv.bias"), "missing tensor 'deconv.bias'"),
    (_nan_in("feature.weight"), "NaN"),
    (_set("expand.prelu", np.zeros(3, np.float32)), "expand.prelu: expected 1 or 8 slopes"),
]


@pytest.mark.parametrize("corrupt, words", CORRUPTIONS, ids=["chain", "dtype", "missing", "nan", "prelu"])
def test_inconsistent_tensors_rejected(tmp_path, corrupt, words):
    t = fsrcnn_tensors(np.random.default_rng(0))
    corrupt(t)
    path = tmp_path / "bad.safetensors"
    write_raw(path, t, META)
    with pytest.raises(WeightsError, match=words):
        Model.load(path)
