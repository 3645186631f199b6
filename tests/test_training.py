"""The training script's fast formulation is the same function as the paper's layers.

train_fsrcnn.py runs the deconvolution as scale*scale phase convolutions + pixel shuffle and PReLU
as x + (1 - a) relu(-x) (both several times faster to train on CPU), and with --expand trains each
convolution as factors collapsed into it; these compare them with PyTorch's own ConvTranspose2d,
PReLU and Conv2d. Needs torch (skips without it)."""

from __future__ import annotations

import importlib.util
import sys
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
    shared = train_fsrcnn.PatchSampler(by_set, 3, 24, seed=1, set_shares=[1.0, 3.0])
    np.testing.assert_allclose([shared.prob[:2].sum(), shared.prob[2:].sum()], [0.25, 0.75])
    np.testing.assert_allclose(shared.prob[:2] / shared.prob[0], [1.0, areas[1] / areas[0]])
    drawn = shared.rng.choice(len(shared.pairs), size=20000, p=shared.prob)
    assert abs(np.mean(drawn >= 2) - 0.75) < 0.02
    with pytest.raises(ValueError, match="one share per set"):
        train_fsrcnn.PatchSampler(by_set, 3, 24, seed=1, set_shares=[1.0])


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


# --- the multi-scale network (train_fsrcnn.py --scales): shared layers, a deconvolution per scale ---

MULTI = {2: 4, 3: 3, 4: 3}  # scale -> deconvolution offset, as in the shipped fsrcnn_multi


@pytest.fixture(scope="module")
def export_module():
    spec = importlib.util.spec_from_file_location("export", ROOT / "training" / "export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _forward_at(model, scale, x):
    """Torch's own layers at one scale of a multi-scale network (reference_forward with its deconvolution)."""
    class View:
        pass

    view = View()
    for name in ("feature", "feature_act", "shrink", "shrink_act", "maps", "map_acts", "expand", "expand_act"):
        setattr(view, name, getattr(model, name))
    view.deconv = model.deconvs()[scale]
    return reference_forward(view, x, scale, MULTI[scale])


@pytest.mark.parametrize("shape", [(1, 1), (6, 9)])
def test_multi_scale_collapsed_network_is_the_expanded_one(train_fsrcnn, shape):
    """--scales with --expand: the checkpoint (plain_state_dict) is the plain multi-scale network, layers
    named as in the file, and computes at every scale what the factored one does, edges included; each
    scale's output is torch's conv_transpose2d on the shared body."""
    expanded = train_fsrcnn.make_multi_model(torch, list(MULTI), 8, 4, 2, list(MULTI.values()), expand=11).double()
    _randomise_factors(expanded, seed=17)
    plain = train_fsrcnn.make_multi_model(torch, list(MULTI), 8, 4, 2, list(MULTI.values())).double()
    state = expanded.plain_state_dict()
    assert list(state) == list(plain.state_dict())
    assert {f"x{s}.deconv.{k}" for s in MULTI for k in ("weight", "bias")} <= set(state)
    assert not any(k.startswith("deconv.") for k in state)
    plain.load_state_dict(state)
    x = torch.rand(2, 1, *shape, dtype=torch.float64)
    outputs = []
    for scale in MULTI:
        got = expanded(x, scale).detach().numpy()
        assert got.shape == (2, 1, shape[0] * scale, shape[1] * scale)
        np.testing.assert_allclose(got, plain(x, scale).detach().numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(got, _forward_at(plain, scale, x).detach().numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(plain.at(scale)(x).detach().numpy(), got, rtol=0, atol=1e-12)
        outputs.append(got)
    # one body, three deconvolutions: a gradient of any scale's output reaches the shared factors
    (expanded(x, 2) ** 2).sum().backward()
    assert expanded.feature.wide.grad.abs().sum() > 0 and expanded.x4.deconv.weight.grad is None
    with pytest.raises(ValueError, match=r"upscales by \[2, 3, 4\], not 5"):
        plain(x, 5)


def test_multi_scale_network_needs_distinct_scales_and_an_offset_each(train_fsrcnn):
    with pytest.raises(ValueError, match="two or more different scales"):
        train_fsrcnn.make_multi_model(torch, [3, 3], 8, 4, 1, [3, 3])
    with pytest.raises(ValueError, match="3 scales but 2 deconvolution offsets"):
        train_fsrcnn.make_multi_model(torch, [2, 3, 4], 8, 4, 1, [4, 3])


def _save_checkpoint(path, model, config, **extra):
    torch.save({"model": model.plain_state_dict(), "iter": 1, "val_psnr": 0.0, **extra}, path)
    path.with_suffix(".json").write_text(__import__("json").dumps(config))


def test_engine_runs_an_exported_multi_scale_checkpoint_as_trained(train_fsrcnn, export_module, tmp_path):
    """A --scales checkpoint exports as the multi-scale file the package ships (shared layers once,
    x{s}.deconv.* per scale, per-scale offsets, MIT), and the engine, at each scale, is the trainer's
    network at that scale on every pixel, the edge rows included."""
    torch.manual_seed(8)
    model = train_fsrcnn.make_multi_model(torch, list(MULTI), 8, 4, 4, list(MULTI.values()), expand=12)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # the init's near-zero deconvolutions would hide tap mistakes
        for deconv in model.deconvs().values():
            deconv.weight.normal_(std=0.05)
    config = {"scales": "2,3,4", "deconv_offsets": "4,3,3", "d": 8, "s": 4, "m": 4}
    _save_checkpoint(tmp_path / "joint.pt", model, config, val_psnr_by_scale={"2": 1.0, "3": 2.0, "4": 3.0})
    meta = export_module.export([str(tmp_path / "joint.pt")], tmp_path / "joint.safetensors")
    assert meta["license"] == "MIT" and meta["name"] == "fsrcnn_multi" and meta["scales"] == "2,3,4"
    assert meta["deconv_offset"] == "2:4,3:3,4:3"
    assert "--scales 2,3,4 --deconv-offsets 4,3,3" in meta["training"] and "x3 2.000" in meta["training"]
    shipped = fsrcnn_fast.weights.safetensors_io.load(ROOT / "python" / "fsrcnn_fast" / "data" / "fsrcnn_multi.safetensors")
    written = fsrcnn_fast.weights.safetensors_io.load(tmp_path / "joint.safetensors")
    assert set(written.tensors) == set(shipped.tensors)  # the shipped layout (m = 4), layer for layer
    x = np.random.default_rng(2).random((11, 14), dtype=np.float32)
    for scale in MULTI:
        with torch.no_grad():
            want = model(torch.from_numpy(x)[None, None], scale).numpy()[0, 0]
        got = fsrcnn_fast.Model.load(tmp_path / "joint.safetensors", scale=scale).run_y(x, threads=1)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5, err_msg=f"x{scale}")
    with pytest.raises(SystemExit, match="exports alone"):
        export_module.export([str(tmp_path / "joint.pt")] * 2, tmp_path / "two.safetensors")


def test_init_moves_layers_between_single_and_multi_scale_networks(train_fsrcnn):
    """--init: a single-scale checkpoint starts a multi-scale network with its shared layers and, at its
    own scale, its deconvolution (moved to the new offset; other scales re-learnt); a multi-scale
    checkpoint starts a single-scale network at any of its scales as exactly that network."""
    torch.manual_seed(4)
    single = train_fsrcnn.make_model(torch, 3, 8, 4, 1, 4).double()
    _randomise_factors(single, seed=4)
    with torch.no_grad():  # offset 4 -> 3 drops tap row/column 0: zero there, the function is unchanged
        single.deconv.weight[..., 0, :] = 0
        single.deconv.weight[..., :, 0] = 0
    state = train_fsrcnn.init_state(torch, single.state_dict(), {"scale": 3, "deconv_offset": 4}, MULTI, joint=True)
    joint = train_fsrcnn.make_multi_model(torch, list(MULTI), 8, 4, 1, list(MULTI.values())).double()
    missing = joint.load_plain_state_dict(state, strict=False)
    assert sorted(missing.missing_keys) == [f"x{s}.deconv.{k}" for s in (2, 4) for k in ("bias", "weight")]
    x = torch.rand(1, 1, 7, 6, dtype=torch.float64)
    np.testing.assert_allclose(joint(x, 3).detach().numpy(), single(x).detach().numpy(), rtol=0, atol=1e-12)
    _randomise_factors(joint, seed=5)
    config = {"scales": "2,3,4", "deconv_offsets": "4,3,3", "d": 8, "s": 4, "m": 1}
    for scale, offset in MULTI.items():
        state = train_fsrcnn.init_state(torch, joint.state_dict(), config, {scale: offset}, joint=False)
        alone = train_fsrcnn.make_model(torch, scale, 8, 4, 1, offset).double()
        alone.load_state_dict(state)  # strict: every key, nothing else
        np.testing.assert_allclose(alone(x).detach().numpy(), joint(x, scale).detach().numpy(), rtol=0, atol=1e-12)


def _smooth_training_images(folder: Path, count: int = 4) -> None:
    """Smooth random images (upscaling has something to learn) as a training set."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        small = rng.integers(0, 256, (13, 14, 3), dtype=np.uint8)
        Image.fromarray(small).resize((104, 96), Image.BICUBIC).save(folder / f"im{i}.png")


def test_a_run_whose_loss_is_not_finite_stops_before_saving_it(tmp_path):
    """At a learning rate that overflows the weights the run stops at that step, naming the cause, and
    the checkpoints of the last validation (before it) stay finite instead of taking the NaNs."""
    import json
    import os
    import subprocess
    import sys

    _smooth_training_images(tmp_path / "data" / "T91")
    run = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "training" / "train_fsrcnn.py"), "--scale", "3", "--sets", "T91",
           "--val-nth", "2", "--iters", "6", "--val-every", "1", "--batch", "2", "--lr-patch", "12",
           "--d", "8", "--s", "4", "--m", "1", "--lr", "1e30", "--out", str(run)]
    env = dict(os.environ, FSRCNN_DATA=str(tmp_path / "data"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "diverged" in done.stderr and "--lr" in done.stderr, done.stderr
    log = json.loads((run / "log.json").read_text())
    assert 1 <= len(log) < 6  # stopped early, after at least one validation
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(run / name, map_location="cpu", weights_only=True)
        assert all(torch.isfinite(t).all() for t in ckpt["model"].values()), name
    resume = torch.load(run / "resume.pt", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(t).all() for t in resume["model"].values())


def test_a_short_multi_scale_run_writes_an_exportable_checkpoint(train_fsrcnn, export_module, tmp_path):
    """train_fsrcnn.py --scales 2,3,4 end to end on a few synthetic training images: factored, distilled
    from the committed per-scale fsrcnn teachers (8-view mean), edge patches; the best checkpoint's
    validation PSNR is the mean of the scales', and it exports to a file the engine runs, at every scale,
    as the checkpoint's network."""
    import json
    import subprocess
    import sys

    _smooth_training_images(tmp_path / "data" / "T91")
    ckpts = ROOT / "training" / "checkpoints"
    run = tmp_path / "run"
    cmd = [sys.executable, str(ROOT / "training" / "train_fsrcnn.py"), "--scales", "2,3,4", "--sets", "T91",
           "--val-nth", "2", "--iters", "6", "--val-every", "3", "--batch", "2", "--lr-patch", "12",
           "--loss-margin", "2", "--edge-prob", "0.5", "--d", "8", "--s", "4", "--m", "1", "--expand", "16",
           "--teacher", ",".join(str(ckpts / f) for f in ("x2_edge.pt", "x3_edge.pt", "x4_scratch.pt")),
           "--teacher-ensemble", "--out", str(run)]
    env = dict(__import__("os").environ, FSRCNN_DATA=str(tmp_path / "data"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["scales"] == "2,3,4" and config["deconv_offsets"] == "4,3,3"  # the shipped offsets by default
    assert "scale" not in config and "deconv_offset" not in config
    log = json.loads((run / "log.json").read_text())
    assert [e["iter"] for e in log] == [3, 6]
    ckpt = torch.load(run / "best.pt", map_location="cpu", weights_only=True)
    by_scale = ckpt["val_psnr_by_scale"]
    assert sorted(by_scale) == ["2", "3", "4"] and ckpt["val_psnr"] == pytest.approx(np.mean(list(by_scale.values())))
    assert ckpt["val_psnr"] == max(e["val_psnr"] for e in log)
    meta = export_module.export([str(run / "best.pt")], tmp_path / "run.safetensors")
    assert meta["scales"] == "2,3,4" and meta["license"] == "MIT"
    network = train_fsrcnn.model_from_config(torch, config)
    network.load_state_dict(ckpt["model"])
    x = np.random.default_rng(1).random((9, 10), dtype=np.float32)
    for scale in (2, 3, 4):
        with torch.no_grad():
            want = network(torch.from_numpy(x)[None, None], scale).numpy()[0, 0]
        got = fsrcnn_fast.Model.load(tmp_path / "run.safetensors", scale=scale).run_y(x, threads=1)
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5, err_msg=f"x{scale}")
    # wrong counts of teachers or offsets are refused before any work
    bad = subprocess.run(cmd[:-5] + ["--teacher", str(ckpts / "x2_edge.pt"), "--out", str(run)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "one checkpoint per scale" in bad.stderr
    bad = subprocess.run(cmd + ["--scale", "3"], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--deconv-offsets" in bad.stderr


@pytest.mark.parametrize("joint_loss", ["psnr", "mse"])
def test_multi_scale_step_is_the_gradient_of_the_scales_losses(train_fsrcnn, joint_loss):
    """train_step on a multi-scale factored network (shared layers run once per scale, factors collapsed
    once): its gradient is that of the sum over scales of each scale's loss (edge-masked or inside the
    margin), each over its running mean with --joint-loss psnr (at the first step, its own value), computed
    here pass by pass without collapsed_once."""
    import copy

    model = train_fsrcnn.make_multi_model(torch, list(MULTI), 8, 4, 2, list(MULTI.values()), expand=10).double()
    _randomise_factors(model, seed=21)
    reference = copy.deepcopy(model)
    rng = np.random.default_rng(3)
    batches = {}
    for scale in MULTI:
        lr = rng.random((2, 1, 6, 6))
        hr = rng.random((2, 1, 6 * scale, 6 * scale))
        mask = (rng.random(hr.shape) < 0.7).astype(np.float64) if scale != 3 else None
        batches[scale] = (lr, hr, mask)

    class KeepGradients:  # train_step's optimizer: the gradients stay for the test to read
        def zero_grad(self, set_to_none=True):
            model.zero_grad(set_to_none=True)

        def step(self):
            pass

    loss, losses = train_fsrcnn.train_step(torch, model, KeepGradients(), batches, loss_margin=1,
                                           joint_loss=joint_loss, running={})
    want = 0
    for scale, (lr, hr, mask) in batches.items():
        pred = reference(torch.from_numpy(lr), scale)
        target = torch.from_numpy(hr)
        if mask is None:
            value = ((pred - target)[..., scale:-scale, scale:-scale] ** 2).mean()
        else:
            value = ((pred - target) ** 2 * torch.from_numpy(mask)).sum() / mask.sum()
        assert losses[scale].item() == pytest.approx(value.item(), rel=1e-12)
        want = want + (value / value.item() if joint_loss == "psnr" else value)
    want.backward()
    assert loss.item() == pytest.approx(want.item(), rel=1e-12)
    for (name, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("network", [["--scale", "3", "--deconv-offset", "3"], ["--scales", "2,3,4"]],
                         ids=["x3", "multi-scale"])
def test_resumed_run_is_the_uninterrupted_run(tmp_path, network):
    """A run stopped hard and continued with --resume ends with the same weights, bit for bit, as one
    that ran through (a long cycle can span sessions); a multi-scale run too (every scale's sampler and
    running mean loss resumed)."""
    import os
    import subprocess
    import sys

    data = Path(os.environ.get("FSRCNN_DATA", ROOT.parent / "shared" / "data"))
    if not (data / "T91").is_dir():
        pytest.skip(f"training images not found under {data} (set FSRCNN_DATA)")
    args = [sys.executable, str(ROOT / "training" / "train_fsrcnn.py"), "--batch", "4", "--lr-patch", "12",
            "--sets", "T91", "--val-sets", "T91", "--val-nth", "30", *network,
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


@pytest.mark.parametrize("shares", ["1,2", "1,0,1", "1,two,1"])
def test_set_shares_refused_unless_one_positive_number_per_set(tmp_path, shares):
    import subprocess

    cmd = [sys.executable, str(ROOT / "training" / "train_fsrcnn.py"), "--sets", "T91,General-100,BSD200-train",
           "--set-shares", shares, "--out", str(tmp_path / "run")]
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--set-shares" in bad.stderr, bad.stderr
    assert not (tmp_path / "run").exists()
