"""Flat-key FSRCNN .mat files (chxy95/FSRCNN's ``weights.mat``: weights_conv1..N, prelu1..N per channel,
weights_deconv): the layout, orientation and alignment conventions, the real file's published scores,
and damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
from scipy.io import savemat  # noqa: E402

from datafiles import require_file  # noqa: E402
import netgen  # noqa: E402
import oracle  # noqa: E402
from fsrcnn_fast import Model, load_weights, metrics  # noqa: E402
from fsrcnn_fast.weights.matlab import load_matlab  # noqa: E402
from fsrcnn_fast.weights.schema import Deconv  # noqa: E402

# Measured with this library under the MATLAB protocol; chxy95's README claims Set5 32.52 / Set14 29.07 dB
# (x3, the authors' MATLAB demo). Read row-major it would give 32.52 / 29.09, with offset 4 26.32 / 24.57.
CHXY95_SET5, CHXY95_SET14 = 32.52, 29.07


def _chxy95(shared_data: Path) -> Path:
    return require_file(shared_data / "weights" / "chxy95_fsrcnn" / "weights.mat")


# --------------------------------------------------------------------------------------------------
# The real file


def test_chxy95_structure(shared_data):
    spec = load_matlab(_chxy95(shared_data), 3)
    assert spec.kind == "fsrcnn" and spec.scale == 3
    assert [l.cout for l in spec.layers] == [32, 5, 5, 32] and [l.k for l in spec.layers] == [5, 1, 3, 1]
    assert all(l.activation == "prelu" and l.slope.shape == (l.cout,) and l.border == "replicate" for l in spec.layers)
    assert isinstance(spec.tail, Deconv) and spec.tail.weight.shape == (32, 1, 9, 9)
    assert spec.tail.offset == 3 and spec.tail.border == "replicate"


def test_chxy95_needs_a_scale(shared_data):
    path = _chxy95(shared_data)
    with pytest.raises(ValueError, match="pass scale="):
        load_matlab(path)
    assert load_weights(path, 3)[0].scale == 3


def test_chxy95_engine_matches_oracle(shared_data, gray_crop):
    spec = load_matlab(_chxy95(shared_data), 3)
    y = gray_crop.astype(np.float32) / 255
    np.testing.assert_allclose(Model(spec).run_y(y), oracle.run(spec, y), atol=1e-4)


def test_chxy95_reproduces_its_published_scores(shared_data):
    model = Model.load(_chxy95(shared_data), scale=3)
    for name, expected in (("Set5", CHXY95_SET5), ("Set14", CHXY95_SET14)):
        scores = metrics.evaluate_set(metrics.read_image_set(shared_data / name), 3, model.run_y)
        psnr = float(np.mean([s.psnr for s in scores]))
        assert psnr >= expected - 0.05, f"{name} x3: {psnr:.2f} dB, published {expected}"


# --------------------------------------------------------------------------------------------------
# Synthetic files: the layout and the conventions, independent of the real file


def _flat_mat(spec, path: Path, **overrides: object) -> Path:
    """Writes spec in the flat-key layout: [cin, k*k, cout] with each k x k kernel column-major."""
    d: dict[str, object] = {}
    for i, layer in enumerate(spec.layers, start=1):
        w = layer.weight.astype(np.float64)
        d[f"weights_conv{i}"] = np.stack(
            [np.stack([w[co, ci].ravel(order="F") for co in range(layer.cout)], axis=-1) for ci in range(layer.cin)])
        d[f"biases_conv{i}"] = layer.bias[None].astype(np.float64)
        d[f"prelu{i}"] = layer.slope[None].astype(np.float64)
    dw = spec.tail.weight[:, 0].astype(np.float64)
    d["weights_deconv"] = np.stack([dw[c].ravel(order="F") for c in range(dw.shape[0])], axis=-1)[None]
    d["biases_deconv"] = spec.tail.bias.reshape(1, 1).astype(np.float64)
    d[f"prelu{len(spec.layers) + 1}"] = np.zeros((0, 0))
    d.update(overrides)
    savemat(str(path), {k: v for k, v in d.items() if v is not None})
    return path


@pytest.mark.parametrize("scale, offset", [(2, 4), (3, 3), (4, 4)])
def test_flat_layout_round_trips_exactly(tmp_path, scale, offset):
    spec = netgen.fsrcnn(np.random.default_rng(scale), d=8, s=4, m=2, scale=scale, border="replicate", offset=offset)
    got = load_matlab(_flat_mat(spec, tmp_path / f"net_x{scale}.mat"))
    assert got.scale == scale and got.tail.offset == offset  # the authors' demo alignment, as for the cell files
    for a, b in zip(got.layers, spec.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.slope, b.slope)
        assert a.border == "replicate"
    np.testing.assert_array_equal(got.tail.weight, spec.tail.weight)


def test_kernels_are_read_column_major(tmp_path):
    """Tap j of a k*k vector is kernel[j % k, j // k] (MATLAB's reshape), not kernel[j // k, j % k]."""
    spec = netgen.fsrcnn(np.random.default_rng(0), d=4, s=2, m=1, scale=3, border="replicate", offset=3)
    path = _flat_mat(spec, tmp_path / "net_x3.mat")
    from scipy.io import loadmat

    d = {k: v for k, v in loadmat(str(path)).items() if not k.startswith("__")}
    vec = np.zeros((1, 25, 4))
    vec[0, 2, :] = 1.0  # column-major index 2 = row 2, column 0
    d["weights_conv1"] = vec
    savemat(str(path), d)
    w = load_matlab(path).layers[0].weight
    assert w[0, 0, 2, 0] == 1.0 and w[0, 0].sum() == 1.0


def test_flat_layout_errors_name_the_key(tmp_path):
    spec = netgen.fsrcnn(np.random.default_rng(1), d=8, s=4, m=1, scale=3, border="replicate", offset=3)
    with pytest.raises(ValueError, match="prelu5 has 3 values"):
        load_matlab(_flat_mat(spec, tmp_path / "a_x3.mat", prelu5=np.ones((1, 3))))
    with pytest.raises(ValueError, match="'biases_conv2'"):
        load_matlab(_flat_mat(spec, tmp_path / "b_x3.mat", biases_conv2=None))
    with pytest.raises(ValueError, match="prelu1: 3 slopes for 8 channels"):
        load_matlab(_flat_mat(spec, tmp_path / "c_x3.mat", prelu1=np.ones((1, 3))))
    with pytest.raises(ValueError, match="one output channel"):
        load_matlab(_flat_mat(spec, tmp_path / "d_x3.mat", weights_deconv=np.ones((2, 81, 8))))


def test_truncated_and_garbage_files_raise_value_error(shared_data, tmp_path):
    data = _chxy95(shared_data).read_bytes()
    rng = np.random.default_rng(0)
    target = tmp_path / "bad_x3.mat"
    for cut in sorted({1, 10, 93, 100, 128, len(data) // 2, len(data) - 1, *rng.integers(1, len(data), 30).tolist()}):
        target.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            load_matlab(target)
    target.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        load_matlab(target)
    # (No single-byte corruption test: scipy.io.loadmat itself can crash on some, e.g. byte 8040 ^ 206.)
