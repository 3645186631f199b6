"""The oracle against torch.nn layers (skipped when PyTorch is not installed)."""

import numpy as np
import pytest

import netgen
import oracle

torch = pytest.importorskip("torch")
F = torch.nn.functional


def t64(a):
    return torch.from_numpy(np.asarray(a, np.float64))


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (20, 17)])
def test_fsrcnn_deconv_matches_torch(scale, shape):
    rng = np.random.default_rng(scale)
    spec = netgen.fsrcnn(rng, d=16, s=6, m=2, scale=scale, border="zero")
    y = rng.uniform(0, 1, shape)
    x = t64(y)[None, None]
    for l in spec.layers:
        x = F.conv2d(x, t64(l.weight), t64(l.bias), padding=l.k // 2)
        x = F.prelu(x, t64(l.slope))
    x = F.conv_transpose2d(x, t64(spec.tail.weight), t64(spec.tail.bias), stride=scale, padding=4,
                           output_padding=scale - 1)
    np.testing.assert_allclose(oracle.run(spec, y), x[0, 0].numpy(), atol=1e-10)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_subpixel_matches_pixel_shuffle(scale):
    rng = np.random.default_rng(scale)
    spec = netgen.fsrcnn(rng, d=8, s=4, m=1, scale=scale, tail="subpixel", subpixel_k=3)
    y = rng.uniform(0, 1, (9, 11))
    x = t64(y)[None, None]
    for l in spec.layers:
        x = F.prelu(F.conv2d(x, t64(l.weight), t64(l.bias), padding=l.k // 2), t64(l.slope))
    x = F.pixel_shuffle(F.conv2d(x, t64(spec.tail.weight), t64(spec.tail.bias), padding=1), scale)
    np.testing.assert_allclose(oracle.run(spec, y), x[0, 0].numpy(), atol=1e-10)


def test_replicate_conv_matches_torch_replicate_pad():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 10, 12))
    w = rng.normal(size=(4, 3, 5, 5))
    b = rng.normal(size=4)
    want = F.conv2d(F.pad(t64(x)[None], (2, 2, 2, 2), mode="replicate"), t64(w), t64(b))[0].numpy()
    np.testing.assert_allclose(oracle.conv2d(x, w, b, "replicate"), want, atol=1e-10)


def test_shared_prelu_matches_torch():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4, 4))
    np.testing.assert_allclose(oracle.prelu(x, np.array([0.2])),
                               F.prelu(t64(x)[None], t64([0.2]))[0].numpy(), atol=0)


@pytest.mark.parametrize("offset", [2, 5])
def test_deconv_offset_matches_torch_padding(offset):
    # ConvTranspose2d(padding=P, output_padding=scale-1) with k=2P+1... is offset P; check offsets != 4.
    rng = np.random.default_rng(offset)
    scale, k = 3, 2 * offset + 1
    x = rng.normal(size=(4, 6, 7))
    w = rng.normal(size=(4, 1, k, k))
    want = F.conv_transpose2d(t64(x)[None], t64(w), t64([0.5]), stride=scale, padding=offset,
                              output_padding=scale - 1)[0, 0].numpy()
    np.testing.assert_allclose(oracle.deconv(x, w, 0.5, scale, offset, "zero"), want, atol=1e-10)
