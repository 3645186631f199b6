"""The C++ engine against the float64 NumPy oracle on random networks and awkward sizes."""

import numpy as np
import pytest

import oracle
import netgen
from fsrcnn_fast import Model

SIZES = [(1, 1), (1, 9), (7, 13), (64, 64), (97, 131)]
TOL = 1e-4


def check(spec, shape, seed=0, threads=2):
    rng = np.random.default_rng(seed)
    y = rng.uniform(0.0, 1.0, shape)
    model = Model(spec)
    got = model.run_y(y.astype(np.float32), threads=threads)
    want = oracle.run(spec, y.astype(np.float32))
    assert got.shape == want.shape == (shape[0] * spec.scale, shape[1] * spec.scale)
    err = np.max(np.abs(got - want))
    assert err <= TOL, f"max abs error {err:.3g}"


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("border", ["zero", "replicate"])
def test_fsrcnn_deconv(shape, scale, border):
    rng = np.random.default_rng(scale * 100 + shape[0])
    check(netgen.fsrcnn(rng, scale=scale, border=border), shape)


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (33, 20)])
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("offset", [0, 3, 5, 7, -2])
def test_deconv_offsets(shape, scale, offset):
    rng = np.random.default_rng(offset + 10 * scale)
    check(netgen.fsrcnn(rng, d=8, s=4, m=1, scale=scale, offset=offset, border="replicate"), shape)
    check(netgen.fsrcnn(rng, d=8, s=4, m=1, scale=scale, offset=offset, border="zero"), shape)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("k", [1, 3, 9, 31])
@pytest.mark.parametrize("offset", [-32, -9, 20, 32])
def test_deconv_extreme_offsets_run_right_or_are_refused(scale, k, offset):
    """Weight files are untrusted: an offset far from k / 2 once made the engine write outside a buffer.
    Every offset the engine accepts matches the oracle; the others raise a ValueError naming the tail."""
    rng = np.random.default_rng(k * 1000 + offset + 64)
    spec = netgen.fsrcnn(rng, d=4, s=2, m=0, scale=scale, offset=offset, deconv_k=k)
    try:
        Model(spec)
    except ValueError as e:
        assert "phase conv" in str(e) and f"offset {offset}" in str(e)
        return
    check(spec, (9, 23))


@pytest.mark.parametrize("offset", [10**20, -(10**20), 33, 2.5, True, "4"])
def test_deconv_offset_out_of_range_is_a_value_error(offset):
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="offset"):
        netgen.fsrcnn(rng, d=4, s=2, m=0, scale=2, offset=offset)


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("border", ["zero", "replicate"])
def test_fsrcnn_subpixel(shape, scale, border):
    rng = np.random.default_rng(7 + scale)
    check(netgen.fsrcnn(rng, scale=scale, border=border, tail="subpixel", subpixel_k=1 + 2 * (scale % 2)), shape)


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("shared", [True, False])
def test_fsrcnn_s_prelu_modes(shape, shared):
    rng = np.random.default_rng(3)
    check(netgen.fsrcnn(rng, d=32, s=5, m=1, scale=3, shared_slope=shared), shape)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 13), (33, 44)])
@pytest.mark.parametrize("arch", [(9, 1, 5), (9, 3, 5), (9, 5, 5)])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srcnn(shape, arch, scale):
    rng = np.random.default_rng(sum(arch) + scale)
    check(netgen.srcnn(rng, *arch, scale=scale), shape)


def test_srcnn_large_image():
    rng = np.random.default_rng(11)
    check(netgen.srcnn(rng, 9, 5, 5, scale=3, border="zero"), (40, 45))


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_bitwise_identical_across_threads(threads):
    rng = np.random.default_rng(5)
    model = Model(netgen.fsrcnn(rng, scale=3))
    y = rng.uniform(0, 1, (61, 77)).astype(np.float32)
    ref = model.run_y(y, threads=1)
    np.testing.assert_array_equal(model.run_y(y, threads=threads), ref)
