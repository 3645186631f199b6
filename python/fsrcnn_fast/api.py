"""Public API: :func:`upscale` and :class:`Model`. All policy lives here: argument checks,
dtype and layout normalisation, colour; the engine only sees float32 Y planes."""

from __future__ import annotations

import os
import threading
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np

from . import color
from .resize import resize_planes
from .weights import safetensors_io
from .weights.schema import Deconv, NetworkSpec, Subpixel

__all__ = ["Model", "upscale", "available_models", "default_threads", "set_num_threads", "cpu_info"]

SHIPPED_MODELS = ("fsrcnn",)
_SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32), np.dtype(np.float64))
_MAX_SIDE = 1 << 20


def available_models() -> tuple[str, ...]:
    """Names :meth:`Model.load` and :func:`upscale` accept (weights shipped in the package)."""
    return SHIPPED_MODELS


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


_num_threads: int | None = None


def default_threads() -> int:
    """Threads a call uses when it passes ``threads=None``: :func:`set_num_threads`'s value, or
    the cores this process may run on."""
    return _num_threads if _num_threads is not None else _available_cores()


def set_num_threads(threads: int | None) -> None:
    """Sets the default thread count of every later call (``None``: all available cores)."""
    global _num_threads
    _num_threads = None if threads is None else _check_threads(threads)


def cpu_info() -> dict[str, object]:
    """What the engine runs on: the SIMD path chosen at import (and why), the paths this CPU
    supports, the default thread count and whether OpenMP is compiled in."""
    from . import _core

    return {
        "isa": _core.isa(),
        "isa_reason": _core.isa_note(),
        "supported_isas": list(_core.supported_isas()),
        "threads": default_threads(),
        "available_cores": _available_cores(),
        "openmp": bool(_core.openmp_enabled()),
    }


def _shipped_path(name: str, scale: int) -> Path:
    return Path(str(resources.files("fsrcnn_fast") / "data" / f"{name}_x{scale}.safetensors"))


def _to_engine(spec: NetworkSpec, winograd: int = -1):  # -> _core.Network
    """The engine for spec. winograd: Winograd tile of 3x3 layers, 2 or 4; 0 keeps every layer a direct
    conv; -1 lets the engine choose (tests and benchmarks compare them)."""
    from . import _core

    layers = [
        (
            l.weight,
            l.bias,
            np.ascontiguousarray(np.broadcast_to(l.slope, (l.cout,)), np.float32)
            if l.slope is not None
            else np.zeros(0, np.float32),
            l.activation,
            l.border,
        )
        for l in spec.layers
    ]
    tail = spec.tail
    if isinstance(tail, Deconv):
        return _core.Network(layers, "deconv", np.ascontiguousarray(tail.weight[:, 0]), tail.bias,
                             tail.scale, tail.offset, tail.border, winograd)
    if isinstance(tail, Subpixel):
        return _core.Network(layers, "subpixel", tail.weight, tail.bias, tail.scale, 0, tail.border, winograd)
    return _core.Network(layers, "none", None, np.zeros(1, np.float32), 1, 0, "zero", winograd)


class Model:
    """A super-resolution network, loaded once and called many times.

    ``Model.load("fsrcnn", scale=3)`` takes weights shipped with the package;
    ``Model.load("path/to/file.safetensors")`` any file in the native format.
    A Model is immutable and safe to call from several threads at once.
    """

    def __init__(self, spec: NetworkSpec, source: str = "<memory>") -> None:
        self._spec = spec
        self._source = source
        self._engine = _to_engine(spec)

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str], scale: int | None = None) -> "Model":
        """Loads shipped weights by name (``"fsrcnn"``) or a weights file by path.

        ``scale`` picks one of the scales the weights provide (default: 3 for shipped
        models, the only or first scale of a file).
        """
        name = os.fspath(name_or_path)
        if name in SHIPPED_MODELS:
            s = 3 if scale is None else _check_scale(scale)
            path = _shipped_path(name, s)
            if not path.is_file():
                raise ValueError(f"model {name!r} has no x{s} weights; shipped scales are 2, 3 and 4")
            weights = safetensors_io.load(path)
            return cls(weights.spec(s), f"{name} x{s}")
        path = Path(name)
        if not path.suffix and not path.exists():
            raise ValueError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
        if path.suffix.lower() == ".mat":
            from .weights.matlab import load_matlab

            if not path.is_file():
                raise FileNotFoundError(f"weights file not found: {path}")
            return cls(load_matlab(path, None if scale is None else _check_scale(scale)), str(path))
        weights = safetensors_io.load(path)
        s = weights.scales[0] if scale is None else _check_scale(scale)
        return cls(weights.spec(s), str(path))

    @property
    def scale(self) -> int:
        return self._spec.scale

    @property
    def arch(self) -> str:
        spec = self._spec
        if spec.kind == "srcnn":
            ks = "-".join(str(l.k) for l in spec.layers)
            return f"SRCNN {ks} ({spec.layers[0].cout},{spec.layers[1].cout})"
        d, s = spec.layers[0].cout, spec.layers[1].cout
        tail = "" if isinstance(spec.tail, Deconv) else ", sub-pixel"
        return f"FSRCNN({d},{s},{len(spec.layers) - 3}{tail})"

    @property
    def border(self) -> str:
        return self._spec.layers[0].border

    @property
    def spec(self) -> NetworkSpec:
        return self._spec

    def __repr__(self) -> str:
        return f"Model({self.arch}, scale={self.scale}, border={self.border!r}, source={self._source!r})"

    def run_y(self, y: np.ndarray, threads: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
        """The network alone on a float Y plane in [0, 1]; returns float32, ``scale`` x larger
        (written into ``out`` when given: float32, C-contiguous, the output's shape)."""
        plane = np.ascontiguousarray(y, dtype=np.float32)
        if plane.ndim != 2:
            raise ValueError(f"run_y expects a 2-D plane, got shape {plane.shape}")
        n_threads = _check_threads(threads)
        if self._spec.pre_upsample:
            plane = resize_planes(plane[None], self.scale, n_threads)[0]
        return self._engine.run(plane, n_threads, out=out)

    def upscale(
        self,
        image: np.ndarray,
        *,
        threads: int | None = None,
        channel_order: Literal["RGB", "BGR"] = "RGB",
    ) -> np.ndarray:
        """Super-resolves ``image`` by :attr:`scale`.

        ``image``: H x W (gray), H x W x 1, H x W x 3 (RGB, or BGR with
        ``channel_order="BGR"``) or H x W x 4 (RGBA); uint8, uint16, float32 or
        float64 (floats in [0, 1]). Returns a new array of the same layout and
        dtype, ``scale`` x larger, clipped (and rounded for integer types). The
        network runs on Y (BT.601, as MATLAB's rgb2ycbcr); chroma and alpha are
        upscaled with MATLAB-compatible bicubic.
        """
        arr = _check_image(image)
        if channel_order not in ("RGB", "BGR"):
            raise ValueError(f"channel_order must be 'RGB' or 'BGR', got {channel_order!r}")
        n_threads = _check_threads(threads)
        # float64 input is computed in float64 up to the network, float32 elsewhere (enough for
        # 16-bit samples; the network itself is float32).
        x = color.to_unit_float(arr, np.float64 if arr.dtype == np.float64 else np.float32)
        if x.ndim == 2 or x.shape[2] == 1:
            y = self.run_y(x if x.ndim == 2 else x[..., 0], n_threads)
            return color.from_unit_float(y if x.ndim == 2 else y[..., None], arr.dtype)
        rgb = x[..., :3] if channel_order == "RGB" else x[..., 2::-1]
        ycc = color.rgb_to_ycbcr(rgb)
        # Cb, Cr (and alpha) in one bicubic pass, then Y joins them for one packing pass.
        rest = [ycc[..., 1], ycc[..., 2]] + ([x[..., 3]] if x.shape[2] == 4 else [])
        planes = np.empty((x.shape[2], x.shape[0] * self.scale, x.shape[1] * self.scale), np.float32)
        resize_planes(np.stack(rest).astype(np.float32), self.scale, n_threads, out=planes[1:])
        self.run_y(ycc[..., 0], n_threads, out=planes[0])
        return color.ycbcr_planes_to_image(planes, arr.dtype, channel_order == "BGR", n_threads)

    __call__ = upscale


def _check_scale(scale: object) -> int:
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)):
        raise TypeError(f"scale must be an integer, got {type(scale).__name__}")
    if not 2 <= int(scale) <= 16:
        raise ValueError(f"scale must be in [2, 16], got {scale}")
    return int(scale)


def _check_threads(threads: int | None) -> int:
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an integer or None, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return int(threads)


def _check_image(image: object) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"image must be a numpy array, got {type(image).__name__}") from exc
    arr: np.ndarray = image  # type: ignore[assignment]
    if arr.dtype not in _SUPPORTED_DTYPES:
        raise TypeError(f"unsupported image dtype {arr.dtype}; use uint8, uint16, float32 or float64")
    if arr.ndim not in (2, 3):
        raise ValueError(f"image must be H x W or H x W x C, got {arr.ndim} dimensions (shape {arr.shape})")
    if arr.ndim == 3 and arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels, got {arr.shape[2]} (shape {arr.shape})")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"image is empty (shape {arr.shape})")
    if max(arr.shape[:2]) > _MAX_SIDE:
        raise ValueError(f"image side exceeds {_MAX_SIDE} pixels (shape {arr.shape})")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError("image contains NaN or infinity")
    return arr


_CACHE: dict[tuple[str, int | None, float], Model] = {}
_CACHE_LOCK = threading.Lock()


def _cached_model(model: str, weights: str | os.PathLike[str] | None, scale: int) -> Model:
    if weights is not None:
        path = Path(os.fspath(weights))
        key = (str(path.resolve()), scale, path.stat().st_mtime if path.exists() else 0.0)
        source: str = str(path)
    else:
        if model not in SHIPPED_MODELS:
            raise ValueError(f"unknown model {model!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
        key, source = (model, scale, 0.0), model
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        cached = Model.load(source, scale=scale)
        with _CACHE_LOCK:
            cached = _CACHE.setdefault(key, cached)
    return cached


def upscale(
    image: np.ndarray,
    scale: int = 3,
    *,
    model: str = "fsrcnn",
    weights: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    channel_order: Literal["RGB", "BGR"] = "RGB",
) -> np.ndarray:
    """Super-resolves ``image`` by ``scale`` with a shipped model or a weights file.

    See :meth:`Model.upscale` for the accepted layouts and dtypes. Models are
    loaded once and cached.
    """
    s = _check_scale(scale)
    _check_image(image)
    return _cached_model(model, weights, s).upscale(image, threads=threads, channel_order=channel_order)
