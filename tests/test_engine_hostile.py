"""The engine checks every network it is given against what its buffers are sized for, whatever Python checked
before (issue 19): networks built directly for fsrcnn_fast._core.Network, bypassing the schema, are refused
with ValueError / TypeError, never run outside a buffer. Each refused case is then run through a valid image
path to show nothing was left half-built."""

from __future__ import annotations

import numpy as np
import pytest

from fsrcnn_fast import _core


def _f(*shape):
    return np.zeros(shape, np.float32) + 0.01


def _conv(cout, cin, k, act="prelu", slope=None, border="zero", bias=None):
    return (_f(cout, cin, k, k), _f(cout) if bias is None else bias,
            _f(cout) if slope is None else slope, act, border)


def _deconv(cin, k=9, scale=2, offset=4, bias=None):
    return ("deconv", _f(cin, k, k), _f(1) if bias is None else bias, scale, offset, "zero")


def _subpixel(cin, scale=2, k=3, outs=None):
    return ("subpixel", _f(scale * scale if outs is None else outs, cin, k, k), _f(scale * scale), scale, 0, "zero")


def _network(layers, tails, winograd=-1):
    """The engine's typed inputs (_core.ConvLayer / _core.Tail) built from the tuples above: built here,
    inside each test's pytest.raises, since their constructors check what they are given too."""
    return _core.Network([_core.ConvLayer(*layer) for layer in layers], [_core.Tail(*tail) for tail in tails],
                         winograd)


GOOD_LAYERS = [_conv(4, 1, 5), _conv(2, 4, 1)]

HOSTILE = {
    "kernel 33": ([_conv(4, 1, 33)], [_deconv(4)]),
    "even kernel": ([_conv(4, 1, 4)], [_deconv(4)]),
    "non-square kernel": ([(_f(4, 1, 3, 5), _f(4), _f(4), "prelu", "zero")], [_deconv(4)]),
    "5000 channels": ([_conv(5000, 1, 1)], [_deconv(5000, k=1)]),
    "channel chain broken": ([_conv(4, 1, 5), _conv(2, 3, 1)], [_deconv(2)]),
    "tail takes other channels": (GOOD_LAYERS, [_deconv(3)]),
    "first layer takes 2 channels": ([_conv(4, 2, 3)], [_deconv(4)]),
    "bias too short": ([_conv(4, 1, 5, bias=_f(3))], [_deconv(4)]),
    "slope too short": ([_conv(4, 1, 5, slope=_f(2))], [_deconv(4)]),
    "slope too long": ([_conv(4, 1, 5, slope=_f(40))], [_deconv(4)]),
    "deconv bias of 2": (GOOD_LAYERS, [_deconv(2, bias=_f(2))]),
    "deconv kernel 41": (GOOD_LAYERS, [_deconv(2, k=41)]),
    "deconv offset -32 at x2": (GOOD_LAYERS, [_deconv(2, scale=2, offset=-32)]),
    "deconv offset 32 with k 31": (GOOD_LAYERS, [_deconv(2, k=31, scale=2, offset=32)]),
    "deconv offset 33": (GOOD_LAYERS, [_deconv(2, offset=33)]),
    "deconv offset 10**20": (GOOD_LAYERS, [_deconv(2, offset=10**20)]),
    "scale 0": (GOOD_LAYERS, [_deconv(2, scale=0)]),
    "scale 17": (GOOD_LAYERS, [_deconv(2, scale=17)]),
    "scale -3": (GOOD_LAYERS, [_deconv(2, scale=-3)]),
    "sub-pixel 5 outputs at x2": (GOOD_LAYERS, [_subpixel(2, outs=5)]),
    "sub-pixel kernel 33": (GOOD_LAYERS, [_subpixel(2, k=33)]),
    "sub-pixel takes other channels": (GOOD_LAYERS, [_subpixel(3)]),
    "no tail, 4 channels out": ([_conv(4, 1, 5)], []),
    "two tails of other widths": (GOOD_LAYERS, [_deconv(2), _deconv(3)]),
    "unknown activation": ([_conv(4, 1, 5, act="gelu")], [_deconv(4)]),
    "unknown border": ([_conv(4, 1, 5, border="wrap")], [_deconv(4)]),
    "unknown tail": (GOOD_LAYERS, [("upsample", _f(2, 3, 3), _f(1), 2, 0, "zero")]),
    "weight of rank 3": ([(_f(4, 1, 5), _f(4), _f(4), "prelu", "zero")], [_deconv(4)]),
    "zero-size weight": ([(_f(0, 1, 5, 5), _f(0), _f(0), "prelu", "zero")], [_deconv(4)]),
    "no layers, no tail": ([], []),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_network_is_refused(case):
    layers, tails = HOSTILE[case]
    with pytest.raises((ValueError, TypeError)):
        net = _network(layers, tails)
        net.run(np.full((7, 9), 0.5, np.float32), 1)  # some problems may only show at run time; never a crash


def test_the_good_network_runs():
    for tails in ([_deconv(2)], [_subpixel(2)], [_deconv(2, k=31, scale=2, offset=4)]):
        out = _network(GOOD_LAYERS, tails).run(np.full((7, 9), 0.5, np.float32), 1)
        assert out.shape == (14, 18) and np.all(np.isfinite(out))


def test_load_refuses_exactly_what_the_engine_refuses():
    """The loader's check (limits.check_runnable) and the engine agree on which deconvolutions run: every
    odd k to 31, offset -32..32, scales 2, 3, 4 and 8. A file's offset the engine cannot run is a
    WeightsError at load time, not a ValueError when the Model is built."""
    from fsrcnn_fast.weights.errors import WeightsError
    from fsrcnn_fast.weights.limits import check_runnable
    from fsrcnn_fast.weights.schema import Conv, Deconv, NetworkSpec

    mismatches = []
    for k in range(1, 32, 2):
        for scale in (2, 3, 4, 8):
            for offset in range(-32, 33):
                layers = (Conv("c", _f(2, 1, 1, 1), _f(2), "none"),)
                try:
                    check_runnable(NetworkSpec("fsrcnn", layers, Deconv("d", _f(2, 1, k, k), _f(1), scale, offset),
                                               scale), "f")
                    schema_ok = True
                except WeightsError:
                    schema_ok = False
                try:
                    _network([_conv(2, 1, 1)], [_deconv(2, k, scale, offset)])
                    engine_ok = True
                except ValueError:
                    engine_ok = False
                if schema_ok != engine_ok:
                    mismatches.append((k, scale, offset, schema_ok, engine_ok))
    assert not mismatches, mismatches[:10]


def test_a_file_whose_offset_the_engine_cannot_run_is_refused_at_load(tmp_path):
    """Issue 19: a .safetensors file whose deconv_offset is -32 made the engine write outside a buffer."""
    import netgen
    from fsrcnn_fast.weights.errors import WeightsError
    from fsrcnn_fast.weights.formats import load_weights, save_weights

    path = tmp_path / "net.safetensors"
    save_weights(netgen.fsrcnn(np.random.default_rng(0), d=4, s=2, m=0, scale=2, offset=-32), path)
    with pytest.raises(WeightsError, match=r"net\.safetensors: deconv: a 9-tap deconvolution at x2 with offset -32 "
                                           r"runs as a 41-tap conv"):
        load_weights(path)
