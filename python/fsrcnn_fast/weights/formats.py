"""Weights from any trainer: the registry of formats (suffix -> reader, writer, what it needs), and the one
entry point that picks a format's reader or writer by the file's suffix.

Every reader maps its source exactly onto :class:`~fsrcnn_fast.weights.schema.NetworkSpec` (layouts,
kernel flips, border mode, deconvolution offset or sub-pixel tail, shared or per-channel PReLU), decides its
scale and offset through :mod:`~fsrcnn_fast.weights.provenance` and raises
:class:`~fsrcnn_fast.weights.errors.WeightsError` for every problem. Optional dependencies (SciPy for .mat,
onnx for .onnx, h5py for Keras) are imported only when a file needs them; PyTorch, TensorFlow and Caffe files
are read without torch, TensorFlow or Caffe, and no file is ever unpickled blindly. A new format is a module
with a reader (and a writer) plus one :class:`Format` line below.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import WeightsError, WeightsFileNotFoundError
from .limits import check_file_size, check_runnable
from .provenance import check_scale_argument
from .safetensors_io import native_tensors  # noqa: F401  (moved there, beside the native reader)
from .schema import Deconv, NetworkSpec

__all__ = ["load_weights", "save_weights", "FORMATS", "Format", "IMPORTERS", "EXPORTERS"]


@dataclass(frozen=True)
class Format:
    """One file format: its suffixes, its reader and writer (``"module:function"`` in this package, imported
    when a file needs them), what they handle, and what the file records of the deconvolution offset."""

    suffixes: tuple[str, ...]
    reads: str  # what the reader understands (shown in errors, the CLI and the README)
    reader: str  # (path, scale, **options) -> NetworkSpec or a tuple of them
    writer: str | None = None  # (spec or specs, path[, metadata]) -> None
    writes: str = ""
    multi_scale: bool = False  # a file may hold several scales (reader and writer take them all)
    offset_in_file: bool = True  # the file records its offset (offset= must agree) or the reader takes offset=

    def _function(self, spec: str) -> Callable[..., Any]:
        module, _, name = spec.partition(":")
        return getattr(importlib.import_module(f".{module}", __package__), name)

    def read(self, path: Path, scale: int | None, offset: object, options: dict[str, Any]) -> tuple[NetworkSpec, ...]:
        if not self.offset_in_file or offset is None:
            got = self._function(self.reader)(path, scale, **options, **({} if offset is None else {"offset": offset}))
        else:
            got = self._function(self.reader)(path, scale, **options)
        return tuple(got) if isinstance(got, (tuple, list)) else (got,)


FORMATS: tuple[Format, ...] = (
    Format((".safetensors",), "fsrcnn_fast's own format", "safetensors_io:load_specs", "safetensors_io:save_specs",
           "every network and scale", multi_scale=True),
    Format((".mat",), "the authors' MATLAB releases (FSRCNN, FSRCNN-s, SRCNN) and flat-key FSRCNN files (needs SciPy)",
           "matlab:load_matlab", offset_in_file=False),
    Format((".pth", ".pt"), "PyTorch state dicts (zip or legacy; no torch needed)", "torch_io:load_torch",
           "torch_write:save_torch_state_dict", "one FSRCNN scale, zero border, as a yjn870-layout state dict",
           offset_in_file=False),
    Format((".pb",), "TensorFlow frozen graphs of OpenCV dnn_superres (no TensorFlow needed)", "tf_pb:load_tf_pb"),
    Format((".onnx",), "ONNX graphs of Conv/ConvTranspose/PRelu/DepthToSpace (needs onnx)", "onnx_io:load_onnx",
           "onnx_io:save_onnx", "one scale (needs onnx); runs in ONNX Runtime and OpenCV DNN"),
    Format((".h5",), "Keras HDF5 models (needs h5py)", "keras_io:load_keras", offset_in_file=False),
    Format((".keras",), "Keras 3 archives (needs h5py)", "keras_io:load_keras", offset_in_file=False),
    Format((".caffemodel",), "Caffe models (Convolution/PReLU/ReLU/Deconvolution; no Caffe needed; prototxt= "
           "optional; offset= required)", "caffe_io:load_caffe", offset_in_file=False),
)
_BY_SUFFIX = {suffix: f for f in FORMATS for suffix in f.suffixes}

# suffix -> what reads / writes it (shown in errors, the CLI and the README)
IMPORTERS = {suffix: f.reads for suffix, f in _BY_SUFFIX.items()}
EXPORTERS = {suffix: f.writes for suffix, f in _BY_SUFFIX.items() if f.writer}


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def load_weights(
    path: str | os.PathLike[str], scale: int | None = None, *, offset: int | None = None, **options: Any
) -> tuple[NetworkSpec, ...]:
    """Every network a weights file provides, one per scale (``scale=`` keeps one).

    ``scale`` must agree with what the file says (its metadata, its graph, or its name); where the file says
    nothing it is required. ``offset``: the deconvolution offset where the file cannot tell it (PyTorch state
    dicts, MATLAB and Keras files may override their format's default; Caffe models need it, an integer or
    ``"caffe"`` for the offset Caffe's own output has); where the file records it (safetensors metadata, an
    ONNX graph) it must agree. Every network records where its scale and offset came from in
    ``spec.provenance`` (:mod:`fsrcnn_fast.weights.provenance`).

    ``options`` go to the reader of that file type, e.g. ``mapping=``, ``border=`` for PyTorch state
    dicts (see :func:`fsrcnn_fast.weights.torch_io.load_torch`), ``prototxt=`` for Caffe models
    (:func:`fsrcnn_fast.weights.caffe_io.load_caffe`).
    """
    p = Path(os.fspath(path))
    fmt = _BY_SUFFIX.get(_suffix(p))
    if fmt is None:
        known = ", ".join(sorted(IMPORTERS))
        raise WeightsError(f"{p}: unknown weights file type {_suffix(p) or '(no suffix)'!r}; fsrcnn_fast reads {known}")
    if not p.is_file():
        raise WeightsFileNotFoundError(f"weights file not found: {p}")
    check_scale_argument(scale)
    check_file_size(p)
    if fmt.multi_scale and options:
        raise TypeError(f"{p}: native weights take no importer options, got {sorted(options)}")
    specs = fmt.read(p, scale, offset, options)
    for spec in specs:
        check_runnable(spec, str(p))
    if offset is not None and fmt.offset_in_file:
        for spec in specs:
            _check_offset_agrees(p, spec, offset)
    return specs


def _check_offset_agrees(path: Path, spec: NetworkSpec, offset: object) -> None:
    """offset= of a file that records its offset (or has none) must agree with it."""
    if not isinstance(spec.tail, Deconv):
        raise WeightsError(f"{path}: offset={offset!r} given, but the x{spec.scale} network has no deconvolution")
    if spec.tail.offset != offset:
        source = spec.provenance.get("offset", "file")
        raise WeightsError(
            f"{path}: the x{spec.scale} deconvolution offset is {spec.tail.offset} (from its {source}), not {offset}")


def save_weights(
    specs: NetworkSpec | Sequence[NetworkSpec], path: str | os.PathLike[str], metadata: dict[str, str] | None = None
) -> None:
    """Writes networks to ``path``, in the format its suffix names (see :data:`EXPORTERS`)."""
    p = Path(os.fspath(path))
    items = [specs] if isinstance(specs, NetworkSpec) else list(specs)
    if not items:
        raise WeightsError("nothing to save")
    kind = _suffix(p)
    fmt = _BY_SUFFIX.get(kind)
    if fmt is None or fmt.writer is None:
        raise WeightsError(f"{p}: cannot write {kind or '(no suffix)'!r} files; fsrcnn_fast writes {', '.join(sorted(EXPORTERS))}")
    if fmt.multi_scale:
        fmt._function(fmt.writer)(items, p, metadata)
        return
    if len(items) != 1:
        raise WeightsError(f"{p}: a {kind} file holds one scale; pick one (convert --scale) or write .safetensors")
    fmt._function(fmt.writer)(items[0], p)
