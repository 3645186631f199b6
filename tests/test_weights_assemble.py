"""The one assembler (fsrcnn_fast.weights.assemble): op lists -> NetworkSpec, with every rule about
activation folding, tails, unrecorded activations, borders, scale and offset in one place."""

import numpy as np
import pytest

from fsrcnn_fast.weights.assemble import ActOp, ConvOp, DeconvOp, ShuffleOp, assemble, fold
from fsrcnn_fast.weights.errors import WeightsError
from fsrcnn_fast.weights.schema import Deconv, Subpixel

RNG = np.random.default_rng(19)


def conv(name, cin, cout, k=3, **kw):
    return ConvOp(name, RNG.standard_normal((cout, cin, k, k)), RNG.standard_normal(cout), **kw)


def deconv(name="deconv", cin=4, k=9, **kw):
    return DeconvOp(name, RNG.standard_normal((cin, 1, k, k)), np.zeros(1), **kw)


def fsrcnn_ops(**deconv_kw):
    return [conv("feature", 1, 4, 5), ActOp("p1", "prelu", np.full(4, 0.1)),
            conv("shrink", 4, 2, 1), ActOp("p2", "prelu", np.full(1, 0.2)),
            conv("expand", 2, 4, 1), ActOp("p3", "relu"), deconv(**deconv_kw)]


def test_activations_fold_into_the_convolution_before_them():
    spec = assemble(fsrcnn_ops(scale=3, offset=4), "f.x")
    assert [l.activation for l in spec.layers] == ["prelu", "prelu", "relu"]
    np.testing.assert_array_equal(spec.layers[0].slope, np.full(4, 0.1, np.float32))
    assert isinstance(spec.tail, Deconv) and spec.tail.scale == 3 and spec.tail.offset == 4
    assert spec.provenance == {"scale": "graph", "offset": "graph"}
    assert spec.metadata["tail"] == "deconv" and spec.metadata["deconv_offset"] == "4"


@pytest.mark.parametrize("ops, message", [
    ([ActOp("a", "relu"), conv("c", 1, 1)], r"f\.x: activation 'a' comes before any convolution"),
    ([conv("c", 1, 1), ActOp("a", "relu"), ActOp("b", "relu")], r"'c' already has activation 'relu', then 'b'"),
    ([conv("c", 1, 4), deconv(), ActOp("a", "relu")], r"activation 'a' comes after the upscaling tail 'deconv'"),
    ([conv("c", 1, 4), deconv(), conv("d", 1, 1)], r"layer 'd' comes after the upscaling tail 'deconv'"),
    ([deconv(cin=1)], r"the tail 'deconv' comes before any convolution"),
    ([conv("c", 1, 4), ActOp("a", "relu"), conv("s", 4, 9), ActOp("b", "relu"), ShuffleOp("d2s", 3)],
     r"'s' has activation 'relu' before the shuffle 'd2s'"),
    ([conv("c", 1, 4), conv("s", 4, 8), ShuffleOp("d2s", 3)], r"'d2s': block size 3 needs 9 channels, 's' gives 8"),
    ([conv("s", 1, 9), ShuffleOp("d2s", 3)], r"no convolution before the tail"),
    ([], r"no convolutions"),
])
def test_folding_errors_name_the_file_and_the_layer(ops, message):
    with pytest.raises(WeightsError, match=message):
        assemble(ops, "f.x", scale=3, offset=4)


def test_a_linear_activation_is_no_layer():
    chain = fold([conv("c", 1, 4), ActOp("lin", "none"), ActOp("a", "relu"), deconv(), ActOp("lin2", "none")])
    assert chain.body[0].activation == "relu" and isinstance(chain.tail, DeconvOp)


def test_unrecorded_activations_are_srcnn_relus_or_refused_before_a_tail():
    spec = assemble([conv("c1", 1, 4, 9), conv("c2", 4, 2, 1), conv("c3", 2, 1, 5)], "w.mat", scale=3)
    assert [l.activation for l in spec.layers] == ["relu", "relu", "none"]
    assert spec.kind == "srcnn" and spec.pre_upsample and spec.tail is None
    assert spec.provenance == {"scale": "argument"}
    with pytest.raises(WeightsError, match=r"w\.h5: 'c2' is not followed by an activation"):
        assemble([conv("c1", 1, 4, activation="relu"), conv("c2", 4, 4), deconv()], "w.h5", scale=2, offset=4)
    with pytest.raises(WeightsError, match=r"w\.h5: custom c2"):
        assemble([conv("c1", 1, 4, activation="relu"), conv("c2", 4, 4), deconv()], "w.h5", scale=2, offset=4,
                 missing_activation=lambda c: f"custom {c.name}")


def test_scale_claims_conflicts_and_sources():
    # a value the file writes outranks its graph, which outranks its name
    spec = assemble(fsrcnn_ops(scale=2, offset=4), "n_x3.pth", claims=[(3, "file name"), (2, "metadata")])
    assert spec.scale == 2 and spec.provenance["scale"] == "metadata"
    with pytest.raises(WeightsError, match=r"n\.pth: .*upscales by 2, not 3 \(its scale comes from its graph\)"):
        assemble(fsrcnn_ops(scale=2, offset=4), "n.pth", scale=3)
    with pytest.raises(WeightsError, match=r"n\.pth: cannot tell the scale"):
        assemble(fsrcnn_ops(offset=4), "n.pth")
    spec = assemble(fsrcnn_ops(offset=4), "n_x4.pth", claims=[(4, "file name")])
    assert spec.scale == 4 and spec.provenance["scale"] == "file name"


def test_offset_default_function_override_and_refusal():
    spec = assemble(fsrcnn_ops(default_offset=lambda s: s + 1), "a", scale=3)
    assert spec.tail.offset == 4 and spec.provenance["offset"] == "default"
    spec = assemble(fsrcnn_ops(default_offset=4), "a", scale=3, offset=2)
    assert spec.tail.offset == 2 and spec.provenance["offset"] == "argument"
    with pytest.raises(WeightsError, match=r"a: the deconvolution offset is 3 \(from its graph\), not 2"):
        assemble(fsrcnn_ops(offset=3, overridable=False), "a", scale=3, offset=2)
    with pytest.raises(WeightsError, match=r"a: the file cannot tell the deconvolution offset; pass offset= \(why\)"):
        assemble(fsrcnn_ops(offset_hint="why"), "a", scale=3)
    with pytest.raises(WeightsError, match=r"a: layer 'deconv': deconvolution offset 40 \(from its argument\) is outside"):
        assemble(fsrcnn_ops(default_offset=4), "a", scale=3, offset=40)


def test_subpixel_tail_block_from_the_channels_when_the_file_does_not_say():
    ops = [conv("c", 1, 4), ActOp("a", "prelu", np.full(1, 0.25)), conv("sub", 4, 16), ShuffleOp("sub")]
    spec = assemble(ops, "s")
    assert isinstance(spec.tail, Subpixel) and spec.scale == 4 and spec.provenance == {"scale": "graph"}
    assert spec.metadata["tail"] == "subpixel"


def test_one_by_one_layers_take_the_border_the_file_gives():
    ops = [conv("c", 1, 4, 3, border="replicate"), ActOp("a", "relu"), conv("one", 4, 4, 1), ActOp("b", "relu"),
           deconv()]
    spec = assemble(ops, "b", scale=2, offset=4)
    assert [l.border for l in spec.layers] == ["replicate", "replicate"] and spec.tail.border == "replicate"
    with pytest.raises(WeightsError, match="border must be one of"):
        assemble(ops, "b", scale=2, offset=4, border="wrap")


def test_schema_errors_name_the_file():
    bad = ConvOp("c", np.ones((1, 1, 3, 3)), np.array([np.nan]))
    with pytest.raises(WeightsError, match=r"^f\.x: c\.bias: contains NaN"):
        assemble([bad], "f.x", scale=2)


@pytest.mark.parametrize("said", [0, 17])
def test_a_scale_the_file_claims_outside_the_engines_range_is_refused(said):
    # a damaged safetensors file's metadata 'scales' of 0 reached the bicubic resize (ZeroDivisionError)
    with pytest.raises(WeightsError, match=rf"^f: scale must be an integer in \[1, 16\], got {said} \(from its metadata\)"):
        assemble([conv("a", 1, 2), conv("b", 2, 1)], "f", claims=[(said, "metadata")])
