"""Every kernel of every ISA this CPU has, against the portable reference and the float64 oracle,
on random shapes with odd sizes (vector tails, channel counts not a multiple of the block)."""

import numpy as np
import pytest

import netgen
import oracle
from fsrcnn_fast import Model, _core
from fsrcnn_fast.api import _to_engine

ISAS = _core.supported_isas()


def test_kernel_list_and_dispatch():
    assert _core.kernel_names() == ["conv_row", "shuffle_row", "conv3x3_wino2x2", "conv3x3_wino4x4", "pack_u8_row"]
    assert "ref" in ISAS
    assert _core.isa() in ISAS


def valid_conv64(x, w, b, slope, act):
    k = w.shape[-1]
    out = oracle.conv2d(x, w, b, "zero")[:, k // 2 : x.shape[1] - k // 2, k // 2 : x.shape[2] - k // 2]
    if act == "relu":
        out = np.maximum(out, 0)
    elif act == "prelu":
        out = np.where(out > 0, out, slope[:, None, None] * out)
    return out


CASES = [  # cin, cout, k, rows, cols
    (1, 56, 5, 3, 37), (56, 12, 1, 2, 41), (12, 12, 3, 4, 29), (12, 56, 1, 1, 8), (56, 9, 3, 2, 23),
    (1, 64, 9, 2, 50), (64, 32, 5, 1, 17), (32, 1, 5, 3, 3), (5, 7, 3, 1, 1), (3, 5, 7, 2, 25),
    (2, 3, 1, 1, 24), (4, 13, 3, 3, 48), (56, 16, 3, 1, 9),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("act", ["none", "relu", "prelu"])
def test_conv_row_matches_ref_and_oracle(isa, case, act):
    cin, cout, k, rows, cols = case
    rng = np.random.default_rng(hash((case, act)) % 2**32)
    x = rng.uniform(-1, 1, (cin, rows + k - 1, cols + k - 1)).astype(np.float32)
    w = rng.normal(0, 1 / np.sqrt(cin * k * k), (cout, cin, k, k)).astype(np.float32)
    b = rng.normal(0, 0.1, cout).astype(np.float32)
    slope = rng.uniform(0, 0.5, cout).astype(np.float32)
    got = _core._conv_valid(isa, x, w, b, slope, act)
    ref = _core._conv_valid("ref", x, w, b, slope, act)
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=0)
    np.testing.assert_allclose(got, valid_conv64(x, w, b, slope, act), atol=1e-4, rtol=0)


WINOGRAD_CASES = [  # cin, cout, rows, cols: odd sizes, one pixel, several 48-column chunks, odd blocks
    (12, 12, 4, 29), (12, 12, 1, 1), (12, 12, 3, 97), (56, 9, 2, 50), (56, 9, 5, 23), (5, 7, 1, 2),
    (4, 13, 3, 48), (56, 16, 1, 9), (64, 32, 2, 17), (1, 1, 3, 3), (2, 6, 6, 145),
]


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("case", WINOGRAD_CASES)
@pytest.mark.parametrize("act", ["none", "relu", "prelu"])
@pytest.mark.parametrize("reorder", [False, True])
def test_conv3x3_winograd_matches_ref_and_oracle(isa, m, case, act, reorder):
    """F(m x m, 3x3) in groups of m rows (the last one partly past the image), columns in blocks of m."""
    cin, cout, rows, cols = case
    rng = np.random.default_rng(hash((case, act, reorder, m)) % 2**32)
    x = rng.uniform(-1, 1, (cin, rows + 2, cols + 2)).astype(np.float32)
    w = rng.normal(0, 1 / np.sqrt(cin * 9), (cout, cin, 3, 3)).astype(np.float32)
    if reorder:  # deconv-like phases: some channels use only part of the window
        w[::3, :, 0, :] = 0
        w[1::3, :, :, 2] = 0
    b = rng.normal(0, 0.1, cout).astype(np.float32)
    slope = rng.uniform(0, 0.5, cout).astype(np.float32)
    got = _core._conv_valid(isa, x, w, b, slope, act, reorder=reorder, winograd=m)
    ref = _core._conv_valid("ref", x, w, b, slope, act, reorder=reorder, winograd=m)
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=0)
    np.testing.assert_allclose(got, valid_conv64(x, w, b, slope, act), atol=1e-4, rtol=0)


def test_winograd_rejects_other_kernel_sizes_and_tiles():
    x = np.zeros((2, 7, 7), np.float32)
    zeros = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="3 x 3"):
        _core._conv_valid("ref", x, np.zeros((2, 2, 5, 5), np.float32), zeros, zeros, "none", winograd=2)
    with pytest.raises(ValueError, match="0, 2 or 4"):
        _core._conv_valid("ref", x, np.zeros((2, 2, 3, 3), np.float32), zeros, zeros, "none", winograd=3)


def test_winograd_chosen_for_mapping_and_x3_deconv():
    rng = np.random.default_rng(2)
    # offset 3 at x3: every phase is a full 3 x 3 conv; offset 4 spreads them over a 5 x 5 window.
    assert Model(netgen.fsrcnn(rng, scale=3, offset=3))._engine.winograd_layers == [0, 0, 4, 4, 4, 4, 0, 4]
    assert Model(netgen.fsrcnn(rng, scale=3, offset=4))._engine.winograd_layers == [0, 0, 4, 4, 4, 4, 0, 0]
    assert _to_engine(netgen.fsrcnn(rng, scale=3, offset=3), winograd=2).winograd_layers == [0, 0, 2, 2, 2, 2, 0, 2]
    assert not any(Model(netgen.srcnn(rng, 9, 5, 5, scale=3))._engine.winograd_layers)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("scale,offset", [(3, 3), (4, 5), (2, 4)])
def test_engine_winograd_equals_direct(isa, m, scale, offset):
    rng = np.random.default_rng(scale)
    spec = netgen.fsrcnn(rng, scale=scale, offset=offset, border="replicate")
    y = rng.uniform(0, 1, (37, 53)).astype(np.float32)
    direct = _to_engine(spec, winograd=0).run(y, 2, isa=isa)
    np.testing.assert_allclose(_to_engine(spec, winograd=m).run(y, 2, isa=isa), direct, atol=3e-5, rtol=0)
    np.testing.assert_allclose(direct, oracle.run(spec, y), atol=1e-4, rtol=0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 13), (64, 64), (97, 131)])
def test_engine_every_isa(isa, scale, shape):
    rng = np.random.default_rng(scale)
    spec = netgen.fsrcnn(rng, scale=scale, border=("zero", "replicate")[scale % 2])
    y = rng.uniform(0, 1, shape).astype(np.float32)
    got = Model(spec)._engine.run(y, 2, isa=isa)
    np.testing.assert_allclose(got, oracle.run(spec, y), atol=1e-4, rtol=0)


@pytest.mark.parametrize("isa", ISAS)
def test_srcnn_every_isa(isa):
    rng = np.random.default_rng(1)
    spec = netgen.srcnn(rng, 9, 5, 5, scale=3)
    y = rng.uniform(0, 1, (19, 23)).astype(np.float32)
    model = Model(spec)
    got = model._engine.run(np.ascontiguousarray(oracle.bicubic_up(y, 3), dtype=np.float32), 2, isa=isa)
    np.testing.assert_allclose(got, oracle.run(spec, y), atol=1e-4, rtol=0)


@pytest.mark.parametrize("isa", ISAS)
def test_bitwise_identical_across_tiles_and_threads(isa):
    rng = np.random.default_rng(9)
    engines = [Model(netgen.fsrcnn(rng, scale=3, border="replicate"))._engine,
               Model(netgen.fsrcnn(rng, scale=2, tail="subpixel"))._engine,
               _to_engine(netgen.fsrcnn(rng, scale=3, offset=3), winograd=4),
               _to_engine(netgen.fsrcnn(rng, scale=3, offset=3, border="replicate"), winograd=2)]
    for engine in engines:
        y = rng.uniform(0, 1, (83, 117)).astype(np.float32)
        want = engine.run(y, 1, isa=isa)
        for threads, tile_rows, tile_cols in [(1, 1, 1), (2, 5, 8), (3, 16, 24), (2, 83, 117), (4, 7, 200), (8, 1, 40)]:
            got = engine.run(y, threads, tile_rows=tile_rows, tile_cols=tile_cols, isa=isa)
            assert np.array_equal(got, want), (threads, tile_rows, tile_cols)


def test_unknown_isa_rejected():
    engine = Model(netgen.fsrcnn(np.random.default_rng(0), d=4, s=2, m=1))._engine
    with pytest.raises(ValueError, match="unknown ISA"):
        engine.run(np.zeros((4, 4), np.float32), 1, isa="neon9")


def test_env_override_forces_isa():
    import subprocess
    import sys

    for isa in ISAS:
        out = subprocess.run([sys.executable, "-c", "from fsrcnn_fast import _core; print(_core.isa(), _core.isa_note())"],
                             capture_output=True, text=True, env={**__import__("os").environ, "FSRCNN_FAST_ISA": isa})
        assert out.stdout.split()[0] == isa, out
        assert "forced" in out.stdout


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("reorder", [False, True])
def test_conv_row_sparse_windows(isa, reorder):
    """Channels whose weights vanish outside different sub-windows (the deconv phases) are
    blocked by sub-window; the result must not change."""
    rng = np.random.default_rng(4)
    cin, cout, k, rows, cols = 7, 11, 5, 3, 45
    w = rng.normal(0, 0.2, (cout, cin, k, k)).astype(np.float32)
    for co in range(cout):
        y0, x0 = rng.integers(0, 3, 2)
        h, wd = rng.integers(1, k - y0 + 1), rng.integers(1, k - x0 + 1)
        mask = np.zeros((k, k), bool)
        mask[y0 : y0 + h, x0 : x0 + wd] = True
        w[co][:, ~mask] = 0
    w[3] = 0  # an all-zero channel is its bias
    x = rng.uniform(-1, 1, (cin, rows + k - 1, cols + k - 1)).astype(np.float32)
    b = rng.normal(0, 0.1, cout).astype(np.float32)
    slope = rng.uniform(0, 0.5, cout).astype(np.float32)
    got = _core._conv_valid(isa, x, w, b, slope, "prelu", reorder=reorder)
    np.testing.assert_allclose(got, valid_conv64(x, w, b, slope, "prelu"), atol=1e-4, rtol=0)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("channels,order", [(3, [0, 1, 2]), (3, [2, 1, 0]), (4, [0, 1, 2, 3]), (4, [2, 1, 0, 3])])
@pytest.mark.parametrize("cols", [1, 15, 16, 17, 45])
def test_pack_u8_matches_ref_and_numpy(isa, channels, order, cols):
    """Colour matrix, round half up, clip and interleave: the SIMD row gives ref's bytes exactly, for
    ordinary values, exact .5 ties, and values far outside [0, 1] (which must clip, not wrap)."""
    from fsrcnn_fast.color import _YCBCR_OFFSET, _YCBCR_TO_RGB

    rng = np.random.default_rng(cols * 10 + channels)
    planes = rng.uniform(-0.2, 1.2, (channels, 3, cols)).astype(np.float32)
    planes[0, 0, ::3] = np.float32(1e9)
    planes[1, 0, 1::4] = np.float32(-1e9)
    planes[-1, 1, ::2] = (np.arange(planes[-1, 1, ::2].size) % 256 + 0.5).astype(np.float32) / 255
    matrix, offset = _YCBCR_TO_RGB.astype(np.float32), _YCBCR_OFFSET.astype(np.float32)
    got = np.empty((3, cols, channels), np.uint8)
    want = np.empty_like(got)
    _core.pack(planes, matrix, offset, order, got, 1, isa=isa)
    _core.pack(planes, matrix, offset, order, want, 1, isa="ref")
    np.testing.assert_array_equal(got, want)
    # float64 model of the same arithmetic: round half up after clipping; ties may go either way
    x = planes.astype(np.float64)
    rgb = np.einsum("ck,kyx->cyx", matrix.astype(np.float64), x[:3] - offset[:, None, None].astype(np.float64))
    values = list(rgb) + ([x[3]] if channels == 4 else [])
    for c, v in enumerate(values):
        expect = np.floor(np.clip(v, 0, 1) * 255 + 0.5)
        assert np.all(np.abs(got[..., order[c]].astype(int) - expect) <= 1)
