"""The evaluation protocol reproduces the canonical bicubic baselines exactly."""

import numpy as np
import pytest

from fsrcnn_fast import metrics
from fsrcnn_fast.color import rgb_to_y_uint8

CANONICAL_BICUBIC = {
    "Set5": {2: 33.66, 3: 30.39, 4: 28.42},
    "Set14": {2: 30.23, 3: 27.54, 4: 26.00},
}


@pytest.mark.parametrize("name", ["Set5", "Set14"])
def test_bicubic_baselines(shared_data, name):
    images = metrics.read_image_set(shared_data / name)
    for scale, want in CANONICAL_BICUBIC[name].items():
        scores = metrics.evaluate_set(images, scale, lambda lr, s=scale: metrics.bicubic_sr(lr, s))
        assert np.mean([r.psnr for r in scores]) == pytest.approx(want, abs=0.005)


def test_psnr_and_ssim_basics():
    a = np.random.default_rng(0).integers(0, 256, (32, 32)).astype(np.uint8)
    assert metrics.psnr(a, a) == float("inf")
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    b = a.astype(np.int32) + 1
    assert metrics.psnr(a, b) == pytest.approx(20 * np.log10(255.0))
    assert metrics.ssim(a, 255 - a) < 0.5


def test_rgb2ycbcr_matches_matlab_values():
    # MATLAB: rgb2ycbcr(uint8([255 0 0; 0 255 0; 0 0 255; 255 255 255; 0 0 0])) Y = 81, 145, 41, 235, 16
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(rgb_to_y_uint8(rgb)[0], [81, 145, 41, 235, 16])


def test_modcrop_and_shave():
    x = np.arange(100).reshape(10, 10)
    assert metrics.modcrop(x, 3).shape == (9, 9)
    assert metrics.shave(x, 2).shape == (6, 6)
