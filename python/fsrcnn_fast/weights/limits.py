"""How large a weights file and what it declares may be before any reader allocates for it.

An FSRCNN is about 50 KB of weights and the largest SRCNN release 270 KB; the engine runs kernels up to 31
taps and 4096 channels. The bounds below are far beyond any such network and far below what would exhaust a
machine, so a damaged or hostile file is refused in bounded time and memory (issue 19) instead of asking for
gigabytes because a size field says so.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable

from .errors import WeightsError

__all__ = ["MAX_FILE_BYTES", "MAX_MEMBER_BYTES", "MAX_TENSOR_ELEMENTS", "MAX_KERNEL", "MAX_CHANNELS",
           "phase_conv_taps", "check_runnable", "check_file_size", "check_elements", "read_member"]

MAX_FILE_BYTES = 64 << 20  # a weights file (200 x the largest SRCNN release)
MAX_MEMBER_BYTES = 64 << 20  # one member of a zip (.pth, .keras) or a decompressed MATLAB element
MAX_TENSOR_ELEMENTS = 1 << 24  # one weight tensor (64 MB as float32)
# What the engine's kernels and buffers are built for (csrc/engine/network.cpp checks the same again).
MAX_KERNEL = 31  # taps of a conv, and of a deconvolution's phase conv
MAX_CHANNELS = 4096


def phase_conv_taps(k: int, scale: int, offset: int) -> int:
    """Taps of the LR-grid conv the engine runs a k-tap deconvolution as (network.cpp's deconv_as_phase_conv):
    output phase r reads LR taps j with 0 <= s*j + r + offset < k."""
    radius = 0
    for r in range(scale):
        radius = max(radius, abs((r + offset) // scale), abs((k - 1 - r - offset) // scale))
    return 2 * radius + 1


def check_runnable(spec, where: str) -> None:
    """Refuses a loaded network the engine would refuse (kernels beyond MAX_KERNEL taps, channel counts
    beyond MAX_CHANNELS, a deconvolution whose offset makes its phase conv too wide), as a WeightsError
    naming the file and the layer, at load time rather than when a Model is built."""
    from .schema import Deconv

    for layer in list(spec.layers) + ([spec.tail] if spec.tail is not None else []):
        shape = layer.weight.shape
        k = int(shape[2])
        if k > MAX_KERNEL:
            raise WeightsError(f"{where}: {layer.name}: {k}-tap kernel; the engine runs up to {MAX_KERNEL} taps")
        if max(shape[:2]) > MAX_CHANNELS:
            raise WeightsError(f"{where}: {layer.name}: weight of shape {tuple(shape)}; the engine runs up to "
                               f"{MAX_CHANNELS} channels")
        if isinstance(layer, Deconv):
            taps = phase_conv_taps(k, layer.scale, layer.offset)
            if taps > MAX_KERNEL:
                raise WeightsError(
                    f"{where}: {layer.name}: a {k}-tap deconvolution at x{layer.scale} with offset {layer.offset} "
                    f"runs as a {taps}-tap conv, beyond the engine's {MAX_KERNEL} (an offset far from k // 2)")


def check_file_size(path: "os.PathLike[str] | str") -> int:
    """The file's size, refused beyond :data:`MAX_FILE_BYTES`."""
    size = Path(path).stat().st_size
    if size > MAX_FILE_BYTES:
        raise WeightsError(f"{path}: {size} bytes; a weights file of an FSRCNN / SRCNN is under "
                           f"{MAX_FILE_BYTES >> 20} MB")
    return size


def check_elements(shape: Iterable[int], what: str, available: int | None = None, itemsize: int = 1) -> int:
    """The element count of ``shape`` (exact, without overflow), refused when negative, beyond
    :data:`MAX_TENSOR_ELEMENTS`, or (``available``) more bytes than are there to hold them."""
    dims = [int(d) for d in shape]
    if any(d < 0 for d in dims):
        raise WeightsError(f"{what}: negative dimension in shape {tuple(dims)}")
    count = math.prod(dims)
    if count > MAX_TENSOR_ELEMENTS:
        raise WeightsError(f"{what}: shape {tuple(dims)} has {count} elements, more than any FSRCNN / SRCNN "
                           f"weight ({MAX_TENSOR_ELEMENTS})")
    if available is not None and count * itemsize > available:
        raise WeightsError(f"{what}: shape {tuple(dims)} needs {count * itemsize} bytes, the file has {available}")
    return count


def read_member(zf, name: str, source: str) -> bytes:
    """One member of a zip, refused when it declares more than :data:`MAX_MEMBER_BYTES` (zipfile then never
    inflates more than that: a small file cannot expand into gigabytes)."""
    info = zf.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise WeightsError(f"{source}: zip member {name!r} declares {info.file_size} bytes, more than a weights "
                           f"file holds ({MAX_MEMBER_BYTES >> 20} MB)")
    return zf.read(name)
