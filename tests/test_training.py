"""The training script's fast formulation is the same function as the paper's layers.

train_fsrcnn.py runs the deconvolution as scale*scale phase convolutions + pixel shuffle and PReLU
as two clamps (both several times faster to train on CPU); these compare them with PyTorch's own
ConvTranspose2d and PReLU. Needs torch (skips without it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def train_fsrcnn():
    spec = importlib.util.spec_from_file_location("train_fsrcnn", ROOT / "training" / "train_fsrcnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_forward(model, x, scale, offset):
    """The network with torch's layers: replicate-padded body, then conv_transpose2d cropped to scale x."""
    F = torch.nn.functional

    def act(module, y):
        return F.prelu(y, module.weight)

    y = act(model.feature_act, model.feature(x))
    y = act(model.shrink_act, model.shrink(y))
    for conv, a in zip(model.maps, model.map_acts):
        y = act(a, conv(y))
    y = act(model.expand_act, model.expand(y))
    pad = 2  # LR pixels a 9-tap deconvolution can reach past the edge at these offsets
    y = F.pad(y, (pad,) * 4, mode="replicate")
    return F.conv_transpose2d(y, model.deconv.weight, model.deconv.bias, stride=scale,
                              padding=offset + scale * pad, output_padding=scale + 2 * offset - 9)


@pytest.mark.parametrize("scale,offset", [(2, 4), (3, 3), (3, 4), (4, 3), (4, 4)])
@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (13, 11)])
def test_subpixel_deconv_matches_conv_transpose(train_fsrcnn, scale, offset, shape):
    torch.manual_seed(scale * 10 + offset)
    model = train_fsrcnn.make_model(torch, scale, 8, 4, 2, offset).double()
    with torch.no_grad():
        model.deconv.weight.normal_()  # the default init (std 0.001) would hide tap mistakes
        model.deconv.bias.fill_(0.3)
        for act in [model.feature_act, model.shrink_act, *model.map_acts, model.expand_act]:
            act.weight.uniform_(-0.5, 0.5)
    x = torch.rand(2, 1, *shape, dtype=torch.float64)
    got = model(x)
    want = reference_forward(model, x, scale, offset)
    assert got.shape == (2, 1, shape[0] * scale, shape[1] * scale)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=0, atol=1e-12)


def test_gradients_match(train_fsrcnn):
    torch.manual_seed(0)
    model = train_fsrcnn.make_model(torch, 3, 8, 4, 1, 3).double()
    x = torch.rand(2, 1, 9, 10, dtype=torch.float64)
    grads = []
    for forward in (model, lambda t: reference_forward(model, t, 3, 3)):
        model.zero_grad()
        (forward(x) ** 2).sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for name in grads[0]:
        np.testing.assert_allclose(grads[0][name].numpy(), grads[1][name].numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_state_dict_keys_unchanged(train_fsrcnn):
    """Checkpoints (and export.py) name the layers as nn.PReLU / nn.ConvTranspose2d did."""
    keys = set(train_fsrcnn.make_model(torch, 3, 56, 12, 4, 3).state_dict())
    assert {"feature_act.weight", "map_acts.3.weight", "deconv.weight", "deconv.bias"} <= keys
    state = torch.load(ROOT / "training" / "checkpoints" / "x3_stage8.pt", map_location="cpu",
                       weights_only=True)["model"]
    assert set(state) == keys


def test_patch_sampler_draws_sets_by_area_or_equally(train_fsrcnn):
    """--balance-sets: each set gets an equal share of patches whatever its area; by default, its area."""
    rng = np.random.default_rng(0)

    def pairs(shapes):
        return [(rng.random(s, dtype=np.float32), rng.random((3 * s[0], 3 * s[1]), dtype=np.float32)) for s in shapes]

    by_set = {"small": pairs([(24, 30), (40, 24)]), "large": pairs([(100, 90), (80, 120), (10, 10)])}
    areas = [24 * 30, 40 * 24, 100 * 90, 80 * 120]  # the 10x10 image cannot hold a 24x24 patch: dropped
    by_area = train_fsrcnn.PatchSampler(by_set, 3, 24, seed=1)
    np.testing.assert_allclose(by_area.prob, np.array(areas) / sum(areas))
    balanced = train_fsrcnn.PatchSampler(by_set, 3, 24, seed=1, balance_sets=True)
    np.testing.assert_allclose([balanced.prob[:2].sum(), balanced.prob[2:].sum()], [0.5, 0.5])
    np.testing.assert_allclose(balanced.prob[2:] / balanced.prob[2], [1.0, areas[3] / areas[2]])
    lr, hr = balanced.batch(5)
    assert lr.shape == (5, 1, 24, 24) and hr.shape == (5, 1, 72, 72)
