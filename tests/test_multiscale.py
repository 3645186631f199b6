"""Multi-scale models: shared layers computed once for several tails (engine run_all, Model.upscale_all),
bitwise equal to running each scale alone."""

from dataclasses import replace

import numpy as np
import pytest

import netgen
import oracle
from fsrcnn_fast import Model, _core
from fsrcnn_fast.engine import engine_layers as _engine_layers, engine_tail as _engine_tail

ISAS = _core.supported_isas()


def shared_specs(rng, border="replicate", tails=((2, "deconv", 4), (3, "deconv", 3), (4, "deconv", 5))):
    """Networks that share every layer and differ in the tail (the paper's transfer strategy)."""
    base = netgen.fsrcnn(rng, d=12, s=5, m=2, border=border)
    specs = []
    for scale, kind, offset in tails:
        other = netgen.fsrcnn(rng, d=12, s=5, m=2, scale=scale, border=border, tail=kind, offset=offset)
        specs.append(replace(other, layers=base.layers))
    return specs


@pytest.mark.parametrize("isa", ISAS)
def test_run_all_equals_each_tail_alone(isa):
    rng = np.random.default_rng(5)
    specs = shared_specs(rng, tails=((2, "deconv", 4), (3, "deconv", 3), (4, "subpixel", 0), (3, "deconv", 4)))
    joint = _core.Network(_engine_layers(specs[0]), [_engine_tail(sp.tail) for sp in specs])
    assert joint.scales == [2, 3, 4, 3]
    y = rng.uniform(0, 1, (29, 37)).astype(np.float32)
    outs = joint.run_all(y, 2, isa=isa)
    for i, sp in enumerate(specs):
        alone = Model(sp)._engine.run(y, 1, isa=isa)
        assert outs[i].shape == (29 * sp.scale, 37 * sp.scale)
        assert np.array_equal(outs[i], alone), sp.tail
        assert np.array_equal(joint.run(y, 1, isa=isa, tail=i, tile_rows=4, tile_cols=8), alone)
        np.testing.assert_allclose(alone, oracle.run(sp, y), atol=1e-4, rtol=0)


def test_model_upscale_all_matches_upscale():
    rng = np.random.default_rng(6)
    model = Model(shared_specs(rng), default_scale=3)
    assert model.scales == (2, 3, 4) and model.scale == 3
    img = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    every = model.upscale_all(img)
    assert list(every) == [2, 3, 4]
    for s, out in every.items():
        assert np.array_equal(out, model.upscale(img, scale=s))
    assert list(model.upscale_all(img, scales=(4, 2))) == [4, 2]
    gray = rng.uniform(0, 1, (9, 11))
    assert np.array_equal(model.upscale_all(gray, scales=[2])[2], model.upscale(gray, scale=2))
    y = rng.uniform(0, 1, (9, 11)).astype(np.float32)
    for s, plane in model.run_y_all(y).items():
        assert np.array_equal(plane, model.run_y(y, scale=s))


def test_models_that_share_nothing_still_upscale_all():
    rng = np.random.default_rng(7)
    specs = [netgen.fsrcnn(rng, d=8, s=4, m=1, scale=s) for s in (2, 3)]
    model = Model(specs)
    img = rng.uniform(0, 1, (8, 9)).astype(np.float32)
    every = model.upscale_all(img)
    assert all(np.array_equal(every[s], model.upscale(img, scale=s)) for s in (2, 3))


def test_scale_errors():
    rng = np.random.default_rng(8)
    model = Model(shared_specs(rng))
    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(ValueError, match=r"provides scales \(2, 3, 4\), not 5"):
        model.upscale(img, scale=5)
    with pytest.raises(ValueError, match="not 6"):
        model.upscale_all(img, scales=(2, 6))
    with pytest.raises(TypeError, match="sequence"):
        model.upscale_all(img, scales=3)
    with pytest.raises(ValueError, match="empty"):
        model.upscale_all(img, scales=())
    with pytest.raises(ValueError, match="two networks for scale 2"):
        Model([netgen.fsrcnn(rng, scale=2), netgen.fsrcnn(rng, scale=2)])
    with pytest.raises(ValueError, match="default scale 5"):
        Model(netgen.fsrcnn(rng, scale=2), default_scale=5)


def test_tails_must_share_the_border():
    rng = np.random.default_rng(9)
    a = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=2, border="zero")
    b = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=3, border="replicate")
    with pytest.raises(ValueError, match="same border"):
        _core.Network(_engine_layers(a), [_engine_tail(a.tail), _engine_tail(b.tail)])


def test_shipped_models_load_every_scale():
    model = Model.load("fsrcnn")
    assert model.scales == (2, 3, 4) and model.scale == 3
    assert Model.load("fsrcnn", scale=2).scales == (2,)
    img = np.random.default_rng(0).integers(0, 256, (12, 10), dtype=np.uint8)
    assert np.array_equal(model.upscale(img, scale=4), Model.load("fsrcnn", scale=4).upscale(img))
