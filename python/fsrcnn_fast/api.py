"""Public API: :func:`upscale` and :class:`Model`: model choice, defaults and argument checks.
Image policy (accepted layouts, output arrays) is :mod:`fsrcnn_fast.frame`'s; the shipped models are
:mod:`fsrcnn_fast.registry`'s; the typed engine wrapper and the thread defaults are
:mod:`fsrcnn_fast.engine`'s; the arithmetic is the engine's, in one call per image."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np

from . import files as _files
from . import frame as _frame
from . import region as _region
from .engine import check_scale as _check_scale
from .engine import check_threads as _check_threads
from .engine import cpu_info, default_threads, set_num_threads
from .engine import shares_layers as _shares_layers
from .engine import to_engine as _to_engine
from .engine import to_joint_engine as _to_joint_engine
from .registry import PER_SCALE_MODELS as _PER_SCALE_MODELS
from .registry import SHIPPED_MODELS, available_models
from .registry import cached_model as _cached_model
from .registry import shipped_file as _shipped_file
from .registry import shipped_path as _shipped_path
from .resize import resize_planes
from .weights import safetensors_io
from .weights.formats import load_weights
from .weights.schema import Deconv, NetworkSpec

__all__ = ["Model", "upscale", "available_models", "default_threads", "set_num_threads", "cpu_info"]

class Model:
    """A super-resolution network, loaded once and called many times.

    ``Model.load("fsrcnn")`` takes the weights shipped with the package (every shipped scale;
    ``scale=3`` for one), ``Model.load("path/to/weights")`` a weights file. A Model may hold several
    scales: :meth:`upscale` takes ``scale=``, and :meth:`upscale_all` computes several at once, running
    the layers they share (a multi-scale file like ``"fsrcnn-multi"``) only once.
    A Model is immutable and safe to call from several threads at once, and from a process forked
    after a call. Ctrl-C stops a call promptly (``KeyboardInterrupt``; an ``out=`` array is
    then left partly written) and the Model stays usable.
    """

    def __init__(
        self, spec: NetworkSpec | Sequence[NetworkSpec], source: str = "<memory>", default_scale: int | None = None
    ) -> None:
        specs = [spec] if isinstance(spec, NetworkSpec) else list(spec)
        if not specs:
            raise ValueError("a Model needs at least one network")
        self._specs: dict[int, NetworkSpec] = {}
        for sp in specs:
            if sp.scale in self._specs:
                raise ValueError(f"two networks for scale {sp.scale}")
            self._specs[sp.scale] = sp
        self._scale = specs[0].scale if default_scale is None else default_scale
        if self._scale not in self._specs:
            raise ValueError(f"default scale {self._scale} is not among the model's scales {self.scales}")
        self._source = source
        self._engines = {s: _to_engine(sp) for s, sp in self._specs.items()}
        self._engine = self._engines[self._scale]
        self._joint: dict[tuple[int, ...], object] = {}  # scales -> engine sharing their layers
        self._joint_lock = threading.Lock()

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str], scale: int | None = None, **options: Any) -> "Model":
        """Loads shipped weights by name (``"fsrcnn"``) or a weights file by path, from any trainer:
        ``.safetensors``, the authors' ``.mat``, PyTorch ``.pth``/``.pt``, TensorFlow ``.pb``
        (OpenCV dnn_superres), ``.onnx``, Keras ``.h5``/``.keras`` (see :func:`load_weights`, which
        ``options`` go to).

        ``scale`` keeps one of the scales the weights provide; by default every scale is loaded and
        :attr:`scale` (the default of :meth:`upscale`) is 3 when provided, else the file's first. A file
        whose scale contradicts ``scale``, or that cannot tell its scale when ``scale`` is not given, is
        refused (:class:`~fsrcnn_fast.weights.errors.WeightsError`); ``offset=`` gives a deconvolution
        offset the file cannot tell (Caffe). :attr:`provenance` says where the scale and offset came from.
        """
        name = os.fspath(name_or_path)
        wanted = None if scale is None else _check_scale(scale)
        if name in SHIPPED_MODELS:
            if options:
                raise TypeError(f"{sorted(options)} are for weights files; the shipped model {name!r} takes none")
            if name in _PER_SCALE_MODELS:
                scales = (2, 3, 4) if wanted is None else (wanted,)
                for s in scales:
                    if not _shipped_path(name, s).is_file():
                        raise ValueError(f"model {name!r} has no x{s} weights; shipped scales are 2, 3 and 4")
                specs = [safetensors_io.load(_shipped_path(name, s)).spec(s) for s in scales]
                return cls(specs, name, default_scale=3 if wanted is None else wanted)
            return cls._from_weights(safetensors_io.load(_shipped_file(name)), wanted, name)
        path = Path(name)
        if not path.suffix and not path.exists():
            raise ValueError(f"unknown model {name!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
        specs = load_weights(path, wanted, **options)
        scales = [sp.scale for sp in specs]
        return cls(specs, str(path), default_scale=wanted or (3 if 3 in scales else scales[0]))

    @classmethod
    def _from_weights(cls, weights: safetensors_io.WeightsFile, scale: int | None, source: str) -> "Model":
        scales = weights.scales if scale is None else (scale,)
        default = scale if scale is not None else (3 if 3 in scales else scales[0])
        return cls([weights.spec(s) for s in scales], source, default_scale=default)

    @property
    def scale(self) -> int:
        """The scale :meth:`upscale` uses when none is given."""
        return self._scale

    @property
    def provenance(self) -> dict[str, str]:
        """Where the default scale's network got its scale and offset: ``{"scale": "file name", "offset":
        "default"}`` (sources: metadata, graph, file name, argument, default; see
        :mod:`fsrcnn_fast.weights.provenance`)."""
        return dict(self.spec.provenance)

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(sorted(self._specs))

    @property
    def arch(self) -> str:
        spec = self.spec
        if spec.kind == "srcnn":
            ks = "-".join(str(l.k) for l in spec.layers)
            return f"SRCNN {ks} ({spec.layers[0].cout},{spec.layers[1].cout})"
        d, s = spec.layers[0].cout, spec.layers[1].cout
        tail = "" if isinstance(spec.tail, Deconv) else ", sub-pixel"
        return f"FSRCNN({d},{s},{len(spec.layers) - 3}{tail})"

    @property
    def border(self) -> str:
        return self.spec.layers[0].border

    @property
    def spec(self) -> NetworkSpec:
        """The network of the default :attr:`scale` (:meth:`spec_for` for the others)."""
        return self._specs[self._scale]

    def spec_for(self, scale: int) -> NetworkSpec:
        return self._specs[self._pick_scale(scale)]

    def __repr__(self) -> str:
        scales = f"scale={self.scale}" if len(self._specs) == 1 else f"scales={self.scales}, default {self.scale}"
        return f"Model({self.arch}, {scales}, border={self.border!r}, source={self._source!r})"

    def _pick_scale(self, scale: object) -> int:
        if scale is None:
            return self._scale
        s = _check_scale(scale)
        if s not in self._specs:
            raise ValueError(f"this model provides scales {self.scales}, not {s}")
        return s

    def run_y(
        self, y: np.ndarray, threads: int | None = None, out: np.ndarray | None = None, *, scale: int | None = None
    ) -> np.ndarray:
        """The network alone on a float Y plane in [0, 1]; returns float32, ``scale`` x larger
        (written into ``out`` when given: float32, C-contiguous, the output's shape)."""
        s = self._pick_scale(scale)
        plane = _check_plane(y)
        n_threads = _check_threads(threads)
        if self._specs[s].pre_upsample:
            plane = resize_planes(plane[None], s, n_threads)[0]
        return self._engines[s].run(plane, n_threads, out=out)

    def run_y_all(self, y: np.ndarray, scales: Sequence[int] | None = None, threads: int | None = None) -> dict[int, np.ndarray]:
        """:meth:`run_y` at several scales; layers the scales share are computed once."""
        wanted = self._pick_scales(scales)
        plane = _check_plane(y)
        n_threads = _check_threads(threads)
        engine = self._joint_engine(wanted)
        if engine is None:
            return {s: self.run_y(plane, n_threads, scale=s) for s in wanted}
        return dict(zip(wanted, engine.run_all(plane, n_threads)))

    def upscale(
        self,
        image: np.ndarray,
        *,
        scale: int | None = None,
        threads: int | None = None,
        channel_order: Literal["RGB", "BGR"] = "RGB",
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Super-resolves ``image`` by ``scale`` (default :attr:`scale`).

        ``image``: H x W (gray), H x W x 1, H x W x 3 (RGB, or BGR with
        ``channel_order="BGR"``) or H x W x 4 (RGBA); uint8, uint16, float32 or
        float64 (floats in [0, 1]); any strides. Returns an array of the same layout and
        dtype, ``scale`` x larger, clipped (and for integer types rounded as MATLAB's
        ``uint8()``: half away from zero). The network runs on Y (BT.601, as MATLAB's
        rgb2ycbcr); chroma and alpha are upscaled with MATLAB-compatible bicubic.
        ``out``: an array of exactly that shape and dtype (any strides, not overlapping
        ``image``) to write into instead, e.g. reused across the frames of a video.
        A PIL image gives a PIL image back (mode rules: :func:`fsrcnn_fast.files.pil_to_array`;
        ``out`` is for arrays only).
        """
        if _files.is_pil_image(image):  # a PIL image in, a PIL image out: its mode rules are in files.py
            if out is not None:
                raise TypeError("out= takes a numpy array result; a PIL image input gives a new PIL image")
            return _files.upscale_pil(self, image, scale=scale, threads=threads)
        s = self._pick_scale(scale)
        return self._upscale_into(image, (s,), threads, channel_order, {s: out})[s]

    def upscale_all(
        self,
        image: np.ndarray,
        scales: Sequence[int] | None = None,
        *,
        threads: int | None = None,
        channel_order: Literal["RGB", "BGR"] = "RGB",
        out: dict[int, np.ndarray] | None = None,
    ) -> dict[int, np.ndarray]:
        """``{scale: upscale(image, scale=scale)}`` for every scale asked (default: all of the
        model's), with the layers the scales share computed once. ``out``: ``{scale: array}`` to
        write some or all of the scales into."""
        wanted = self._pick_scales(scales)
        if out is not None and not isinstance(out, dict):
            raise TypeError("out must be a dict {scale: array}")
        extra = set(out or {}) - set(wanted)
        if extra:
            raise ValueError(f"out has arrays for scales {sorted(extra)} that are not computed ({wanted})")
        return self._upscale_into(image, wanted, threads, channel_order, out or {})

    def _upscale_into(self, image, scales: tuple[int, ...], threads, channel_order, out) -> dict[int, np.ndarray]:
        arr = _frame.check_image(image)
        bgr = _frame.check_channel_order(channel_order)
        n_threads = _check_threads(threads)
        outs: dict[int, np.ndarray] = {}
        for s in scales:
            outs[s] = _frame.check_out(out.get(s), arr, s, list(outs.values()))
        if any(self._specs[s].pre_upsample for s in scales):
            for s in scales:  # SRCNN: the engine upscales Y tile by tile before the network
                _frame.upscale_into(self._engines[s], arr, {s: outs[s]}, bgr, n_threads,
                                    pre_upsample=s if self._specs[s].pre_upsample else 0)
            return outs
        engine = self._joint_engine(scales)
        if engine is None:
            for s in scales:
                _frame.upscale_into(self._engines[s], arr, {s: outs[s]}, bgr, n_threads)
        else:
            _frame.upscale_into(engine, arr, outs, bgr, n_threads)
        return outs

    __call__ = upscale

    @property
    def halo(self) -> int:
        """Input pixels on each side of a region of an image that the region's output depends on, at the
        default scale (see :mod:`fsrcnn_fast.region`; computed from the network, not a constant)."""
        return _region.halo(self)

    def upscale_region(self, part: np.ndarray, full_shape: tuple[int, ...], origin: tuple[int, int],
                       region: tuple[int, int, int, int], **options: Any) -> np.ndarray:
        """One region of :meth:`upscale`'s result from only the part of the image around it:
        :func:`fsrcnn_fast.region.upscale_region`."""
        return _region.upscale_region(self, part, full_shape, origin, region, **options)

    def __reduce__(self):  # the networks, not the engines: a Model travels to Dask workers this way
        return (Model, (list(self._specs.values()), self._source, self._scale))

    def _pick_scales(self, scales: Sequence[int] | None) -> tuple[int, ...]:
        if scales is None:
            return self.scales
        if isinstance(scales, (int, np.integer)):
            raise TypeError("scales must be a sequence of integers, e.g. (2, 3, 4)")
        wanted = tuple(dict.fromkeys(self._pick_scale(s) for s in scales))
        if not wanted:
            raise ValueError("scales is empty")
        return wanted

    def _joint_engine(self, scales: tuple[int, ...]):  # -> _core.Network | None
        """One engine for the scales when their networks differ only in the tail, else None."""
        if len(scales) == 1:
            return self._engines[scales[0]]
        with self._joint_lock:
            if scales not in self._joint:
                specs = [self._specs[s] for s in scales]
                self._joint[scales] = _to_joint_engine(specs) if _shares_layers(specs) else None
            return self._joint[scales]


def _check_plane(y: np.ndarray) -> np.ndarray:
    plane = np.ascontiguousarray(y, dtype=np.float32)
    if plane.ndim != 2:
        raise ValueError(f"run_y expects a 2-D plane, got shape {plane.shape}")
    return plane


def upscale(
    image: np.ndarray,
    scale: int | None = None,
    *,
    model: str = "fsrcnn",
    weights: str | os.PathLike[str] | None = None,
    offset: int | None = None,
    threads: int | None = None,
    channel_order: Literal["RGB", "BGR"] = "RGB",
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Super-resolves ``image`` by ``scale`` with a shipped model or a weights file.

    ``scale``: by default 3 for a shipped model, and the weights' own scale for a weights file (a file that
    cannot tell it needs ``scale=``; a ``scale`` the file contradicts is refused). ``offset``: the
    deconvolution offset of a weights file that cannot tell it (Caffe; see :func:`load_weights`).
    See :meth:`Model.upscale` for the accepted layouts and dtypes and for ``out``. Models are loaded
    once and cached.
    """
    s = None if scale is None else _check_scale(scale)
    if not _files.is_pil_image(image):
        _frame.check_image(image)
    if weights is None and s is None:
        s = 3
    return _cached_model(model, weights, s, offset).upscale(
        image, threads=threads, channel_order=channel_order, out=out)
