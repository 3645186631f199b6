"""Train FSRCNN on CPU with PyTorch, the paper's data preparation, modern optimisation.

Data: Y channel (MATLAB rgb2ycbcr) of the training sets under $FSRCNN_DATA
(T91, General-100, BSD200-train; never Set5/Set14), augmented as in the paper by
downscaling with factors 0.9/0.8/0.7/0.6 and by rotation (plus flips); LR images
made by MATLAB-style bicubic downscaling. A held-out split of the training
images (--val-sets, --val-nth; by default every 20th BSD200 image) picks the checkpoint. The network matches the engine:
replicate padding at the image edge (border "replicate": every conv pads with
the nearest edge pixel, and the deconv treats LR pixels beyond the edge as the
nearest edge pixel), PReLU per channel, deconv offset --deconv-offset:
out[o] = sum_p x[p] w[o + offset - scale*p]. Offset 4 is PyTorch's
ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale-1). At x3,
MATLAB's bicubic puts LR pixel p at HR 3p + 1, so offset 3 centres the 9 taps on
it; offset 4 leaves one tap of support on one side (about 0.6 dB on Set5).

Random patches almost never touch the image edge, and --loss-margin leaves out their outer pixels, so
the padding at the border is never trained; with --edge-prob some patches lie flush with an image edge
and the loss counts the pixels there (worth 0.15-0.37 dB within 3 LR pixels of the edge for fsrcnn).

With --teacher, a trained larger network's output (optionally its 8 rotation/flip mean) is blended into
each target: knowledge distillation, worth a little for FSRCNN-s.

With --expand WIDE, each convolution but the deconvolution trains as two linear factors (k x k to WIDE
channels, then 1 x 1 back, plus the identity on the 3 x 3 maps) multiplied into one k x k weight at every
step: the network is the same, its checkpoints plain, but gradient descent finds a better one (FSRCNN-s x3
from scratch: one 400k-iteration cycle beat, on every held-out split, a 2.0M-iteration chain of plain
cycles, by 0.03-0.05 dB).

With --scales 2,3,4, one network for every scale (fsrcnn-multi): the layers before the deconvolution are
shared, each scale has its own deconvolution (--deconv-offsets; by default the per-scale files' 4, 3, 3),
and each step draws a batch per scale, runs it through the shared layers and its scale's deconvolution,
and takes one Adam step on the sum of the scales' losses (over their running means: --joint-loss). A batch
per scale rather than scales in turn: every update of the shared layers is a descent direction for all
three scales at once (alternating would pull them towards one scale per step, the three directions
averaged only through Adam's momentum), and one collapse of the --expand factors and one optimizer step
serve three scales (a factored step: 1.08-1.11x three plain per-scale steps, training/step_cost.py). --teacher takes one
checkpoint per scale; the validation PSNR that picks the checkpoint is the mean of the scales' (each logged).

Example (a first cycle from scratch; training/make_shipped.sh has the exact command of every shipped file):
    python training/train_fsrcnn.py --scale 3 --deconv-offset 3 --iters 440000 --seed 301 \
        --batch 16 --lr-patch 24 --loss-margin 4 --out training/runs/fsrcnn_x3_scratch
Continue from a checkpoint (its deconvolution re-learnt if the scale differs):
    python training/train_fsrcnn.py --scale 3 --lr 3e-4 --init training/checkpoints/x3_edge.pt ...
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from fsrcnn_fast.color import rgb_to_y_uint8  # noqa: E402
from fsrcnn_fast.metrics import modcrop, psnr, shave, to_uint8  # noqa: E402
from fsrcnn_fast.resize import imresize  # noqa: E402

TRAIN_SETS = ("T91", "General-100", "BSD200-train")
AUG_SCALES = (1.0, 0.9, 0.8, 0.7, 0.6)


def data_root() -> Path:
    return Path(os.environ.get("FSRCNN_DATA", ROOT.parent / "shared" / "data"))


def load_y_images(sets=TRAIN_SETS, val_nth: int = 20, val_sets=()) -> tuple[dict[str, list[np.ndarray]], list[np.ndarray]]:
    """Y planes of each training set (by set name) and of the validation images. Every val_nth image of
    the validation sets is held out: of val_sets if given, else of BSD200-train when it is used, else of
    every set used."""
    from PIL import Image

    val_sets = set(val_sets) or ({"BSD200-train"} if "BSD200-train" in sets else set(sets))
    train: dict[str, list[np.ndarray]] = {}
    val = []
    for name in sets:
        paths = sorted((data_root() / name).glob("*"))
        for i, p in enumerate(paths):
            rgb = np.asarray(Image.open(p).convert("RGB"))
            y = rgb_to_y_uint8(rgb).astype(np.float64) / 255.0
            if name in val_sets and i % val_nth == 0:
                val.append(y)
            else:
                train.setdefault(name, []).append(y)
    return train, val


def build_pairs(images: list[np.ndarray], scale: int, aug_scales=AUG_SCALES) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for y in images:
        for f in aug_scales:
            hr = y if f == 1.0 else np.clip(imresize(y, f), 0.0, 1.0)
            hr = modcrop(hr, scale)
            if min(hr.shape) < 16 * scale:
                continue
            lr = imresize(hr, 1.0 / scale)
            pairs.append((lr.astype(np.float32), hr.astype(np.float32)))
    return pairs


class PatchSampler:
    """Random LR/HR patch pairs, each pixel of a set equally likely. Sets are drawn in proportion to their
    area, or, with balance_sets, equally often (BSD200-train alone is three times T91 + General-100), or,
    with set_shares (one number per set, in pairs_by_set's order), in those proportions."""

    def __init__(self, pairs_by_set: dict, scale: int, lr_patch: int, seed: int, balance_sets: bool = False,
                 edge_prob: float = 0.0, loss_margin: int = 0, set_shares=None):
        if set_shares is not None and len(set_shares) != len(pairs_by_set):
            raise ValueError(f"set_shares: one share per set ({len(pairs_by_set)}), got {len(set_shares)}")
        if set_shares is None and balance_sets:
            set_shares = [1.0] * len(pairs_by_set)
        self.pairs, weights = [], []
        for k, pairs in enumerate(pairs_by_set.values()):
            kept = [p for p in pairs if min(p[0].shape) >= lr_patch]
            area = np.array([p[0].size for p in kept], dtype=np.float64)
            self.pairs += kept
            weights.append(area if set_shares is None else set_shares[k] * area / area.sum())
        weights = np.concatenate(weights)
        self.prob = weights / weights.sum()
        self.scale, self.lr_patch = scale, lr_patch
        self.edge_prob, self.loss_margin = edge_prob, loss_margin
        self.rng = np.random.default_rng(seed)

    def _corner(self, extent: int) -> int:
        """A patch's first row (or column) in a plane of `extent` LR pixels: uniform, or, with probability
        edge_prob, flush with one of the plane's two edges."""
        last = extent - self.lr_patch
        if self.edge_prob and self.rng.random() < self.edge_prob:
            return int(self.rng.integers(0, 2)) * last
        return int(self.rng.integers(0, last + 1))

    def _loss_mask(self, i: int, j: int, shape) -> np.ndarray:
        """1 on the HR pixels the loss counts: all but loss_margin LR pixels at each patch side that lies
        inside the image (their receptive field runs into the patch's padding, which the image does not
        have); a side on the image's own edge is padded as at test time, so its pixels count."""
        s, p, cut = self.scale, self.lr_patch, self.loss_margin * self.scale
        mask = np.zeros((p * s, p * s), np.float32)
        top = 0 if i == 0 else cut
        bottom = p * s if i == shape[0] - p else p * s - cut
        left = 0 if j == 0 else cut
        right = p * s if j == shape[1] - p else p * s - cut
        mask[top:bottom, left:right] = 1.0
        return mask

    def batch(self, n: int):
        """n (LR, HR) patch pairs, NCHW float32, and, with edge_prob, each pair's loss mask (N1HW, HR;
        else None: the trainer drops loss_margin on every side)."""
        s, p = self.scale, self.lr_patch
        lrs = np.empty((n, 1, p, p), np.float32)
        hrs = np.empty((n, 1, p * s, p * s), np.float32)
        masks = np.empty_like(hrs) if self.edge_prob else None
        for k, idx in enumerate(self.rng.choice(len(self.pairs), size=n, p=self.prob)):
            lr, hr = self.pairs[idx]
            if self.edge_prob:
                i, j = self._corner(lr.shape[0]), self._corner(lr.shape[1])
            else:  # the draws of the runs before edge_prob existed, so their commands still reproduce them
                i = self.rng.integers(0, lr.shape[0] - p + 1)
                j = self.rng.integers(0, lr.shape[1] - p + 1)
            a, b = lr[i : i + p, j : j + p], hr[i * s : (i + p) * s, j * s : (j + p) * s]
            c = self._loss_mask(i, j, lr.shape) if self.edge_prob else None
            rot, flip = self.rng.integers(0, 4), self.rng.integers(0, 2)
            a, b = np.rot90(a, rot), np.rot90(b, rot)
            if flip:
                a, b = a[:, ::-1], b[:, ::-1]
            lrs[k, 0], hrs[k, 0] = a, b
            if c is not None:
                c = np.rot90(c, rot)
                masks[k, 0] = c[:, ::-1] if flip else c
        return lrs, hrs, masks


def subpixel_taps(scale: int, offset: int, k: int = 9):
    """Which deconvolution tap each weight of the equivalent sub-pixel convolution is.

    out[s*i + r] = sum_p x[p] w[s*i + r + offset - s*p]; with p = i + j that is a correlation over
    j in [lo, hi] with the tap r + offset - s*j, per phase r. Returns (lo, hi, taps): taps[r, j - lo]
    is that tap, or k where it falls outside the kernel (a zero weight)."""
    lo = min(-((k - 1 - r - offset) // scale) for r in range(scale))  # ceil((r + offset - k + 1) / s)
    hi = max((r + offset) // scale for r in range(scale))
    taps = np.full((scale, hi - lo + 1), k, dtype=np.int64)
    for r in range(scale):
        for j in range(lo, hi + 1):
            t = r + offset - scale * j
            if 0 <= t < k:
                taps[r, j - lo] = t
    return lo, hi, taps


def make_model(torch, scale: int, d: int, s: int, m: int, offset: int = 4, expand: int = 0):
    """The FSRCNN(d, s, m) the engine runs. With expand, each convolution but the deconvolution is trained
    over-parameterised (CollapsibleConv): the same network, a different optimisation path."""
    return _make_network(torch, (scale,), d, s, m, (offset,), expand, joint=False)


def make_multi_model(torch, scales, d: int, s: int, m: int, offsets, expand: int = 0):
    """One FSRCNN(d, s, m) body shared by a deconvolution per scale (`model(x, scale)`), as the engine runs
    a multi-scale file: the state dict names each scale's deconvolution x{scale}.deconv.*, the file's own
    names, and every other layer once."""
    if len(set(scales)) != len(scales) or len(scales) < 2:
        raise ValueError(f"a multi-scale network needs two or more different scales, got {list(scales)}")
    if len(offsets) != len(scales):
        raise ValueError(f"{len(scales)} scales but {len(offsets)} deconvolution offsets")
    return _make_network(torch, tuple(scales), d, s, m, tuple(offsets), expand, joint=True)


def _make_network(torch, scales, d: int, s: int, m: int, offsets, expand: int, joint: bool):
    nn = torch.nn
    F = torch.nn.functional

    class PReLU(nn.Module):
        """nn.PReLU(n) (same parameter, same state-dict key) as x + (1 - a) relu(-x): its backward is
        ~3x faster on CPU than aten's PReLU kernel (and than clamps, whose backward is a slow where)."""

        def __init__(self, n: int):
            super().__init__()
            self.weight = nn.Parameter(torch.full((n,), 0.25))

        def forward(self, x):
            return x + (1 - self.weight).view(1, -1, 1, 1) * torch.relu(-x)

    class CollapsibleConv(nn.Module):
        """A k x k convolution (replicate padding) whose weight is the product of a k x k convolution to
        `wide` channels and a 1 x 1 one back, plus the identity when it maps a space onto itself: linear
        factors that collapse into one k x k weight, done at every step so each step costs one convolution.
        The function class is the plain convolution's; the factors change how gradient descent moves
        through it, which helps small networks (the collapsible linear blocks of SESR, Bhardwaj et al.
        2022). plain_state_dict() stores the collapsed weight under the plain layer's keys."""

        def __init__(self, cin: int, cout: int, k: int, wide: int):
            super().__init__()
            if wide < cout:  # a product through fewer channels than the output has would cap the rank
                raise ValueError(f"--expand {wide}: fewer channels than the layer's {cout} outputs")
            self.k, self.residual = k, cin == cout
            self.wide = nn.Parameter(torch.empty(wide, cin, k, k))
            self.narrow = nn.Parameter(torch.empty(cout, wide))
            self.bias = nn.Parameter(torch.zeros(cout))
            nn.init.kaiming_normal_(self.wide, a=0.25, nonlinearity="leaky_relu")
            nn.init.kaiming_normal_(self.narrow, nonlinearity="linear")
            if self.residual:  # start near the plain layer's scale: the identity carries the signal
                self.narrow.data.mul_(0.1)

        def weight(self):
            w = torch.einsum("oe,eikl->oikl", self.narrow, self.wide)
            if self.residual:
                w = w + self.identity()
            return w

        def identity(self):
            n, c = self.bias.shape[0], self.k // 2
            eye = self.wide.new_zeros(n, n, self.k, self.k)
            eye[:, :, c, c] = torch.eye(n, dtype=eye.dtype)
            return eye

        def load_plain(self, weight, bias):
            """Factors whose product is the plain weight: its rows in the first wide channels, passed
            through by the narrow factor; the other wide channels keep their random start with a zero
            path out, so training opens them."""
            cout = weight.shape[0]
            with torch.no_grad():
                self.wide[:cout] = weight - self.identity() if self.residual else weight
                self.narrow.zero_()
                self.narrow[:, :cout] = torch.eye(cout, dtype=self.narrow.dtype)
                self.bias.copy_(bias)

        once = None  # the collapsed weight while FSRCNN.collapsed_once() holds it

        def forward(self, x):
            p = self.k // 2
            if p:
                x = F.pad(x, (p, p, p, p), mode="replicate")
            return F.conv2d(x, self.collapsed() if self.once is None else self.once, self.bias)

        def collapsed(self):
            w = self.weight()
            if self.wide.stride(1) == 1:
                # The model is NHWC (model.to(channels_last)) but the product comes out NCHW, and with a
                # one-channel input (the first layer) the weight's strides pick the output's layout: the
                # NHWC strides the plain layer's weight has, or the first layer writes NCHW and every
                # elementwise op and gradient after it runs on mixed layouts (1.4x the plain step).
                w = torch.empty_like(w, memory_format=torch.channels_last).copy_(w)
            return w

    def conv(cin: int, cout: int, k: int):
        if expand:
            return CollapsibleConv(cin, cout, k, expand)
        return nn.Conv2d(cin, cout, k, padding=k // 2, **({"padding_mode": "replicate"} if k > 1 else {}))

    class SubpixelDeconv(nn.ConvTranspose2d):
        """The deconvolution (ConvTranspose2d's parameters and state-dict keys) run as scale*scale phase
        convolutions + pixel shuffle: the same function, ~3x faster on CPU than conv_transpose2d. LR
        pixels beyond the edge are the nearest edge pixel."""

        def __init__(self, scale: int, offset: int):
            super().__init__(d, 1, 9, stride=scale)
            self.scale = scale
            self.lo, self.hi, taps = subpixel_taps(scale, offset)
            # src = weight (d, 1, 9, 9) tap (ty, tx) / dst = conv weight (s*s, d, K, K), channel
            # ry*s + rx, taps (taps[ry, jy], taps[rx, jx]); index 81 is an appended zero.
            self.flat_index = torch.from_numpy(
                np.where((taps[:, None, :, None] < 9) & (taps[None, :, None, :] < 9),
                         taps[:, None, :, None] * 9 + taps[None, :, None, :], 81).reshape(scale * scale, -1))

        def forward(self, x):
            lo, hi, scale = self.lo, self.hi, self.scale
            x = F.pad(x, (-lo, hi, -lo, hi), mode="replicate")
            w = torch.cat([self.weight.reshape(d, 81), self.weight.new_zeros(d, 1)], dim=1)
            k = hi - lo + 1
            w = w[:, self.flat_index].reshape(d, scale * scale, k, k).transpose(0, 1)
            y = F.conv2d(x, w, self.bias.expand(scale * scale))
            return F.pixel_shuffle(y, scale)

    class ScaleTail(nn.Module):
        """One scale's deconvolution in a multi-scale network (state-dict keys x{scale}.deconv.*)."""

        def __init__(self, scale: int, offset: int):
            super().__init__()
            self.deconv = SubpixelDeconv(scale, offset)

    class AtScale(nn.Module):
        """A multi-scale network seen as the single-scale network at one of its scales (for validate and
        anything else that calls model(x))."""

        def __init__(self, network, scale: int):
            super().__init__()
            self.network, self.scale = network, scale

        def forward(self, x):
            return self.network(x, self.scale)

    class FSRCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = scales
            self.feature = conv(1, d, 5)
            self.feature_act = PReLU(d)
            self.shrink = conv(d, s, 1)
            self.shrink_act = PReLU(s)
            self.maps = nn.ModuleList([conv(s, s, 3) for _ in range(m)])
            self.map_acts = nn.ModuleList([PReLU(s) for _ in range(m)])
            self.expand = conv(s, d, 1)
            self.expand_act = PReLU(d)
            # Constructed in this order so a seed draws the same initial network as before the
            # multi-scale variant existed (the shipped recipes' seeds reproduce their runs).
            if joint:
                for scale, offset in zip(scales, offsets):
                    setattr(self, f"x{scale}", ScaleTail(scale, offset))
            else:
                self.deconv = SubpixelDeconv(scales[0], offsets[0])
            for layer in [self.feature, self.shrink, *self.maps, self.expand]:
                if isinstance(layer, nn.Conv2d):
                    nn.init.kaiming_normal_(layer.weight, a=0.25, nonlinearity="leaky_relu")
                    nn.init.zeros_(layer.bias)
            for deconv in self.deconvs().values():
                nn.init.normal_(deconv.weight, std=0.001)
                nn.init.zeros_(deconv.bias)

        def deconvs(self) -> dict:
            """Each scale's deconvolution."""
            if joint:
                return {scale: getattr(self, f"x{scale}").deconv for scale in scales}
            return {scales[0]: self.deconv}

        def body(self, x):
            x = self.feature_act(self.feature(x))
            x = self.shrink_act(self.shrink(x))
            for conv, act in zip(self.maps, self.map_acts):
                x = act(conv(x))
            return self.expand_act(self.expand(x))

        def forward(self, x, scale: int | None = None):
            if not joint:
                return self.deconv(self.body(x))
            if scale not in scales:
                raise ValueError(f"this network upscales by {list(scales)}, not {scale}")
            return self.deconvs()[scale](self.body(x))

        @contextlib.contextmanager
        def collapsed_once(self):
            """Within it, each factored convolution's weight is collapsed once (and its gradient taken
            back through the factors once) however many times the network runs: a multi-scale step runs
            the shared layers once per scale."""
            layers = [module for module in self.modules() if isinstance(module, CollapsibleConv)]
            for layer in layers:
                layer.once = layer.collapsed()
            try:
                yield
            finally:
                for layer in layers:
                    layer.once = None

        def at(self, scale: int):
            """The network at one scale, called as model(x)."""
            return AtScale(self, scale) if joint else self

        def plain_state_dict(self) -> dict:
            """The state dict of the plain network (every collapsible convolution collapsed): what
            checkpoints hold, so export, scoring, --init and --teacher never see the factors."""
            state = {}
            for name, t in self.state_dict().items():
                layer, _, key = name.rpartition(".")
                module = self.get_submodule(layer)
                if isinstance(module, CollapsibleConv):
                    if key == "narrow":
                        continue
                    if key == "wide":
                        key, t = "weight", module.weight().detach()
                state[f"{layer}.{key}"] = t.contiguous()
            return state

        def load_plain_state_dict(self, state: dict, strict: bool = True):
            """Load a plain network's state dict (a checkpoint), factoring each collapsible layer's weight."""
            state = dict(state)
            for layer, module in self.named_modules():
                if isinstance(module, CollapsibleConv) and f"{layer}.weight" in state:
                    module.load_plain(state.pop(f"{layer}.weight"), state.pop(f"{layer}.bias"))
                    state[f"{layer}.wide"], state[f"{layer}.narrow"] = module.wide.data, module.narrow.data
                    state[f"{layer}.bias"] = module.bias.data
            return self.load_state_dict(state, strict=strict)

    return FSRCNN()


def validate(torch, model, val_pairs, scale: int) -> float:
    model.eval()
    scores = []
    with torch.no_grad():
        for lr, hr in val_pairs:
            sr = model(torch.from_numpy(lr)[None, None]).numpy()[0, 0]
            out = shave(to_uint8(sr), scale)
            scores.append(psnr(out, shave(to_uint8(hr), scale)))
    model.train()
    return float(np.mean(scores))


def checkpoint_config(path: str) -> dict:
    """The run options a checkpoint was trained with: NAME.json beside training/checkpoints/NAME.pt, or a
    run directory's config.json."""
    config_path = Path(path).with_suffix(".json")
    if not config_path.exists():
        config_path = Path(path).with_name("config.json")
    return json.loads(config_path.read_text())


def config_scales(config: dict) -> dict[int, int]:
    """Each scale a checkpoint's network upscales by -> its deconvolution offset: a multi-scale run's
    --scales / --deconv-offsets, or a single-scale run's --scale / --deconv-offset (default 4)."""
    if "scales" in config:
        return dict(zip(_ints(config["scales"]), _ints(config["deconv_offsets"])))
    return {config["scale"]: config.get("deconv_offset", 4)}


def model_from_config(torch, config: dict, expand: int = 0):
    """The network a checkpoint's config describes (plain unless expand), single- or multi-scale."""
    offsets = config_scales(config)
    if "scales" in config:
        return make_multi_model(torch, list(offsets), config["d"], config["s"], config["m"], list(offsets.values()),
                                expand)
    (scale, offset), = offsets.items()
    return make_model(torch, scale, config["d"], config["s"], config["m"], offset, expand)


def _ints(text) -> list[int]:
    return [int(v) for v in str(text).split(",")]


def _shift_deconv(torch, weight, shift: int):
    """The same deconvolution at an offset `shift` lower: tap t moves to t - shift; taps shifted in start
    at zero."""
    w = torch.zeros_like(weight)
    if shift > 0:
        w[..., : 9 - shift, : 9 - shift] = weight[..., shift:, shift:]
    elif shift < 0:
        w[..., -shift:, -shift:] = weight[..., : 9 + shift, : 9 + shift]
    else:
        w = weight
    return w


def init_state(torch, state: dict, init_config: dict, offsets: dict[int, int], joint: bool) -> dict:
    """A checkpoint's state dict (single- or multi-scale) as the start of a network with `offsets` (scale
    -> deconvolution offset; joint: a multi-scale network): the shared layers as they are, each scale's
    deconvolution from the checkpoint's at that scale (moved to the new offset: the same function), and
    re-learnt where the checkpoint has none (a deconvolution learnt for another stride is a poor start)."""
    init_offsets = config_scales(init_config)
    init_joint = "scales" in init_config
    shared = {k: v for k, v in state.items() if not k.split(".")[-2] == "deconv"}
    for scale, offset in offsets.items():
        if scale not in init_offsets:
            continue
        src = f"x{scale}.deconv." if init_joint else "deconv."
        dst = f"x{scale}.deconv." if joint else "deconv."
        shared[dst + "weight"] = _shift_deconv(torch, state[src + "weight"], init_offsets[scale] - offset)
        shared[dst + "bias"] = state[src + "bias"]
    return shared


def dihedral_mean(torch, model, x):
    """The model's output averaged over the 8 rotations and flips of its input (each undone on the
    output): a better teacher than the model alone (0.07-0.17 dB on each held-out split for the shipped
    fsrcnn, training/score.py --eight-views)."""
    acc = 0
    for k in range(4):
        for flip in (False, True):
            t = torch.rot90(x, k, (2, 3))
            t = torch.flip(t, (3,)) if flip else t
            y = model(t)
            y = torch.flip(y, (3,)) if flip else y
            acc = acc + torch.rot90(y, -k, (2, 3))
    return acc / 8


def distilled_pairs(torch, teacher_path: str, pairs_by_set: dict, scale: int, weight: float,
                    ensemble: bool = False) -> dict:
    """Each pair's HR target blended with a trained teacher's output on the whole LR image:
    (1 - weight) HR + weight teacher(LR). The teacher sees each image once, whole, so patch edges see the
    image around them, as at test time. A small network cannot fit HR exactly; the teacher's output is a
    smoother target it can fit more of (knowledge distillation on the output). With ensemble, the teacher
    is its own 8-way rotation/flip average (dihedral_mean)."""
    config = checkpoint_config(teacher_path)
    if scale not in config_scales(config):
        raise SystemExit(f"teacher {teacher_path} is x{','.join(map(str, config_scales(config)))}, training x{scale}")
    network = model_from_config(torch, config)
    network.load_state_dict(torch.load(teacher_path, map_location="cpu", weights_only=True)["model"])
    network.eval()
    teacher = network.at(scale)
    out = {}
    with torch.no_grad():
        for name, pairs in pairs_by_set.items():
            out[name] = []
            for lr, hr in pairs:
                x = torch.from_numpy(lr)[None, None]
                t = np.clip((dihedral_mean(torch, teacher, x) if ensemble else teacher(x)).numpy()[0, 0], 0.0, 1.0)
                out[name].append((lr, ((1.0 - weight) * hr + weight * t).astype(np.float32)))
    return out


def train_step(torch, model, opt, batches: dict, loss_margin: int = 0, joint_loss: str = "psnr",
               running: dict | None = None):
    """One optimisation step on batches {scale: (LR, HR, mask or None)} from PatchSampler.batch: one batch
    for a single-scale network, one per scale for a multi-scale one. Returns (loss, {scale: its loss})."""
    def scale_loss(scale, pred, hr_b, mask_b):
        target = torch.from_numpy(hr_b)
        if mask_b is not None:
            mask = torch.from_numpy(mask_b)
            return ((pred - target) ** 2 * mask).sum() / mask.sum()
        if loss_margin:
            cut = loss_margin * scale
            pred, target = pred[..., cut:-cut, cut:-cut], target[..., cut:-cut, cut:-cut]
        return torch.nn.functional.mse_loss(pred, target)

    if len(model.scales) > 1:
        # A pass of the shared layers per scale (one pass over all three batches is ~1.2x slower on CPU:
        # three times the activations, out of cache), one collapse of the factors and one Adam update a step.
        scales = list(batches)
        losses = {}
        with model.collapsed_once():
            for scale in scales:
                lr_b, hr_b, mask_b = batches[scale]
                pred = model(torch.from_numpy(lr_b).contiguous(memory_format=torch.channels_last), scale)
                losses[scale] = scale_loss(scale, pred, hr_b, mask_b)
        if joint_loss == "psnr":
            # Each scale's MSE over its running mean. The gradient of sum_s log(MSE_s) (the sum of PSNRs,
            # up to a constant) is sum_s grad MSE_s / MSE_s; the running mean (not the batch's own MSE,
            # which would weight flat, easy batches up) stands in for MSE_s.
            for scale, value in losses.items():
                v = value.item()
                running[scale] = v if scale not in running else 0.99 * running[scale] + 0.01 * v
            loss = sum(value / running[scale] for scale, value in losses.items())
        else:
            loss = sum(losses.values())
    else:
        (scale, (lr_b, hr_b, mask_b)), = batches.items()
        pred = model(torch.from_numpy(lr_b).contiguous(memory_format=torch.channels_last))
        loss = scale_loss(scale, pred, hr_b, mask_b)
        losses = {scale: loss}
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, losses


def save_resume_state(torch, out: Path, it: int, best: float, log: list, model, opt, sched, samplers: dict,
                      running: dict) -> None:
    """Everything the next step depends on, written beside the run (to a temporary name first: a stop
    in the middle of the write leaves the previous state whole). A multi-scale run: every scale's patch
    sampler and running mean loss."""
    if len(samplers) == 1:
        rng = next(iter(samplers.values())).rng.bit_generator.state
    else:
        rng = {str(scale): sampler.rng.bit_generator.state for scale, sampler in samplers.items()}
    state = {"iter": it, "best": best, "log": json.dumps(log), "model": model.state_dict(),
             "opt": opt.state_dict(), "sched": sched.state_dict(), "sampler_rng": json.dumps(rng),
             "running": json.dumps({str(scale): v for scale, v in running.items()})}
    torch.save(state, out / "resume.pt.tmp")
    os.replace(out / "resume.pt.tmp", out / "resume.pt")


def resume_run(torch, out: Path, config: dict, defaults: dict, model, opt, sched, samplers: dict,
               running: dict) -> tuple[float, list, int]:
    """Loads resume.pt into the model, optimiser, schedule, samplers (and running mean losses); returns
    (best, log, next step). Refuses a run started with other options: the schedule and the data would not
    be the same run's."""
    started = json.loads((out / "config.json").read_text())
    free = {"resume", "stop_at", "threads"}  # how far and how fast this sitting goes, not what it computes
    # An option the trainer gained after the run started is the same run at its default.
    started = {k: started.get(k, defaults.get(k)) for k in set(started) | set(config)}
    differ = sorted(k for k in started if k not in free and started[k] != config.get(k))
    if differ:
        raise SystemExit(f"--resume: {out} was started with other options: {', '.join(differ)}")
    state = torch.load(out / "resume.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    rng = json.loads(state["sampler_rng"])
    if len(samplers) == 1:
        next(iter(samplers.values())).rng.bit_generator.state = rng
    else:
        for scale, sampler in samplers.items():
            sampler.rng.bit_generator.state = rng[str(scale)]
    running.update({int(scale): v for scale, v in json.loads(state.get("running", "{}")).items()})
    return float(state["best"]), json.loads(state["log"]), int(state["iter"]) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=None, help="the scale of a single-scale network (default 3)")
    ap.add_argument("--scales", type=str, default="",
                    help="a multi-scale network (e.g. 2,3,4): the shared layers trained for every scale together, "
                         "a deconvolution per scale; each step one batch per scale")
    ap.add_argument("--deconv-offsets", type=str, default="",
                    help="with --scales, each scale's deconvolution offset (default: 4 at x2, 3 at x3 and x4, "
                         "the shipped files' offsets)")
    ap.add_argument("--joint-loss", choices=("psnr", "mse"), default="psnr",
                    help="with --scales, how the scales' losses add up: psnr (default) weights each scale's MSE by "
                         "1 / its running mean, so a step follows the gradient of the sum of the scales' PSNRs; "
                         "mse adds the MSEs (x4's, ~3.5x x2's, would dominate the shared layers)")
    ap.add_argument("--d", type=int, default=56)
    ap.add_argument("--s", type=int, default=12)
    ap.add_argument("--m", type=int, default=4)
    ap.add_argument("--iters", type=int, default=60000)
    ap.add_argument("--stop-at", type=int, default=0,
                    help="end after this many iterations (the schedule still spans --iters)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr-patch", type=int, default=0, help="LR patch side (default 96 // scale, the largest scale)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--loss-margin", type=int, default=0,
                    help="LR pixels at each patch edge left out of the loss: their receptive field runs off the "
                         "patch into padding that the real image does not have")
    ap.add_argument("--edge-prob", type=float, default=0.0,
                    help="probability that a patch's rows (and, independently, its columns) lie flush with an "
                         "image edge, where the loss counts every pixel: the network learns the image border")
    ap.add_argument("--deconv-offset", type=int, default=None,
                    help="deconv offset (3 centres the taps at x3; default 4)")
    ap.add_argument("--init", type=str, default="", help="checkpoint to fine-tune from (deconv reinitialised if scale differs)")
    ap.add_argument("--sets", type=str, default=",".join(TRAIN_SETS),
                    help="training sets under $FSRCNN_DATA (T91 and General-100 are the paper's)")
    ap.add_argument("--balance-sets", action="store_true",
                    help="draw patches from every training set equally often (default: in proportion to area)")
    ap.add_argument("--set-shares", type=str, default="",
                    help="how often each set of --sets is drawn, as proportions in --sets' order (e.g. 1,2,1: "
                         "the second set half the patches); each set's pixels stay equally likely")
    ap.add_argument("--val-nth", type=int, default=20, help="every n-th image of the validation sets is held out")
    ap.add_argument("--val-sets", type=str, default="",
                    help="sets the validation images come from (default: BSD200-train if used, else every set)")
    ap.add_argument("--freeze-shared", action="store_true",
                    help="train the deconvolution only (multi-scale models: every scale shares the other layers)")
    ap.add_argument("--teacher", type=str, default="",
                    help="checkpoint of a trained network at the same scale whose output blends into the target "
                         "(with --scales, one per scale, comma-separated, in --scales' order)")
    ap.add_argument("--teacher-weight", type=float, default=0.5,
                    help="target = (1 - w) HR + w teacher(LR); validation still scores against HR")
    ap.add_argument("--teacher-ensemble", action="store_true",
                    help="the teacher's output averaged over the 8 rotations/flips of the input")
    ap.add_argument("--expand", type=int, default=0, metavar="WIDE",
                    help="train each convolution but the deconvolution as collapsible factors through WIDE "
                         "channels (same network, saved collapsed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--val-every", type=int, default=2000)
    ap.add_argument("--out", type=str, required=True)
    ap.add_argument("--resume", action="store_true",
                    help="continue the run in --out from its resume.pt (written at every validation: the "
                         "factors, Adam's moments, the schedule and the patch sampler's random state), with "
                         "the options it was started with; a run stopped hard loses at most --val-every steps")
    args = ap.parse_args()
    set_shares = None
    if args.set_shares:
        try:
            set_shares = [float(v) for v in args.set_shares.split(",")]
        except ValueError:
            ap.error(f"--set-shares {args.set_shares}: numbers separated by commas")
        if len(set_shares) != len(args.sets.split(",")) or min(set_shares) <= 0:
            ap.error(f"--set-shares {args.set_shares}: one positive number per set of --sets {args.sets}")
    joint = bool(args.scales)
    if joint:
        if args.scale is not None or args.deconv_offset is not None:
            ap.error("--scales trains a multi-scale network: give its offsets as --deconv-offsets, not --scale/--deconv-offset")
        scales = _ints(args.scales)
        args.deconv_offsets = args.deconv_offsets or ",".join("4" if s == 2 else "3" for s in scales)
        offsets = dict(zip(scales, _ints(args.deconv_offsets)))
        if len(offsets) != len(scales) or len(_ints(args.deconv_offsets)) != len(scales) or len(scales) < 2:
            ap.error(f"--scales {args.scales} --deconv-offsets {args.deconv_offsets}: two or more different scales, "
                     "one offset each")
        teachers = args.teacher.split(",") if args.teacher else []
        if teachers and len(teachers) != len(scales):
            ap.error(f"--teacher: one checkpoint per scale of --scales {args.scales}, got {len(teachers)}")
    else:
        args.scale = 3 if args.scale is None else args.scale
        args.deconv_offset = 4 if args.deconv_offset is None else args.deconv_offset
        scales, offsets = [args.scale], {args.scale: args.deconv_offset}
        teachers = [args.teacher] if args.teacher else []

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lr_patch = args.lr_patch or 96 // max(scales)

    t0 = time.time()
    train_imgs, val_imgs = load_y_images(tuple(args.sets.split(",")), args.val_nth,
                                          tuple(filter(None, args.val_sets.split(","))))
    samplers, val_pairs = {}, {}
    for i, scale in enumerate(scales):
        pairs_by_set = {name: build_pairs(planes, scale) for name, planes in train_imgs.items()}
        val_pairs[scale] = build_pairs(val_imgs, scale, aug_scales=(1.0,))
        if teachers:
            pairs_by_set = distilled_pairs(torch, teachers[i], pairs_by_set, scale, args.teacher_weight,
                                           args.teacher_ensemble)
        n_pairs = sum(len(p) for p in pairs_by_set.values())
        print(f"x{scale}: {n_pairs} training pairs, {len(val_pairs[scale])} validation images, prepared in "
              f"{time.time() - t0:.0f}s", flush=True)
        # a single-scale run draws with the seed itself (its earlier commands reproduce); each scale of a
        # multi-scale run with its own stream
        samplers[scale] = PatchSampler(pairs_by_set, scale, lr_patch, [args.seed, scale] if joint else args.seed,
                                       args.balance_sets, args.edge_prob, args.loss_margin, set_shares)

    if joint:
        model = make_multi_model(torch, scales, args.d, args.s, args.m, list(offsets.values()), args.expand)
    else:
        model = make_model(torch, args.scale, args.d, args.s, args.m, args.deconv_offset, args.expand)
    if args.init:
        state = torch.load(args.init, map_location="cpu", weights_only=True)["model"]
        state = init_state(torch, state, checkpoint_config(args.init), offsets, joint)
        missing = model.load_plain_state_dict(state, strict=False)
        print("initialised from", args.init, "missing:", missing.missing_keys, flush=True)
    if args.freeze_shared:  # no gradient flows into the shared layers: the backward pass is the deconv's alone
        for name, p in model.named_parameters():
            p.requires_grad_(name.split(".")[-2] == "deconv")
    # NHWC: oneDNN's convolutions (and their backward) run ~1.3x faster on CPU in it than in NCHW
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(it, args.iters) / args.iters))
    )
    config = vars(args) | {"lr_patch": lr_patch}
    if joint:  # not options of this run: left out so that nothing reads a scale from them
        del config["scale"], config["deconv_offset"]
    else:
        del config["scales"], config["deconv_offsets"], config["joint_loss"]
    running = {}  # each scale's running mean loss (--joint-loss psnr)
    best, log, start = -1.0, [], 1
    if args.resume:
        best, log, start = resume_run(torch, out, config, {a.dest: a.default for a in ap._actions}, model, opt, sched,
                                       samplers, running)
        print(f"resumed at iteration {start} (best validation so far {best:.3f} dB)", flush=True)
    (out / "config.json").write_text(json.dumps({k: v for k, v in config.items() if k != "resume"}, indent=1))
    t0 = time.time() - (log[-1]["seconds"] if log else 0.0)
    train_seconds = log[-1].get("train_seconds", 0.0) if log else 0.0
    last = args.stop_at or args.iters
    for it in range(start, last + 1):
        t_step = time.perf_counter()
        batches = {scale: samplers[scale].batch(args.batch) for scale in scales}
        loss, losses = train_step(torch, model, opt, batches, args.loss_margin, args.joint_loss, running)
        if not math.isfinite(loss.item()):
            # NaN or inf weights never come back, and the next validation would write them into resume.pt.
            # Only this is a stop: validation alone cannot tell divergence from a dip (fsrcnn_x3_expand, the
            # shipped x3's run, fell 2.07 dB at 30k and recovered by 50k).
            raise SystemExit(f"iteration {it}: the loss is {loss.item()}: the run diverged; resume.pt and best.pt "
                             f"are as of the last validation (best {best:.3f} dB); start again with a lower --lr")
        sched.step()
        train_seconds += time.perf_counter() - t_step
        if it % args.val_every == 0 or it == last:
            by_scale = {scale: validate(torch, model.at(scale), val_pairs[scale], scale) for scale in scales}
            v = float(np.mean(list(by_scale.values())))  # a multi-scale network: the mean of its scales'
            entry = {"iter": it, "loss": loss.item(), "val_psnr": v}
            if joint:
                entry |= {f"val_psnr_x{scale}": p for scale, p in by_scale.items()}
                entry |= {f"loss_x{scale}": value.item() for scale, value in losses.items()}
            log.append(entry | {"seconds": time.time() - t0, "train_seconds": train_seconds})
            print(json.dumps(log[-1]), flush=True)
            ckpt = {"model": model.plain_state_dict(), "iter": it, "val_psnr": v}
            if joint:
                ckpt["val_psnr_by_scale"] = {str(scale): p for scale, p in by_scale.items()}
            torch.save(ckpt, out / "last.pt")
            if v > best:
                best = v
                torch.save(ckpt, out / "best.pt")
            (out / "log.json").write_text(json.dumps(log, indent=1))
            save_resume_state(torch, out, it, best, log, model, opt, sched, samplers, running)
    print(f"best validation PSNR {best:.3f} dB", flush=True)


if __name__ == "__main__":
    main()
