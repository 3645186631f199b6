"""MATLAB-compatible bicubic: hand-derived cases, an independent matrix form, and the canonical PSNRs."""

import numpy as np
import pytest

import oracle
from fsrcnn_fast.resize import imresize

# MATLAB's 2x cubic weights for the first output pixel (u = 0.75): taps at 1-based indices
# -1, 0, 1, 2 with cubic(1.75), cubic(0.75), cubic(0.25), cubic(1.25) = the classic
# [-0.0234375, 0.2265625, 0.8671875, -0.0703125]; indices -1 and 0 mirror to 2 and 1.
W2 = np.array([-0.0234375, 0.2265625, 0.8671875, -0.0703125])


def test_upscale_2x_first_pixel_by_hand():
    x = np.array([[1.0, 2.0, 3.0, 4.0]] * 3)
    out = imresize(x, 2.0)
    assert out.shape == (6, 8)
    want_first = W2 @ np.array([2.0, 1.0, 1.0, 2.0])  # 0.90625
    assert out[0, 0] == pytest.approx(want_first, abs=1e-12)
    assert want_first == pytest.approx(0.90625)
    # second output pixel (u = 1.25): taps 0..3 with cubic(1.25), cubic(0.25), cubic(0.75), cubic(1.75)
    assert out[0, 1] == pytest.approx(W2[::-1] @ np.array([1.0, 1.0, 2.0, 3.0]), abs=1e-12)


def test_downscale_2x_antialias_by_hand():
    # scale 1/2: kernel widened to 8, h(t) = cubic(t/2)/2; output 1 is centred at u = 1.5.
    x = np.arange(1.0, 9.0)[None, :].repeat(2, axis=0)
    out = imresize(x, 0.5)
    assert out.shape == (1, 4)
    taps = np.array([-3, -2, -1, 0, 1, 2, 3, 4, 5, 6])  # 1-based source indices
    t = 1.5 - taps
    a = np.abs(t / 2)
    w = np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0))
    w /= w.sum()
    mirrored = np.array([4, 3, 2, 1, 1, 2, 3, 4, 5, 6])  # symmetric reflection of -3..0
    assert out[0, 0] == pytest.approx(w @ mirrored, abs=1e-12)


def test_constant_and_ramp_preserved():
    c = np.full((9, 7), 0.3)
    np.testing.assert_allclose(imresize(c, 3.0), 0.3, atol=1e-12)
    np.testing.assert_allclose(imresize(c, 1 / 3), 0.3, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (13, 8)])
def test_upscale_matches_independent_matrix_form(scale, shape):
    y = np.random.default_rng(0).uniform(size=shape)
    np.testing.assert_allclose(imresize(y, float(scale)), oracle.bicubic_up(y, scale), atol=1e-12)


def test_colour_axis_resized_independently():
    x = np.random.default_rng(1).uniform(size=(10, 12, 3))
    out = imresize(x, 2.0)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], imresize(x[..., c], 2.0), atol=1e-14)


def test_bad_arguments():
    with pytest.raises(ValueError):
        imresize(np.zeros(5), 2.0)
    with pytest.raises(ValueError):
        imresize(np.zeros((3, 3)), 0.0)
