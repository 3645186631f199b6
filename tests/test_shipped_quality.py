"""The shipped models beat bicubic by the paper's margin on Set5 (MATLAB protocol)."""

import numpy as np
import pytest

from fsrcnn_fast import Model, metrics

# Floors: the foundation issue's x3 floor (32.7 dB) and, for x2/x4, bicubic + 1.5 dB / + 1.2 dB.
FLOORS = {2: 35.2, 3: 32.7, 4: 29.6}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_set5_psnr(shared_data, scale):
    model = Model.load("fsrcnn", scale=scale)
    images = metrics.read_image_set(shared_data / "Set5")
    scores = metrics.evaluate_set(images, scale, model.run_y)
    assert np.mean([s.psnr for s in scores]) >= FLOORS[scale]
