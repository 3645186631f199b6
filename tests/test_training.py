"""The training script's fast formulation is the same function as the paper's layers.

train_fsrcnn.py runs the deconvolution as scale*scale phase convolutions + pixel shuffle and PReLU
as x + (1 - a) relu(-x) (both several times faster to train on CPU), and with --expand trains each
convolution as factors collapsed into it; these compare them with PyTorch's own ConvTranspose2d,
PReLU and Conv2d. Needs torch (skips without it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fsrcnn_fast  # noqa: E402  (the installed package, engine included, before the trainer puts the source tree on sys.path)

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


def _randomise_factors(model, seed):
    """Every parameter random (factors, biases, PReLU slopes): load_plain's start leaves most of the narrow
    factor zero, which would hide mistakes in the collapse."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.3)


@pytest.mark.parametrize("m,wide", [(1, 8), (2, 19)])
@pytest.mark.parametrize("shape", [(1, 1), (6, 9)])
def test_collapsed_network_is_the_expanded_one(train_fsrcnn, m, wide, shape):
    """--expand trains factors; checkpoints hold their collapse. The plain network built from
    plain_state_dict() computes what the factored one does, the image edge included (replicate padding
    commutes with the collapse), and has exactly the plain network's keys."""
    expanded = train_fsrcnn.make_model(torch, 3, 8, 4, m, 3, expand=wide).double()
    _randomise_factors(expanded, seed=m * 100 + wide)
    plain = train_fsrcnn.make_model(torch, 3, 8, 4, m, 3).double()
    state = expanded.plain_state_dict()
    assert list(state) == list(plain.state_dict())
    plain.load_state_dict(state)
    x = torch.rand(2, 1, *shape, dtype=torch.float64)
    np.testing.assert_allclose(expanded(x).detach().numpy(), plain(x).detach().numpy(), rtol=0, atol=1e-12)
    # against torch's own layers too: the factored convolutions are convolutions
    np.testing.assert_allclose(expanded(x).detach().numpy(), reference_forward(plain, x, 3, 3).detach().numpy(),
                               rtol=0, atol=1e-12)


def test_expand_narrower_than_a_layer_is_refused(train_fsrcnn):
    with pytest.raises(ValueError, match="--expand 7: fewer channels than the layer's 8 outputs"):
        train_fsrcnn.make_model(torch, 3, 8, 4, 1, 3, expand=7)


def test_expanded_network_starts_from_a_plain_checkpoint(train_fsrcnn):
    """--init into --expand: the factors multiply back to the checkpoint's weights, so training resumes
    from the same function; every factor trains (the narrow factor's zero block gets a gradient)."""
    torch.manual_seed(5)
    plain = train_fsrcnn.make_model(torch, 3, 8, 4, 2, 3).double()
    _randomise_factors(plain, seed=5)
    expanded = train_fsrcnn.make_model(torch, 3, 8, 4, 2, 3, expand=12).double()
    result = expanded.load_plain_state_dict(plain.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    for key, value in expanded.plain_state_dict().items():
        np.testing.assert_allclose(value.numpy(), plain.state_dict()[key].numpy(), rtol=0, atol=1e-12, err_msg=key)
    x = torch.rand(1, 1, 7, 8, dtype=torch.float64)
    np.testing.assert_allclose(expanded(x).detach().numpy(), plain(x).detach().numpy(), rtol=0, atol=1e-12)
    (expanded(x) ** 2).sum().backward()
    for name, p in expanded.named_parameters():
        if name.endswith(".narrow"):
            assert p.grad[:, p.shape[0]:].abs().sum() > 0, name  # the block load_plain zeroed
        if name.endswith(".wide"):
            assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("scale,offset", [(2, 4), (3, 3), (4, 3)])
def test_engine_runs_an_exported_checkpoint_as_trained_up_to_the_edge(train_fsrcnn, tmp_path, scale, offset):
    """What --edge-prob teaches at the image border is what the engine does there: an exported
    checkpoint, run by the library, is the trainer's network on every pixel, the edge rows included."""
    spec = importlib.util.spec_from_file_location("export", ROOT / "training" / "export.py")
    export = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(export)
    torch.manual_seed(scale)
    model = train_fsrcnn.make_model(torch, scale, 8, 4, 2, offset)
    with torch.no_grad():
        model.deconv.weight.normal_(std=0.05)
        for act in [model.feature_act, model.shrink_act, *model.map_acts, model.expand_act]:
            act.weight.uniform_(-0.5, 0.5)
    torch.save({"model": model.state_dict(), "iter": 1, "val_psnr": 0.0}, tmp_path / "net.pt")
    config = {"scale": scale, "d": 8, "s": 4, "m": 2, "deconv_offset": offset}
    (tmp_path / "net.json").write_text(__import__("json").dumps(config))
    assert export.export([str(tmp_path / "net.pt")], tmp_path / "net.safetensors")["license"] == "MIT"
    x = np.random.default_rng(scale).random((11, 14), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(x)[None, None]).numpy()[0, 0]
    got = fsrcnn_fast.Model.load(tmp_path / "net.safetensors", scale=scale).run_y(x, threads=1)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


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
    lr, hr, mask = balanced.batch(5)
    assert lr.shape == (5, 1, 24, 24) and hr.shape == (5, 1, 72, 72) and mask is None


def test_patch_sampler_edge_patches_count_the_image_border(train_fsrcnn):
    """--edge-prob: patches flush with an image edge, whose loss mask counts the pixels on that edge (the
    network is padded there as at test time) and leaves out --loss-margin LR pixels on every other side.
    Each patch is found back in its image (values are unique) to check the mask, rotated and flipped with
    the patch, against its position."""
    scale, p, margin = 3, 8, 2
    lr_img = np.arange(14 * 17, dtype=np.float32).reshape(14, 17)
    hr_img = np.kron(lr_img, np.ones((scale, scale), np.float32))
    sampler = train_fsrcnn.PatchSampler({"one": [(lr_img, hr_img)]}, scale, p, seed=4, edge_prob=0.5,
                                        loss_margin=margin)
    lr, hr, mask = sampler.batch(300)
    views = [(k, f) for k in range(4) for f in (False, True)]
    flush_rows = flush_cols = 0
    for a, b, m in zip(lr[:, 0], hr[:, 0], mask[:, 0]):
        for k, flip in views:  # undo the sampler's rotation, then flip
            a0 = np.rot90(a[:, ::-1] if flip else a, -k)
            if a0[0, 1] - a0[0, 0] == 1 and a0[1, 0] - a0[0, 0] == 17:
                break
        else:
            raise AssertionError("patch is not a rotated/flipped crop of the image")
        i, j = divmod(int(a0[0, 0]), 17)
        np.testing.assert_array_equal(a0, lr_img[i : i + p, j : j + p])
        np.testing.assert_array_equal(np.rot90(b[:, ::-1] if flip else b, -k),
                                      hr_img[i * scale : (i + p) * scale, j * scale : (j + p) * scale])
        inside = np.ones((p, p), bool)  # LR pixels whose HR pixels the loss should count
        if i > 0:
            inside[:margin] = False
        if i + p < 14:
            inside[-margin:] = False
        if j > 0:
            inside[:, :margin] = False
        if j + p < 17:
            inside[:, -margin:] = False
        want = np.kron(inside, np.ones((scale, scale))).astype(np.float32)
        np.testing.assert_array_equal(np.rot90(m[:, ::-1] if flip else m, -k), want)
        flush_rows += i in (0, 14 - p)
        flush_cols += j in (0, 17 - p)
    # half the draws flush by choice, the rest uniform over 7 (rows) or 10 (columns) positions
    assert 0.55 < flush_rows / 300 < 0.8 and 0.5 < flush_cols / 300 < 0.75


def test_distilled_pairs_blend_teacher_output_into_target(train_fsrcnn, tmp_path):
    """--teacher: the target is (1 - w) HR + w teacher(LR), the teacher run on the whole LR image and
    clipped to [0, 1] (with --teacher-ensemble, its 8-view mean); LR inputs are untouched; a teacher at
    another scale is refused."""
    torch.manual_seed(3)
    teacher = train_fsrcnn.make_model(torch, 3, 8, 4, 1, 3)
    with torch.no_grad():
        teacher.deconv.weight.normal_(std=0.2)  # outputs well outside [0, 1]: the clip must show
    ckpt = tmp_path / "teacher.pt"
    torch.save({"model": teacher.state_dict()}, ckpt)
    (tmp_path / "teacher.json").write_text('{"scale": 3, "d": 8, "s": 4, "m": 1, "deconv_offset": 3}')
    rng = np.random.default_rng(0)
    by_set = {"a": [(rng.random((7, 9), dtype=np.float32), rng.random((21, 27), dtype=np.float32))],
              "b": [(rng.random((5, 5), dtype=np.float32), rng.random((15, 15), dtype=np.float32))] * 2}
    with torch.no_grad():
        want_teacher = {name: [np.clip(teacher(torch.from_numpy(lr)[None, None]).numpy()[0, 0], 0, 1)
                               for lr, _ in pairs] for name, pairs in by_set.items()}
    assert any(((t == 0) | (t == 1)).any() for ts in want_teacher.values() for t in ts)
    for weight in (0.0, 0.3, 1.0):
        got = train_fsrcnn.distilled_pairs(torch, str(ckpt), by_set, 3, weight)
        assert list(got) == ["a", "b"]
        for name, pairs in by_set.items():
            assert len(got[name]) == len(pairs)
            for (lr, hr), (lr2, target), t in zip(pairs, got[name], want_teacher[name]):
                assert lr2 is lr and target.dtype == np.float32
                np.testing.assert_allclose(target, (1 - weight) * hr + weight * t, rtol=0, atol=1e-6)
    got = train_fsrcnn.distilled_pairs(torch, str(ckpt), by_set, 3, 1.0, ensemble=True)
    with torch.no_grad():
        lr, _ = by_set["a"][0]
        want = np.clip(train_fsrcnn.dihedral_mean(torch, teacher, torch.from_numpy(lr)[None, None]).numpy()[0, 0], 0, 1)
    np.testing.assert_allclose(got["a"][0][1], want, rtol=0, atol=1e-6)
    assert np.abs(want - want_teacher["a"][0]).max() > 1e-3
    with pytest.raises(SystemExit, match="x3, training x2"):
        train_fsrcnn.distilled_pairs(torch, str(ckpt), by_set, 2, 0.5)


@pytest.mark.parametrize("shape", [(7, 9), (6, 6)])
def test_dihedral_mean_is_equivariant_and_averages_eight_views(train_fsrcnn, shape):
    """--teacher-ensemble: rotating or flipping the input rotates or flips the averaged output (a view
    undone the wrong way breaks that on any non-symmetric network), and it is the mean of the 8 views."""
    torch.manual_seed(5)
    model = train_fsrcnn.make_model(torch, 3, 8, 4, 1, 3).double()
    with torch.no_grad():
        model.deconv.weight.normal_()
    x = torch.rand(1, 1, *shape, dtype=torch.float64)
    with torch.no_grad():
        y = train_fsrcnn.dihedral_mean(torch, model, x)
        assert y.shape == (1, 1, 3 * shape[0], 3 * shape[1])
        np.testing.assert_allclose(train_fsrcnn.dihedral_mean(torch, model, torch.rot90(x, 1, (2, 3))),
                                   torch.rot90(y, 1, (2, 3)), rtol=0, atol=1e-12)
        np.testing.assert_allclose(train_fsrcnn.dihedral_mean(torch, model, torch.flip(x, (2,))),
                                   torch.flip(y, (2,)), rtol=0, atol=1e-12)
        assert not torch.allclose(model(torch.flip(x, (2,))), torch.flip(model(x), (2,)), atol=1e-6)
        views = [torch.rot90(model(torch.rot90(x, k, (2, 3))), -k, (2, 3)) for k in range(4)]
        views += [torch.flip(torch.rot90(model(torch.rot90(torch.flip(x, (3,)), k, (2, 3))), -k, (2, 3)), (3,))
                  for k in range(4)]
        np.testing.assert_allclose(y, sum(views) / 8, rtol=0, atol=1e-12)


def test_resumed_run_is_the_uninterrupted_run(tmp_path):
    """A run stopped hard and continued with --resume ends with the same weights, bit for bit, as one
    that ran through (a long cycle can span sessions)."""
    import os
    import subprocess
    import sys

    data = Path(os.environ.get("FSRCNN_DATA", ROOT.parent / "shared" / "data"))
    if not (data / "T91").is_dir():
        pytest.skip(f"training images not found under {data} (set FSRCNN_DATA)")
    args = [sys.executable, str(ROOT / "training" / "train_fsrcnn.py"), "--batch", "4", "--lr-patch", "12",
            "--sets", "T91", "--val-sets", "T91", "--val-nth", "30", "--scale", "3", "--deconv-offset", "3",
            "--d", "16", "--s", "8", "--m", "1", "--expand", "32", "--edge-prob", "0.3", "--val-every", "10", "--iters", "40", "--seed", "3"]

    def train(out, *extra):
        subprocess.run(args + ["--out", str(out), *extra], check=True, capture_output=True, text=True)

    train(tmp_path / "through")
    train(tmp_path / "stopped", "--stop-at", "20")
    train(tmp_path / "stopped", "--resume")
    a = torch.load(tmp_path / "through" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "stopped" / "last.pt", weights_only=True)
    assert a["iter"] == b["iter"] == 40
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    # and a resume with options that change the run is refused by name
    bad = subprocess.run(args + ["--out", str(tmp_path / "stopped"), "--resume", "--lr", "0.5"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "lr" in bad.stderr
