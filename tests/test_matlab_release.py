"""The authors' MATLAB releases, run by this library, reproduce the published numbers (Set5, MATLAB
protocol) — an end-to-end check of importer, engine (replicate borders, shared PReLU, deconvolution
offsets, SRCNN) and evaluation against an outside reference."""

import numpy as np
import pytest

pytest.importorskip("scipy")

from datafiles import require_file  # noqa: E402
from fsrcnn_fast import Model, metrics  # noqa: E402

PAPER_SET5 = {
    ("FSRCNN", 2): 37.00, ("FSRCNN", 3): 33.16, ("FSRCNN", 4): 30.70,
    ("FSRCNN-s", 2): 36.57, ("FSRCNN-s", 3): 32.60, ("FSRCNN-s", 4): 30.11,
}


@pytest.fixture(scope="module")
def set5(shared_data):
    return metrics.read_image_set(shared_data / "Set5")


@pytest.mark.parametrize("net, scale", list(PAPER_SET5))
def test_fsrcnn_release_reproduces_paper(shared_data, set5, net, scale):
    path = require_file(shared_data / "weights" / "official_fsrcnn_via_yaBorn" / "model" / net / f"x{scale}.mat")
    model = Model.load(path)
    assert model.scale == scale and model.border == "replicate"
    scores = metrics.evaluate_set(set5, scale, model.run_y)
    assert np.mean([s.psnr for s in scores]) == pytest.approx(PAPER_SET5[(net, scale)], abs=0.01)


def test_srcnn_955_release_reproduces_paper(shared_data, set5):
    path = require_file(shared_data / "weights" / "official_srcnn_via_yaBorn" / "model" / "9-5-5(ImageNet)" / "x2.mat")
    model = Model.load(path)
    assert model.arch.startswith("SRCNN 9-5-5")
    scores = metrics.evaluate_set(set5, 2, model.run_y)
    assert np.mean([s.psnr for s in scores]) == pytest.approx(36.66, abs=0.01)
