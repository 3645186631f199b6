"""PyTorch state dicts: the safe reader (both serialisations, views, dtypes, hostile files), the
architecture inference, the export, and the real yjn870 FSRCNN files against torch and the oracle.

torch is used only to write test files and as a reference; tests that need it skip without it."""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest

from datafiles import require_file
import netgen
import oracle
from fsrcnn_fast import Model, WeightsError
from fsrcnn_fast.weights import torch_io
from fsrcnn_fast.weights.schema import Deconv, Subpixel

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - depends on the environment
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed")
FORMATS = ["zip", "legacy"]
YJN870_PATH = "weights/yjn870_fsrcnn_pytorch_pr6/fsrcnn_x{}.pth"
YJN870_SET5 = {2: 37.11, 3: 32.58, 4: 30.50}  # /work/shared/docs/reference-weights.md


def image(seed=0, shape=(16, 20)):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


# ---- torch models in the layouts the importer knows ---------------------------------------------


def _randomise(model, seed):
    """Random weights, and PReLU slopes that differ per channel (torch starts them all at 0.25)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.4)
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                m.bias.uniform_(-0.1, 0.1)
    return model


def _deconv(d, scale):
    return nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)


if torch is not None:

    class YJN870(nn.Module):
        """yjn870/FSRCNN-pytorch's model."""

        def __init__(self, scale, d=56, s=12, m=4):
            super().__init__()
            self.first_part = nn.Sequential(nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d))
            mid = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
            for _ in range(m):
                mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
            mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
            self.mid_part = nn.Sequential(*mid)
            self.last_part = _deconv(d, scale)

        def forward(self, x):
            return self.last_part(self.mid_part(self.first_part(x)))

    class Named(nn.Module):
        """feature_extraction / shrink / map / expand / deconv, with nested Sequentials."""

        def __init__(self, scale, d=8, s=4, m=2):
            super().__init__()
            self.feature_extraction = nn.Sequential(nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d))
            self.shrink = nn.Sequential(nn.Conv2d(d, s, 1), nn.PReLU(s))
            self.map = nn.Sequential(*[l for _ in range(m) for l in (nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s))])
            self.expand = nn.Sequential(nn.Conv2d(s, d, 1), nn.PReLU(d))
            self.deconv = _deconv(d, scale)

        def forward(self, x):
            return self.deconv(self.expand(self.map(self.shrink(self.feature_extraction(x)))))

    class SRCNN(nn.Module):
        def __init__(self, n1=8, n2=4):
            super().__init__()
            self.conv1 = nn.Conv2d(1, n1, 9, padding=4)
            self.conv2 = nn.Conv2d(n1, n2, 5, padding=2)
            self.conv3 = nn.Conv2d(n2, 1, 5, padding=2)

        def forward(self, x):
            return self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(x)))))


def sequential_subpixel(scale, d=8, s=4):
    """A plain Sequential ending in a sub-pixel conv (shared PReLU slopes: nn.PReLU())."""
    return nn.Sequential(
        nn.Conv2d(1, d, 5, padding=2), nn.PReLU(),
        nn.Conv2d(d, s, 1), nn.PReLU(s),
        nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s),
        nn.Conv2d(s, d, 1), nn.PReLU(d),
        nn.Conv2d(d, scale * scale, 3, padding=1), nn.PixelShuffle(scale),
    )


def sequential_relu(scale, d=8, s=4):
    """A Sequential with nn.ReLU (no tensors: index gaps) and a ConvTranspose2d tail."""
    return nn.Sequential(
        nn.Conv2d(1, d, 5, padding=2), nn.ReLU(),
        nn.Conv2d(d, s, 1), nn.ReLU(),
        nn.Conv2d(s, d, 1), nn.ReLU(),
        _deconv(d, scale),
    )


MODELS = {
    "yjn870": lambda scale: YJN870(scale, d=8, s=4, m=2),
    "named": lambda scale: Named(scale),
    "sequential-subpixel": sequential_subpixel,
    "sequential-relu": sequential_relu,
    "srcnn": lambda scale: SRCNN(),
}


def torch_run(model, y, pre_upsample_scale=None):
    """The torch model in float64 on y (bicubic-upscaled first for SRCNN, as the library does)."""
    x = oracle.bicubic_up(y, pre_upsample_scale) if pre_upsample_scale else np.asarray(y, np.float64)
    with torch.no_grad():
        return model.double()(torch.from_numpy(np.ascontiguousarray(x))[None, None])[0, 0].numpy()


def save(obj, path, fmt):
    torch.save(obj, path, _use_new_zipfile_serialization=(fmt == "zip"))
    return path


def check_runs_like(spec, model, y, pre_upsample_scale=None):
    """Our engine vs the oracle vs torch itself, all to 1e-4."""
    ours = Model(spec).run_y(y)
    np.testing.assert_allclose(ours, oracle.run(spec, y), atol=1e-4)
    np.testing.assert_allclose(ours, torch_run(model, y, pre_upsample_scale), atol=1e-4)


# ---- the real yjn870 files ----------------------------------------------------------------------


@pytest.fixture(params=[2, 3, 4])
def yjn870_file(request, shared_data):
    path = require_file(shared_data / YJN870_PATH.format(request.param))
    return request.param, path


def test_real_yjn870_file_loads(yjn870_file):
    scale, path = yjn870_file
    spec = torch_io.load_torch(path)
    assert spec.kind == "fsrcnn" and spec.scale == scale and not spec.pre_upsample
    assert [l.weight.shape for l in spec.layers] == [(56, 1, 5, 5), (12, 56, 1, 1), *[(12, 12, 3, 3)] * 4,
                                                     (56, 12, 1, 1)]
    assert all(l.activation == "prelu" and l.slope.shape == (l.cout,) and l.border == "zero" for l in spec.layers)
    assert isinstance(spec.tail, Deconv)
    assert spec.tail.weight.shape == (56, 1, 9, 9) and spec.tail.offset == 4 and spec.tail.border == "zero"
    assert spec.metadata["layout"] == "yjn870" and spec.metadata["source"].endswith(path.name)
    y = image(scale)
    np.testing.assert_allclose(Model(spec).run_y(y), oracle.run(spec, y), atol=1e-4)


@needs_torch
def test_real_yjn870_file_matches_torch(yjn870_file):
    scale, path = yjn870_file
    state = torch.load(path, map_location="cpu", weights_only=True)
    ours = torch_io.load_torch_state_dict(path)
    assert list(ours) == list(state)
    for key, value in state.items():
        np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)
    model = YJN870(scale)
    model.load_state_dict(state)
    check_runs_like(torch_io.load_torch(path), model, image(scale))


def test_real_yjn870_reproduces_set5(shared_data):
    from fsrcnn_fast import metrics

    set5 = metrics.read_image_set(shared_data / "Set5")
    for scale, want in YJN870_SET5.items():
        path = require_file(shared_data / YJN870_PATH.format(scale))
        model = Model(torch_io.load_torch(path))
        scores = metrics.evaluate_set(set5, scale, model.run_y)
        assert np.mean([s.psnr for s in scores]) == pytest.approx(want, abs=0.01)


def test_real_yjn870_file_truncated_or_corrupted(yjn870_file, tmp_path):
    _, path = yjn870_file
    data = path.read_bytes()
    for n in (10, len(data) // 3, len(data) // 2, len(data) - 1):
        cut = tmp_path / "cut_x3.pth"
        cut.write_bytes(data[:n])
        with pytest.raises(WeightsError):
            torch_io.load_torch(cut)
    # Single flipped bytes anywhere: a clean error or a loadable file, never another exception.
    rng = np.random.default_rng(0)
    bad = tmp_path / "bad_x3.pth"
    for pos in rng.integers(0, len(data), 40):
        mutated = bytearray(data)
        mutated[pos] ^= 0xFF
        bad.write_bytes(bytes(mutated))
        try:
            torch_io.load_torch(bad)
        except ValueError:
            pass


# ---- synthetic files in every layout, both serialisations ---------------------------------------


@needs_torch
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("layout", list(MODELS))
def test_layouts_match_torch(tmp_path, layout, fmt):
    scale = 3
    model = _randomise(MODELS[layout](scale), seed=1)
    path = save(model.state_dict(), tmp_path / f"{layout}_x{scale}.pth", fmt)
    spec = torch_io.load_torch(path)
    assert spec.scale == scale
    if layout == "srcnn":
        assert spec.kind == "srcnn" and spec.pre_upsample and spec.tail is None
        assert [l.activation for l in spec.layers] == ["relu", "relu", "none"]
        check_runs_like(spec, model, image(0, (8, 9)), pre_upsample_scale=scale)
        return
    assert isinstance(spec.tail, Subpixel if "subpixel" in layout else Deconv)
    expected = {"yjn870": "yjn870", "named": "named", "srcnn": "srcnn"}.get(layout, "sequential")
    assert spec.metadata["layout"] == expected
    if layout == "sequential-relu":
        assert [l.activation for l in spec.layers] == ["relu"] * 3
    check_runs_like(spec, model, image(0))


@needs_torch
def test_subpixel_tail_gives_the_scale(tmp_path):
    model = _randomise(sequential_subpixel(2), seed=2)
    path = save(model.state_dict(), tmp_path / "nameless.pt", "zip")
    spec = torch_io.load_torch(path)
    assert spec.scale == 2 and spec.layers[0].slope.shape == (1,)
    with pytest.raises(WeightsError, match=r"sub-pixel conv to scale² channels \[9, 8, k, k\]"):
        torch_io.load_torch(path, scale=3)


@needs_torch
@pytest.mark.parametrize("fmt", FORMATS)
def test_wrappers_and_prefixes(tmp_path, fmt):
    model = _randomise(YJN870(2, d=8, s=4, m=1), seed=3)
    state = model.state_dict()
    other = _randomise(YJN870(2, d=8, s=4, m=1), seed=4).state_dict()
    want = torch_io.spec_from_state_dict({k: v.numpy() for k, v in state.items()}, 2)
    wrapped = {
        "state_dict": {"state_dict": state, "epoch": 7, "best_psnr": 32.5},
        "params_ema": {"params": other, "params_ema": state},
        "module": {"model": collections.OrderedDict(("module." + k, v) for k, v in state.items())},
        "net": {"net": {"_orig_mod." + k: v for k, v in state.items()}, "optimizer": {"lr": 1e-3}},
    }
    for name, obj in wrapped.items():
        spec = torch_io.load_torch(save(obj, tmp_path / f"{name}_x2.pth", fmt))
        for a, b in zip(spec.layers, want.layers):
            np.testing.assert_array_equal(a.weight, b.weight, err_msg=name)
            np.testing.assert_array_equal(a.slope, b.slope, err_msg=name)
        np.testing.assert_array_equal(spec.tail.weight, want.tail.weight, err_msg=name)


@needs_torch
@pytest.mark.parametrize("fmt", FORMATS)
def test_dtypes(tmp_path, fmt):
    model = _randomise(Named(4), seed=5)
    check_runs_like(torch_io.load_torch(save(model.double().state_dict(), tmp_path / "f64_x4.pth", fmt)),
                    model, image(1))
    tensors = {"h": torch.randn(3, 5, dtype=torch.float16), "bf": torch.randn(7, dtype=torch.bfloat16),
               "i": torch.arange(-3, 3), "b": torch.tensor([True, False]), "d": torch.randn(2, dtype=torch.float64)}
    got = torch_io.read_torch_file(save(tensors, tmp_path / "dtypes.pt", fmt))
    assert got["h"].dtype == np.float16 and got["bf"].dtype == np.float32 and got["i"].dtype == np.int64
    for key, value in tensors.items():
        np.testing.assert_array_equal(got[key], value.float().numpy() if key == "bf" else value.numpy(), err_msg=key)


@needs_torch
@pytest.mark.parametrize("fmt", FORMATS)
def test_views_offsets_and_shared_storage(tmp_path, fmt):
    torch.manual_seed(6)
    big = torch.randn(1000)
    wide = torch.randn(4, 3, 10, 10)
    tensors = {
        "offset_view": big[100:100 + 2 * 3 * 5 * 5].view(2, 3, 5, 5),
        "same_storage": big[7:19],
        "strided": wide[:, :, ::2, 1::2],  # non-contiguous
        "permuted": torch.randn(5, 5, 3, 4).permute(3, 2, 0, 1),
        "expanded": torch.randn(3, 1).expand(3, 4),  # stride 0
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "contiguous_slice": wide[:, :, ::1],
    }
    path = save(tensors, tmp_path / "views.pt", fmt)
    got = torch_io.read_torch_file(path)
    for key, value in tensors.items():
        assert got[key].shape == tuple(value.shape), key
        np.testing.assert_array_equal(got[key], value.numpy(), err_msg=key)
    assert not got["offset_view"].flags.writeable
    if fmt == "zip":
        assert len([n for n in zipfile.ZipFile(path).namelist() if "/data/" in n]) == 6  # big, wide shared


@needs_torch
def test_view_weights_build_a_network(tmp_path):
    """A state dict whose tensors are non-contiguous views still gives the right network."""
    model = _randomise(YJN870(3, d=8, s=4, m=1), seed=7)
    state = collections.OrderedDict()
    for key, value in model.state_dict().items():
        pool = torch.zeros(value.numel() * 2 + 5)
        view = pool[5:5 + 2 * value.numel():2].view(value.shape) if value.dim() else value
        view.copy_(value)
        state[key] = view
    assert not state["first_part.0.weight"].is_contiguous()
    check_runs_like(torch_io.load_torch(save(state, tmp_path / "views_x3.pth", "legacy")), model, image(2))


@needs_torch
def test_whole_pickled_model_is_refused(tmp_path):
    path = tmp_path / "model_x3.pth"
    torch.save(YJN870(3, d=4, s=2, m=1), path)
    with pytest.raises(torch_io.UnsafePickleError, match="refused to load global .*state_dict"):
        torch_io.load_torch(path)


@needs_torch
@pytest.mark.parametrize("fmt", FORMATS)
def test_parameters_and_module_metadata(tmp_path, fmt):
    """nn.Parameter objects (torch.save of named_parameters) rebuild as their tensors."""
    model = _randomise(Named(2), seed=8)
    params = collections.OrderedDict(model.named_parameters())
    params["shrink.1.weight"].extra_state = "x"  # a parameter with a __dict__: _rebuild_parameter_with_state
    got = torch_io.read_torch_file(save(params, tmp_path / "params.pt", fmt))
    for key, value in params.items():
        np.testing.assert_array_equal(got[key], value.detach().numpy(), err_msg=key)
    check_runs_like(torch_io.spec_from_state_dict(got, 2), model, image(6))


@needs_torch
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_archive_is_explained(tmp_path):
    path = tmp_path / "scripted_x2.pt"
    torch.jit.script(YJN870(2, d=4, s=2, m=1)).save(str(path))
    with pytest.raises(WeightsError, match="TorchScript archive"):
        torch_io.load_torch(path)


# ---- hostile and broken files (no torch needed) -------------------------------------------------


def _os_system_pickle(command: str) -> bytes:
    """A protocol-2 pickle of os.system(command), written opcode by opcode (pickle.dumps would name
    the platform module, posix.system)."""
    raw = command.encode()
    return b"\x80\x02cos\nsystem\n(X" + struct.pack("<I", len(raw)) + raw + b"tR."


class _Call:
    """Pickles as a call of fn(*args): what a hostile .pth file holds."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _zip_with(data_pkl: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/version", b"3\n")
    return buf.getvalue()


def _legacy_with(main: bytes) -> bytes:
    header = [0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}]
    return b"".join(pickle.dumps(x, protocol=2) for x in header) + main + pickle.dumps([], protocol=2)


@pytest.mark.parametrize("container", ["zip", "legacy", "bare"])
@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", f"{os.system.__module__}.system"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, container, payload):
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    if payload == "os.system":
        pkl = _os_system_pickle(command)
    elif payload == "builtins.eval":
        pkl = pickle.dumps(_Call(eval, f"open({str(marker)!r}, 'w')"), protocol=4)  # STACK_GLOBAL
    else:
        pkl = pickle.dumps(_Call(os.system, command), protocol=2)  # GLOBAL posix.system on Linux
    data = {"zip": _zip_with, "legacy": _legacy_with, "bare": lambda p: p}[container](pkl)
    path = tmp_path / "evil_x3.pth"
    path.write_bytes(data)
    with pytest.raises(torch_io.UnsafePickleError, match=f"refused to load global {payload}"):
        torch_io.load_torch(path)
    with pytest.raises(ValueError, match=payload):
        torch_io.read_torch_file(path)
    assert not marker.exists()


def test_extension_opcodes_are_refused(tmp_path):
    path = tmp_path / "ext.pt"
    path.write_bytes(_zip_with(b"\x80\x02\x82\x01."))
    with pytest.raises(torch_io.UnsafePickleError, match="EXT1"):
        torch_io.read_torch_file(path)


def test_out_of_bounds_tensor_is_refused(tmp_path):
    """A tensor whose size and stride reach past its storage must not read memory beyond it."""
    w = torch_io._PickleWriter()
    pkl = w.state_dict([("w", np.zeros((2, 2), np.float32))])
    pkl = pkl.replace(b"K\x02K\x02t", b"J\x00\x00\x01\x00J\x00\x00\x01\x00t", 1)  # size (65536, 65536)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pkl)
        zf.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    path = tmp_path / "oob.pt"
    path.write_bytes(buf.getvalue())
    with pytest.raises(WeightsError, match="reaches element"):
        torch_io.read_torch_file(path)


def test_big_endian_zip(tmp_path):
    """A file saved on a big-endian machine says so in its byteorder record."""
    arr = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    pkl = torch_io._PickleWriter().state_dict([("w", arr)])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("be/data.pkl", pkl)
        zf.writestr("be/byteorder", b"big")
        zf.writestr("be/data/0", arr.astype(">f4").tobytes())
    path = tmp_path / "be.pt"
    path.write_bytes(buf.getvalue())
    got = torch_io.read_torch_file(path)["w"]
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("data, words", [
    (b"\xff" * 100, "not a PyTorch file"),
    (b"", "not a PyTorch file"),
    (b"PK\x03\x04" + b"\x00" * 50, "not a readable PyTorch zip"),
    (b"\x80\x02garbage", "not a readable PyTorch file"),
    (pickle.dumps({"a": 1}, protocol=2), "magic number"),
])
def test_garbage_files(tmp_path, data, words):
    path = tmp_path / "g_x3.pth"
    path.write_bytes(data)
    with pytest.raises(WeightsError, match=words):
        torch_io.load_torch(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        torch_io.load_torch(tmp_path / "none_x3.pth")


def test_not_a_state_dict(tmp_path):
    path = tmp_path / "list_x3.pt"
    path.write_bytes(_legacy_with(pickle.dumps([1, 2, 3], protocol=2)))
    with pytest.raises(WeightsError, match="holds a list, not a state dict"):
        torch_io.load_torch(path)
    path.write_bytes(_legacy_with(pickle.dumps({"epoch": 3, "lr": 0.1}, protocol=2)))
    with pytest.raises(WeightsError, match="none of the keys"):
        torch_io.load_torch(path)


# ---- inference rules and errors on numpy state dicts -------------------------------------------


def yjn870_state(rng, d=8, s=4, m=2, prelu_shared=False):
    """A yjn870-layout state dict in numpy."""
    t = collections.OrderedDict()

    def conv(name, cin, cout, k, act):
        t[f"{name}.weight"] = rng.normal(0, 0.3, (cout, cin, k, k)).astype(np.float32)
        t[f"{name}.bias"] = rng.normal(0, 0.1, cout).astype(np.float32)
        t[f"{act}.weight"] = rng.uniform(0.05, 0.4, 1 if prelu_shared else cout).astype(np.float32)

    conv("first_part.0", 1, d, 5, "first_part.1")
    chans = [d, s, *[s] * m, d]
    for i, (cin, cout) in enumerate(zip(chans, chans[1:])):
        conv(f"mid_part.{2 * i}", cin, cout, 3 if cin == cout else 1, f"mid_part.{2 * i + 1}")
    t["last_part.weight"] = rng.normal(0, 0.05, (d, 1, 9, 9)).astype(np.float32)
    t["last_part.bias"] = np.array([0.02], np.float32)
    return t


def same_arrays(a, b):
    assert len(a.layers) == len(b.layers)
    for x, y in zip(a.layers, b.layers):
        np.testing.assert_array_equal(x.weight, y.weight)
        np.testing.assert_array_equal(x.bias, y.bias)
        np.testing.assert_array_equal(x.slope, y.slope)
        assert x.activation == y.activation and x.border == y.border
    np.testing.assert_array_equal(a.tail.weight, b.tail.weight)
    np.testing.assert_array_equal(a.tail.bias, b.tail.bias)


def test_lost_order_still_parses():
    """safetensors and JSON sort keys: last_part before mid_part, mid_part.10 before mid_part.2."""
    state = yjn870_state(np.random.default_rng(0), m=5)
    want = torch_io.spec_from_state_dict(state, 3)
    shuffled = dict(sorted(state.items()))
    keys = list(shuffled)
    assert keys.index("last_part.bias") < keys.index("mid_part.0.bias") < keys.index("mid_part.10.bias") < keys.index(
        "mid_part.2.bias")
    same_arrays(torch_io.spec_from_state_dict(shuffled, 3), want)
    assert [l.name for l in want.layers][:3] == ["first_part.0", "mid_part.0", "mid_part.2"]


def test_options_border_offset_and_shared_prelu():
    state = yjn870_state(np.random.default_rng(1), prelu_shared=True)
    spec = torch_io.spec_from_state_dict(state, 3, border="replicate", offset=3)
    assert spec.tail.offset == 3 and spec.metadata["deconv_offset"] == "3"
    assert all(l.border == "replicate" for l in spec.layers) and spec.tail.border == "replicate"
    assert spec.layers[0].slope.shape == (1,)
    y = image(3, (9, 11))
    np.testing.assert_allclose(Model(spec).run_y(y), oracle.run(spec, y), atol=1e-4)
    with pytest.raises(ValueError, match="border"):
        torch_io.spec_from_state_dict(state, 3, border="mirror")
    with pytest.raises(ValueError, match="scale must be an integer"):
        torch_io.spec_from_state_dict(state, 0)


def test_native_naming_with_prelu_tensor():
    spec = netgen.fsrcnn(np.random.default_rng(2), d=8, s=4, m=2, scale=2)
    state = {}
    for l in spec.layers:
        state.update({f"{l.name}.weight": l.weight, f"{l.name}.bias": l.bias, f"{l.name}.prelu": l.slope})
    state.update({"deconv.weight": spec.tail.weight, "deconv.bias": spec.tail.bias})
    got = torch_io.spec_from_state_dict(state, 2)
    same_arrays(got, spec)
    assert got.metadata["layout"] == "named"


def test_mapping():
    """Any naming, described module by module; PReLUs may call their tensor anything (here alpha)."""
    base = yjn870_state(np.random.default_rng(3), m=1)
    rename = {"first_part.0": "head.conv", "first_part.1": "head.act", "mid_part.0": "body.0", "mid_part.1": "body.1",
              "mid_part.2": "body.2", "mid_part.3": "body.3", "mid_part.4": "tail_in", "mid_part.5": "tail_act",
              "last_part": "up"}
    roles = {"head.act": "prelu", "body.1": "prelu", "body.3": "prelu", "tail_act": "prelu", "up": "deconv"}
    state = {}
    for key, value in base.items():
        prefix, _, name = key.rpartition(".")
        new = rename[prefix]
        state[f"{new}.{'alpha' if roles.get(new) == 'prelu' else name}"] = value
    state["disc.fc.weight"] = np.zeros((1, 5), np.float32)
    mapping = [(new, roles.get(new, "conv")) for new in rename.values()] + [("disc", "ignore")]
    want = torch_io.spec_from_state_dict(base, 3)
    same_arrays(torch_io.spec_from_state_dict(state, 3, mapping=mapping), want)
    same_arrays(torch_io.spec_from_state_dict(state, 3, mapping=dict(mapping)), want)
    with pytest.raises(WeightsError, match="disc.fc.weight: not covered by mapping"):
        torch_io.spec_from_state_dict(state, 3, mapping=mapping[:-1])
    with pytest.raises(WeightsError, match="names 'nope', but no tensor"):
        torch_io.spec_from_state_dict(state, 3, mapping=[*mapping, ("nope", "conv")])
    with pytest.raises(ValueError, match="role one of"):
        torch_io.spec_from_state_dict(state, 3, mapping=[("head.conv", "convolution")])


def test_mapping_relu_srcnn():
    spec = netgen.srcnn(np.random.default_rng(4), 9, 1, 5, n1=8, n2=4, scale=2, border="zero")
    state = {f"layers.{i}.{n}": getattr(l, n) for i, l in enumerate(spec.layers) for n in ("weight", "bias")}
    got = torch_io.spec_from_state_dict(state, 2, mapping={"layers.0": "conv+relu", "layers.1": "conv+relu",
                                                           "layers.2": "conv"})
    assert got.kind == "srcnn" and [l.activation for l in got.layers] == ["relu", "relu", "none"]
    y = image(4, (6, 7))
    np.testing.assert_allclose(Model(got).run_y(y), oracle.run(spec, y), atol=1e-4)


def _with(state, **changes):
    out = collections.OrderedDict(state)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("change, words", [
    ({"last_part__weight": np.zeros((1, 8, 9, 9), np.float32)},
     r"last_part.weight: expected ConvTranspose2d weight \[d, 1, k, k\] with d = 8 .*got \(1, 8, 9, 9\)"),
    ({"last_part__bias": np.zeros(2, np.float32)}, "last_part.bias: a deconvolution to one channel has one bias"),
    ({"mid_part__2__weight": np.zeros((4, 5, 3, 3), np.float32)},
     r"mid_part.2.weight: shape \(4, 5, 3, 3\) takes 5 input channels, but the layer before gives 4"),
    ({"mid_part__3__weight": np.zeros(3, np.float32)},
     "mid_part.3.weight: 3 PReLU slopes after mid_part.2, which gives 4 channels"),
    ({"first_part__1__weight": None}, "first_part.0.weight: not followed by a PReLU.*mapping="),
    ({"mid_part__1__running_mean": np.zeros(4, np.float32)}, "batch normalisation"),
    ({"first_part__0__weight": np.zeros((8, 25), np.float32)}, r"first_part.0.weight: shape \(8, 25\) with a bias"),
    ({"first_part__0__bias": np.zeros(8, np.int64)}, "first_part.0.bias: expected a floating-point tensor"),
    ({"first_part__2__scale": np.zeros(3, np.float32)}, "first_part.2.scale: unexpected tensor"),
])
def test_wrong_tensors_are_named(change, words):
    state = _with(yjn870_state(np.random.default_rng(5)), **change)
    with pytest.raises(WeightsError, match=words):
        torch_io.spec_from_state_dict(state, 3, source="bad.pth")


def test_unknown_tail_shape_is_explained():
    state = {"0.weight": np.zeros((8, 1, 3, 3), np.float32), "0.bias": np.zeros(8, np.float32),
             "1.weight": np.zeros((5, 8, 3, 3), np.float32), "1.bias": np.zeros(5, np.float32)}
    with pytest.raises(WeightsError, match=r"1.weight: shape \(5, 8, 3, 3\) ends the network"):
        torch_io.spec_from_state_dict(state, 3)


def test_scale_from_name():
    assert torch_io.scale_from_name("fsrcnn_x3.pth") == 3
    assert torch_io.scale_from_name("/a/x4.pt") == 4
    assert torch_io.scale_from_name("FSRCNN-X2-best.pth") == 2
    assert torch_io.scale_from_name("box2.pth") is None and torch_io.scale_from_name("model.pth") is None
    with pytest.raises(WeightsError, match=r"scales \[2, 3\]"):
        torch_io.scale_from_name("fsrcnn_x2_to_x3.pth")


def test_scale_needed_for_a_deconv(tmp_path):
    path = tmp_path / "fsrcnn.pth"
    torch_io.save_torch_state_dict(torch_io.spec_from_state_dict(yjn870_state(np.random.default_rng(6)), 3), path)
    with pytest.raises(WeightsError, match="pass scale="):
        torch_io.load_torch(path)
    assert torch_io.load_torch(path, scale=4).scale == 4


# ---- export -------------------------------------------------------------------------------------


def test_export_round_trip(tmp_path):
    spec = torch_io.spec_from_state_dict(yjn870_state(np.random.default_rng(7), m=3, prelu_shared=True), 4)
    path = tmp_path / "exported_x4.pth"
    torch_io.save_torch_state_dict(spec, path)
    back = torch_io.load_torch(path)
    assert back.scale == 4 and back.tail.offset == 4
    for a, b in zip(back.layers, spec.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        np.testing.assert_array_equal(a.slope, np.broadcast_to(b.slope, (b.cout,)))  # per channel in torch
    np.testing.assert_array_equal(back.tail.weight, spec.tail.weight)
    names = zipfile.ZipFile(path).namelist()
    assert "archive/data.pkl" in names and "archive/version" in names
    assert list(torch_io.load_torch_state_dict(path))[:4] == ["first_part.0.weight", "first_part.0.bias",
                                                             "first_part.1.weight", "mid_part.0.weight"]


@pytest.mark.parametrize("make, words", [
    (lambda r: netgen.fsrcnn(r, d=8, s=4, m=1, tail="subpixel"), "deconvolution tail"),
    (lambda r: netgen.fsrcnn(r, d=8, s=4, m=1, border="replicate"), "replicate"),
    (lambda r: netgen.fsrcnn(r, d=8, s=4, m=1, offset=3), "offset is 3"),
    (lambda r: netgen.srcnn(r, n1=8, n2=4), "deconvolution tail"),
])
def test_export_refuses_what_the_model_cannot_express(tmp_path, make, words):
    with pytest.raises(WeightsError, match=words):
        torch_io.save_torch_state_dict(make(np.random.default_rng(8)), tmp_path / "x_x3.pth")
    assert not (tmp_path / "x_x3.pth").exists()


@needs_torch
def test_export_loads_in_torch_weights_only(tmp_path):
    scale = 2
    spec = netgen.fsrcnn(np.random.default_rng(9), d=8, s=4, m=2, scale=scale, shared_slope=True)
    path = tmp_path / "fsrcnn_x2.pth"
    torch_io.save_torch_state_dict(spec, path)
    state = torch.load(path, weights_only=True)
    assert all(v.dtype == torch.float32 and v.device.type == "cpu" for v in state.values())
    model = YJN870(scale, d=8, s=4, m=2)
    model.load_state_dict(state)  # strict: every key and shape as yjn870's model has them
    check_runs_like(spec, model, image(5))
    assert torch.load(path, weights_only=True, mmap=True)["last_part.bias"].item() == pytest.approx(
        float(spec.tail.bias[0]))
