"""The canonical network description: what every importer produces and the engine consumes.

A :class:`NetworkSpec` is one runnable network at one scale: a chain of
convolutions (OIHW weights) and an optional upscaling tail. All arrays are
float32 and C-contiguous; shapes are checked to chain here, with messages that
name the offending layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

import numpy as np

from .errors import WeightsError

Border = Literal["zero", "replicate"]
Activation = Literal["none", "relu", "prelu"]
BORDERS = ("zero", "replicate")
ACTIVATIONS = ("none", "relu", "prelu")

__all__ = ["Conv", "Deconv", "Subpixel", "NetworkSpec", "Border", "Activation"]


def _f32(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind != "f":
        raise WeightsError(f"{name}: expected a floating-point tensor, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise WeightsError(f"{name}: contains NaN or infinity")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Conv:
    """k x k correlation, stride 1, 'same' size; weight OIHW [cout, cin, k, k]."""

    name: str
    weight: np.ndarray
    bias: np.ndarray
    activation: Activation = "none"
    slope: np.ndarray | None = None  # [cout] or [1] (shared) for PReLU
    border: Border = "zero"

    def __post_init__(self) -> None:
        w = _f32(self.weight, f"{self.name}.weight")
        if w.ndim != 4 or w.shape[2] != w.shape[3] or w.shape[2] % 2 == 0:
            raise WeightsError(f"{self.name}.weight: expected [cout, cin, k, k] with odd k, got shape {w.shape}")
        b = _f32(self.bias, f"{self.name}.bias").reshape(-1)
        if b.shape != (w.shape[0],):
            raise WeightsError(f"{self.name}.bias: expected shape ({w.shape[0]},), got {b.shape}")
        if self.activation not in ACTIVATIONS:
            raise WeightsError(f"{self.name}: unknown activation {self.activation!r}")
        if self.border not in BORDERS:
            raise WeightsError(f"{self.name}: border must be one of {BORDERS}, got {self.border!r}")
        slope = None
        if self.activation == "prelu":
            if self.slope is None:
                raise WeightsError(f"{self.name}: PReLU needs a slope")
            slope = _f32(self.slope, f"{self.name}.prelu").reshape(-1)
            if slope.shape not in ((1,), (w.shape[0],)):
                raise WeightsError(f"{self.name}.prelu: expected 1 or {w.shape[0]} slopes, got {slope.shape[0]}")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "slope", slope)

    @property
    def cin(self) -> int:
        return int(self.weight.shape[1])

    @property
    def cout(self) -> int:
        return int(self.weight.shape[0])

    @property
    def k(self) -> int:
        return int(self.weight.shape[2])


@dataclass(frozen=True)
class Deconv:
    """Transposed conv to one channel, output exactly ``scale`` x the input:

    ``out[o] = bias + sum_c sum_p x_c[p] * weight[c, 0][o + offset - scale * p]`` (both axes).
    weight is ConvTranspose2d's [cin, 1, k, k]; PyTorch's padding=4, output_padding=scale-1
    is offset 4. ``border`` says what x is beyond the image: zeros or the nearest edge pixel.
    """

    name: str
    weight: np.ndarray
    bias: np.ndarray
    scale: int
    offset: int = 4
    border: Border = "zero"

    def __post_init__(self) -> None:
        w = _f32(self.weight, f"{self.name}.weight")
        if w.ndim == 3:
            w = w[:, None]
        if w.ndim != 4 or w.shape[1] != 1 or w.shape[2] != w.shape[3]:
            raise WeightsError(f"{self.name}.weight: expected [cin, 1, k, k], got shape {w.shape}")
        b = _f32(self.bias, f"{self.name}.bias").reshape(-1)
        if b.shape != (1,):
            raise WeightsError(f"{self.name}.bias: expected one value, got shape {b.shape}")
        if not (isinstance(self.scale, int) and 1 <= self.scale <= 16):
            raise WeightsError(f"{self.name}: scale must be an integer in [1, 16], got {self.scale!r}")
        if self.border not in BORDERS:
            raise WeightsError(f"{self.name}: border must be one of {BORDERS}, got {self.border!r}")
        offset = self.offset
        if isinstance(offset, (bool, np.bool_)) or not isinstance(offset, (int, np.integer)):
            raise WeightsError(f"{self.name}: offset must be an integer, got {offset!r}")
        if not -32 <= int(offset) <= 32:  # the engine's range; it also refuses offsets its halo cannot hold
            raise WeightsError(f"{self.name}: offset must be in [-32, 32], got {int(offset)}")
        object.__setattr__(self, "offset", int(offset))
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def cin(self) -> int:
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class Subpixel:
    """Sub-pixel tail (OpenCV's FSRCNN models): a k x k conv to scale^2 channels, then
    depth-to-space in DCR order (``out[s*i + a, s*j + b] = ch[a*s + b][i, j]``)."""

    name: str
    weight: np.ndarray  # [scale^2, cin, k, k]
    bias: np.ndarray  # [scale^2] (a single bias after the shuffle is broadcast)
    scale: int
    border: Border = "zero"

    def __post_init__(self) -> None:
        w = _f32(self.weight, f"{self.name}.weight")
        if w.ndim != 4 or w.shape[0] != self.scale * self.scale or w.shape[2] != w.shape[3]:
            raise WeightsError(
                f"{self.name}.weight: expected [{self.scale * self.scale}, cin, k, k] for scale {self.scale}, "
                f"got shape {w.shape}"
            )
        b = _f32(self.bias, f"{self.name}.bias").reshape(-1)
        if b.shape == (1,):
            b = np.full(w.shape[0], b[0], np.float32)
        if b.shape != (w.shape[0],):
            raise WeightsError(f"{self.name}.bias: expected 1 or {w.shape[0]} values, got {b.shape}")
        b.setflags(write=False)
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)

    @property
    def cin(self) -> int:
        return int(self.weight.shape[1])


Tail = Union[Deconv, Subpixel]


@dataclass(frozen=True)
class NetworkSpec:
    """One runnable network at one scale.

    ``pre_upsample``: the input is first upscaled by MATLAB bicubic (SRCNN); the
    network then keeps the size, so ``tail`` is None. ``provenance``: where a loaded
    network's scale and offset came from (:mod:`fsrcnn_fast.weights.provenance`).
    """

    kind: Literal["fsrcnn", "srcnn"]
    layers: tuple[Conv, ...]
    tail: Tail | None
    scale: int
    pre_upsample: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    # where the scale (and the deconvolution offset) came from: {"scale": "graph", "offset": "argument"}
    # (see fsrcnn_fast.weights.provenance); empty for a network built in memory
    provenance: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        channels = 1
        for layer in self.layers:
            if layer.cin != channels:
                raise WeightsError(
                    f"{layer.name}: takes {layer.cin} input channels but the previous layer gives {channels}"
                )
            channels = layer.cout
        if self.tail is None:
            if channels != 1:
                raise WeightsError(f"the last layer must give 1 channel, gives {channels}")
            if not self.pre_upsample and self.scale != 1:
                raise WeightsError("a network without an upscaling tail must pre-upsample its input")
        else:
            if self.tail.cin != channels:
                raise WeightsError(
                    f"{self.tail.name}: takes {self.tail.cin} input channels but the previous layer gives {channels}"
                )
            if self.tail.scale != self.scale:
                raise WeightsError(f"{self.tail.name}: scale {self.tail.scale} != network scale {self.scale}")

    @property
    def macs_per_input_pixel(self) -> int:
        """Multiply-adds per pixel of the network's input (LR for FSRCNN, HR for SRCNN)."""
        total = sum(l.cout * l.cin * l.k * l.k for l in self.layers)
        if isinstance(self.tail, Deconv):
            total += self.tail.cin * self.tail.weight.shape[2] ** 2
        elif isinstance(self.tail, Subpixel):
            total += int(np.prod(self.tail.weight.shape))
        return total
