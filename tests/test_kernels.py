"""Every kernel of every ISA this CPU has, against the portable reference and the float64 oracle,
on random shapes with odd sizes (vector tails, channel counts not a multiple of the block)."""

import numpy as np
import pytest

import netgen
import oracle
from fsrcnn_fast import Model, _core
from fsrcnn_fast.engine import to_engine as _to_engine

ISAS = _core.supported_isas()


def test_kernel_list_and_dispatch():
    assert _core.kernel_names() == ["conv_row", "shuffle_row", "conv3x3_wino2x2", "conv3x3_wino4x4",
                                    "unpack_ycbcr_row", "bicubic_cols_row", "bicubic_rows_row", "pack_row"]
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


# ---- frame kernels: bit for bit equal to ref on every ISA, and ref equal to a NumPy model ----

FRAME_COLS = [1, 7, 8, 9, 16, 23, 45]
FRAME_DTYPES = [np.uint8, np.uint16, np.float32, np.float64]
MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def _row(cols, channels, dtype, seed, layout):
    rng = np.random.default_rng(seed)
    shape = (cols,) if channels == 1 else (cols, channels)
    if np.dtype(dtype).kind == "u":
        a = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    else:
        a = rng.uniform(-0.1, 1.1, shape).astype(dtype)
    if layout == "reversed":
        return a[::-1]
    if layout == "gapped":  # every other pixel of a wider row
        wide = np.repeat(a, 2, axis=0)
        return wide[::2]
    return a


def _unit32(a):
    if a.dtype.kind == "u":
        return a.astype(np.float32) * np.float32(1.0 / MAX[a.dtype])
    return a.astype(np.float32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", FRAME_DTYPES)
@pytest.mark.parametrize("cols", FRAME_COLS)
@pytest.mark.parametrize("layout", ["contiguous", "reversed", "gapped"])
@pytest.mark.parametrize("bgr", [False, True])
def test_unpack_ycbcr_row(isa, channels, dtype, cols, layout, bgr):
    row = _row(cols, channels, dtype, cols * 7 + channels, layout)
    want = [True, channels > 1, channels > 1, channels == 4]
    got = _core._unpack_row(isa, row, bgr, want)
    np.testing.assert_array_equal(got, _core._unpack_row("ref", row, bgr, want))
    # the NumPy model of the same float32 arithmetic, in the same order
    m, off, _ = _core.ycbcr_matrices()
    x = _unit32(row)
    if channels == 1:
        np.testing.assert_array_equal(got[0], x)
        return
    r, g, b = (x[:, 2], x[:, 1], x[:, 0]) if bgr else (x[:, 0], x[:, 1], x[:, 2])
    for c in range(3):
        np.testing.assert_array_equal(got[c], ((m[c, 0] * r + m[c, 1] * g) + m[c, 2] * b) + off[c])
    if channels == 4:
        np.testing.assert_array_equal(got[3], x[:, 3])
    else:
        assert np.all(got[3] == -7)  # no alpha plane written
    y_only = _core._unpack_row(isa, row, bgr, [True, False, False, False])
    np.testing.assert_array_equal(y_only[0], got[0])
    assert np.all(y_only[1:] == -7)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("in_len", [1, 2, 5, 9, 31])
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("planes", [1, 2, 3])
def test_bicubic_cols_row(isa, in_len, scale, planes):
    idx, w = _core._bicubic_taps(in_len, scale)
    src = np.random.default_rng(in_len * scale).uniform(-1, 2, (planes, in_len)).astype(np.float32)
    got = _core._bicubic_cols(isa, src, idx, w)
    np.testing.assert_array_equal(got, _core._bicubic_cols("ref", src, idx, w))
    acc = np.zeros(got.shape, np.float32)
    for t in range(idx.shape[0]):  # float32, in tap order
        acc = acc + w[t] * src[:, idx[t]]
    np.testing.assert_array_equal(got, acc)
    from fsrcnn_fast.resize import imresize  # and MATLAB's imresize in float64

    want = np.stack([imresize(p[None, :].astype(np.float64), output_shape=(1, in_len * scale))[0] for p in src])
    np.testing.assert_allclose(got, want, atol=2e-6)


def _cols_model(src, idx, w):
    acc = np.zeros((src.shape[0], idx.shape[1]), np.float32)
    for t in range(idx.shape[0]):  # float32, 0 + w0 s0 + w1 s1 + ..., in tap order
        acc = acc + w[t] * src[:, idx[t]]
    return acc


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("in_len", [40, 101])
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("planes", [1, 2, 3])
def test_bicubic_cols_row_tile_windows(isa, in_len, scale, planes):
    """As the frame path calls it: a tile's window of a long row's taps, indices relative to the
    window's first source column (so blocks of 8 outputs start at every phase of the scale, and the
    mirrored edges fall inside or outside the window)."""
    idx, w = _core._bicubic_taps(in_len, scale)
    src = np.random.default_rng(in_len + scale).uniform(-1, 2, (planes, in_len)).astype(np.float32)
    out_len = in_len * scale
    for first, last in [(0, out_len), (0, 37), (5, 90), (scale * 7, scale * 30 + 1), (out_len - 45, out_len)]:
        wi, ww = idx[:, first:last], np.ascontiguousarray(w[:, first:last])
        lo = wi.min()
        rel = np.ascontiguousarray(wi - lo)
        window = np.ascontiguousarray(src[:, lo : wi.max() + 1])
        got = _core._bicubic_cols(isa, window, rel, ww)
        np.testing.assert_array_equal(got, _core._bicubic_cols("ref", window, rel, ww))
        np.testing.assert_array_equal(got, _cols_model(window, rel, ww))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("taps", [1, 3, 4, 6, 8])
@pytest.mark.parametrize("cols", [8, 45, 64])
def test_bicubic_cols_row_any_indices(isa, taps, cols):
    """Any index pattern: blocks whose taps all read within 8 sources of the block's first index
    (the permute path) and blocks that spread wider or go below it (the gather path), mixed."""
    rng = np.random.default_rng(taps * 1000 + cols)
    n = cols + 20
    base = np.sort(rng.integers(0, n - 8, cols))
    idx = np.empty((taps, cols), np.int64)
    for t in range(taps):
        idx[t] = base + rng.integers(0, 8, cols)
    wide = rng.random(cols) < 0.3  # about a third of the outputs read anywhere
    idx[:, wide] = rng.integers(0, n, (taps, int(wide.sum())))
    idx = idx.astype(np.int32)
    w = rng.uniform(-0.3, 1, (taps, cols)).astype(np.float32)
    src = rng.uniform(-1, 2, (3, n)).astype(np.float32)
    got = _core._bicubic_cols(isa, src, idx, w)
    np.testing.assert_array_equal(got, _core._bicubic_cols("ref", src, idx, w))
    np.testing.assert_array_equal(got, _cols_model(src, idx, w))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("channels", [1, 4])
def test_pack_row_uint8_rounding_near_every_tie(isa, channels):
    """uint8 rounding of every float within 400 ulps of each (k + 0.5) / 255, k = 0 .. 255, and of 0
    and 1: the region where a rounding shortcut would go wrong (tools/check_u8_rounding.py checks the
    AVX2 formula on every float32 exhaustively)."""
    centres = [np.float32((k + 0.5) / 255) for k in range(256)] + [np.float32(0), np.float32(1)]
    ulps = np.arange(-400, 401)
    v = np.concatenate([(c.view(np.int32) + ulps).astype(np.int32).view(np.float32) for c in centres])
    v = v[np.isfinite(v)]
    planes = np.zeros((4, v.size), np.float32)
    planes[0] = v
    planes[3] = v[::-1]
    planes[1:3] = _core.ycbcr_matrices()[1][1:, None]
    out = np.empty((v.size,) if channels == 1 else (v.size, channels), np.uint8)
    _core._pack_row(isa, planes, out, False)
    np.testing.assert_array_equal(out, _pack_model(planes, channels, np.uint8, False))


@pytest.mark.parametrize("in_len", [1, 2, 3, 7, 40, 101])
@pytest.mark.parametrize("scale", [2, 3, 4, 5, 8])
def test_bicubic_taps_are_matlabs(in_len, scale):
    """C++ computes resize.py's taps (MATLAB imresize, bicubic, upscaling) exactly."""
    from fsrcnn_fast.resize import _contributions

    idx, w = _core._bicubic_taps(in_len, scale)
    want_idx, want_w = _contributions(in_len, in_len * scale, float(scale))
    np.testing.assert_array_equal(idx, want_idx.T)
    np.testing.assert_array_equal(w, want_w.T.astype(np.float32))


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("taps", [1, 4, 6, 8])
@pytest.mark.parametrize("cols", FRAME_COLS)
def test_bicubic_rows_row(isa, taps, cols):
    rng = np.random.default_rng(taps * 100 + cols)
    rows = rng.uniform(-1, 2, (taps, cols)).astype(np.float32)
    w = rng.uniform(-0.2, 1, taps).astype(np.float32)
    got = _core._bicubic_rows(isa, rows, list(w))
    np.testing.assert_array_equal(got, _core._bicubic_rows("ref", rows, list(w)))
    acc = np.zeros(cols, np.float32)
    for t in range(taps):
        acc = acc + w[t] * rows[t]
    np.testing.assert_array_equal(got, acc)


def _pack_model(planes, channels, dtype, bgr):
    """NumPy model of pack_row: float32 arithmetic in the kernel's order, clip, MATLAB rounding."""
    _, off, m = _core.ycbcr_matrices()
    y, cb, cr, alpha = planes

    def store(v):
        v = np.where(v > 0, v, np.float32(0))
        v = np.where(v < 1, v, np.float32(1)).astype(np.float32)
        if np.dtype(dtype).kind == "f":
            return v.astype(dtype)
        t = (v * np.float32(MAX[np.dtype(dtype)])).astype(np.float32)
        f = np.floor(t)
        return (f + (t - f >= 0.5)).astype(dtype)

    if channels == 1:
        return store(y)
    v0, v1, v2 = y - off[0], cb - off[1], cr - off[2]
    rgb = [store((m[c, 0] * v0 + m[c, 1] * v1) + m[c, 2] * v2) for c in range(3)]
    if bgr:
        rgb = rgb[::-1]
    return np.stack(rgb + ([store(alpha)] if channels == 4 else []), axis=1)


def _exact_ties(dtype, count, rng):
    """float32 values v with float32(v * max) exactly k + 0.5 (searched ulp by ulp)."""
    top = np.float32(MAX[np.dtype(dtype)])
    out = []
    for k in rng.integers(0, int(top), count):
        v = np.float32((k + 0.5) / top)
        for _ in range(8):
            t = np.float32(v * top)
            if t == k + 0.5:
                out.append(v)
                break
            v = np.nextafter(v, np.float32(2 if t < k + 0.5 else -1), dtype=np.float32)
    return np.array(out, np.float32)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype", FRAME_DTYPES)
@pytest.mark.parametrize("cols", FRAME_COLS)
@pytest.mark.parametrize("layout", ["contiguous", "reversed", "gapped"])
@pytest.mark.parametrize("bgr", [False, True])
def test_pack_row(isa, channels, dtype, cols, layout, bgr):
    """Colour matrix, clip (NaN and far-out values included), MATLAB rounding, interleave."""
    rng = np.random.default_rng(cols * 13 + channels)
    planes = rng.uniform(-0.2, 1.2, (4, cols)).astype(np.float32)
    planes[0, ::5] = np.float32(1e9)
    planes[1, 1::4] = np.float32(-1e9)
    planes[3, 2::6] = np.nan
    if np.dtype(dtype).kind == "u":  # exact ties in Y (gray) and alpha
        ties = _exact_ties(dtype, cols, rng)
        planes[0, 1::3][: ties[: len(planes[0, 1::3])].size] = ties[: len(planes[0, 1::3])]
        planes[3, ::2][: ties[: len(planes[3, ::2])].size] = ties[: len(planes[3, ::2])]
    shape = (cols,) if channels == 1 else (cols, channels)
    out = np.full(shape, 3, dtype)
    view = {"contiguous": out, "reversed": out[::-1], "gapped": None}[layout]
    if layout == "gapped":
        wide = np.full((2 * cols,) + shape[1:], 3, dtype)
        view = wide[::2]
    _core._pack_row(isa, planes, view, bgr)
    ref = np.full_like(view, 3)
    _core._pack_row("ref", planes, ref, bgr)
    np.testing.assert_array_equal(view, ref)
    np.testing.assert_array_equal(view, _pack_model(planes, channels, dtype, bgr))
    if layout == "gapped":
        assert np.all(wide[1::2] == 3)  # nothing written between the pixels


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3, 4])
def test_pack_row_exact_ties_round_up(isa, dtype, channels):
    """Every channel, gray and colour: values whose float32 arithmetic lands exactly on k + 0.5 come out
    k + 1 (MATLAB's uint8()/uint16()), on every ISA."""
    rng = np.random.default_rng(11)
    cols = 40
    _, off, m = _core.ycbcr_matrices()
    planes = np.empty((4, cols), np.float32)
    planes[0] = _exact_ties(dtype, cols, rng)[:cols] if channels == 1 else rng.uniform(0.3, 0.6, cols)
    planes[1:3] = off[1:, None]  # Cb = Cr = offset: v1 = v2 = 0 exactly
    planes[3] = _exact_ties(dtype, cols, rng)[:cols]
    if channels > 1:  # search Y (ulp by ulp) so that R = m00 (Y - off0) lands exactly on (k + 0.5) / max
        top = np.float32(MAX[np.dtype(dtype)])
        for x, k in enumerate(rng.integers(1, int(top) - 1, cols)):
            y = np.float32(off[0] + (k + 0.5) / top / m[0, 0])
            up = down = y
            for _ in range(200):  # outward from the estimate, one ulp at a time
                hit = [c for c in (up, down) if np.float32(np.float32(m[0, 0] * np.float32(c - off[0])) * top) == k + 0.5]
                if hit:
                    y = hit[0]
                    break
                up = np.nextafter(up, np.float32(2), dtype=np.float32)
                down = np.nextafter(down, np.float32(-1), dtype=np.float32)
            planes[0, x] = y
    out = np.empty((cols,) if channels == 1 else (cols, channels), dtype)
    _core._pack_row(isa, planes, out, False)
    want = _pack_model(planes, channels, dtype, False)
    np.testing.assert_array_equal(out, want)
    top = np.float32(MAX[np.dtype(dtype)])
    if channels == 1:
        t = planes[0] * top
    else:
        t = np.float32(m[0, 0] * (planes[0] - off[0])) * top
    exact = t - np.floor(t) == 0.5
    assert exact.sum() >= cols // 2
    first = out if channels == 1 else out[:, 0]
    np.testing.assert_array_equal(first[exact], np.floor(t[exact]) + 1)
    if channels == 4:
        np.testing.assert_array_equal(out[:, 3], np.floor(planes[3] * top) + 1)
