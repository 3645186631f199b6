"""The shipped models beat bicubic by the paper's margin on Set5 (MATLAB protocol)."""

import numpy as np
import pytest

from fsrcnn_fast import Model, metrics

# Floors, well over bicubic (33.66, 30.39, 28.42). fsrcnn measures x2 37.30, x3 33.29, x4 30.98 (each
# factored and distilled from the earlier network at its scale, x3 then a cycle weighted towards
# General-100); its floors are the authors' 37.00, 33.16 and 30.70 + 0.05 (issue 22's; x2's a little over
# that, as it was). fsrcnn-multi (one network
# trained for the three scales together, a deconvolution per scale) measures 37.20, 33.21, 30.86 (the one
# it replaced, the layers of an earlier x3 network shared, 36.43, 32.81, 30.09): regression floors a little
# under these.
FLOORS = {2: 37.1, 3: 33.21, 4: 30.75}
FLOORS_MULTI = {2: 37.1, 3: 33.1, 4: 30.75}


# FSRCNN-s (32,5,1), one network per scale, measures 36.72 / 32.65 / 30.38; the x2 and x3 floors are the
# authors' 36.57, 32.60, the x4 floor the authors' 30.11 + 0.05 (issue 22's).
FLOORS_S = {2: 36.57, 3: 32.60, 4: 30.16}


@pytest.mark.parametrize("name", ["fsrcnn", "fsrcnn-multi", "fsrcnn-s"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_psnr(shared_data, name, scale):
    model = Model.load(name, scale=scale)
    images = metrics.read_image_set(shared_data / "Set5")
    scores = metrics.evaluate_set(images, scale, model.run_y)
    floors = {"fsrcnn": FLOORS, "fsrcnn-multi": FLOORS_MULTI, "fsrcnn-s": FLOORS_S}[name]
    assert np.mean([s.psnr for s in scores]) >= floors[scale]


@pytest.mark.parametrize("name", ["fsrcnn-multi"])
def test_multiscale_model_shares_its_layers(name):
    """One file, shared layers under three deconvolutions; upscale_all runs them once and gives what
    each scale gives alone."""
    model = Model.load(name)
    assert model.scales == (2, 3, 4) and model.scale == 3
    assert model._joint_engine((2, 3, 4)) is not None
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    every = model.upscale_all(img)
    for s in (2, 3, 4):
        assert np.array_equal(every[s], model.upscale(img, scale=s))


@pytest.mark.parametrize("name,width", [("fsrcnn", 56), ("fsrcnn-s", 32)])
def test_per_scale_models_load_every_scale(name, width):
    """fsrcnn and fsrcnn-s ship one network per scale (a file each); upscale_all runs each and gives
    what each scale gives alone."""
    model = Model.load(name)
    assert model.scales == (2, 3, 4) and model.scale == 3
    assert all(model.spec_for(s).layers[0].weight.shape[0] == width for s in (2, 3, 4))
    img = np.random.default_rng(1).integers(0, 256, (17, 21, 3), dtype=np.uint8)
    every = model.upscale_all(img)
    for s in (2, 3, 4):
        assert every[s].shape == (17 * s, 21 * s, 3)
        assert np.array_equal(every[s], model.upscale(img, scale=s))
