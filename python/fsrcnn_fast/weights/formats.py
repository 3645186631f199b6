"""Weights from any trainer: one entry point that picks the importer by file type, and the writers.

Every importer maps its source exactly onto :class:`~fsrcnn_fast.weights.schema.NetworkSpec` (layouts,
kernel flips, border mode, deconvolution offset or sub-pixel tail, shared or per-channel PReLU). Optional
dependencies (SciPy for .mat, onnx for .onnx, h5py for Keras) are imported only when a file needs them;
PyTorch, TensorFlow and Caffe files are read without torch, TensorFlow or Caffe, and no file is ever
unpickled blindly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import safetensors_io
from .errors import WeightsError, WeightsFileNotFoundError
from .limits import check_file_size
from .provenance import check_scale_argument
from .schema import Conv, Deconv, NetworkSpec, Subpixel

__all__ = ["load_weights", "save_weights", "IMPORTERS", "EXPORTERS"]

# suffix -> what reads it (shown in errors and the README)
IMPORTERS = {
    ".safetensors": "fsrcnn_fast's own format",
    ".mat": "the authors' MATLAB releases (FSRCNN, FSRCNN-s, SRCNN) and flat-key FSRCNN files (needs SciPy)",
    ".pth": "PyTorch state dicts (zip or legacy; no torch needed)",
    ".pt": "PyTorch state dicts (zip or legacy; no torch needed)",
    ".pb": "TensorFlow frozen graphs of OpenCV dnn_superres (no TensorFlow needed)",
    ".onnx": "ONNX graphs of Conv/ConvTranspose/PRelu/DepthToSpace (needs onnx)",
    ".h5": "Keras HDF5 models (needs h5py)",
    ".keras": "Keras 3 archives (needs h5py)",
    ".caffemodel": "Caffe models (Convolution/PReLU/ReLU/Deconvolution; no Caffe needed; prototxt= optional)",
}
EXPORTERS = {
    ".safetensors": "every network and scale",
    ".onnx": "one scale (needs onnx); runs in ONNX Runtime and OpenCV DNN",
    ".pth": "one FSRCNN scale, zero border, as a yjn870-layout state dict",
    ".pt": "one FSRCNN scale, zero border, as a yjn870-layout state dict",
}


def _suffix(path: Path) -> str:
    return path.suffix.lower()


def load_weights(
    path: str | os.PathLike[str], scale: int | None = None, *, offset: int | None = None, **options: Any
) -> tuple[NetworkSpec, ...]:
    """Every network a weights file provides, one per scale (``scale=`` keeps one).

    ``scale`` must agree with what the file says (its metadata, its graph, or its name); where the file says
    nothing it is required. ``offset``: the deconvolution offset where the file cannot tell it (PyTorch state
    dicts, MATLAB and Keras files may override their format's default; Caffe models need it, an integer or
    ``"caffe"`` for the offset Caffe's own output has);
    where the file records it (safetensors metadata, an ONNX graph) it must agree. Every network records
    where its scale and offset came from in ``spec.provenance`` (:mod:`fsrcnn_fast.weights.provenance`).

    ``options`` go to the importer of that file type, e.g. ``mapping=``, ``border=`` for PyTorch state
    dicts (see :func:`fsrcnn_fast.weights.torch_io.load_torch`), ``prototxt=`` for Caffe models
    (:func:`fsrcnn_fast.weights.caffe_io.load_caffe`).
    """
    p = Path(os.fspath(path))
    kind = _suffix(p)
    if kind not in IMPORTERS:
        known = ", ".join(sorted(IMPORTERS))
        raise WeightsError(f"{p}: unknown weights file type {kind or '(no suffix)'!r}; fsrcnn_fast reads {known}")
    if not p.is_file():
        raise WeightsFileNotFoundError(f"weights file not found: {p}")
    check_scale_argument(scale)
    check_file_size(p)
    if kind == ".safetensors":
        if options:
            raise TypeError(f"{p}: native weights take no importer options, got {sorted(options)}")
        specs = safetensors_io.load(p).specs(scale)
    elif kind == ".mat":
        from .matlab import load_matlab

        specs = (load_matlab(p, scale, offset=offset, **options),)
    elif kind in (".pth", ".pt"):
        from .torch_io import load_torch

        specs = (load_torch(p, scale, offset=offset, **options),)
    elif kind == ".pb":
        from .tf_pb import load_tf_pb

        specs = (load_tf_pb(p, scale, **options),)
    elif kind == ".onnx":
        from .onnx_io import load_onnx

        specs = (load_onnx(p, scale, **options),)
    elif kind == ".caffemodel":
        from .caffe_io import load_caffe

        specs = (load_caffe(p, scale, offset=offset, **options),)
    else:
        from .keras_io import load_keras

        specs = (load_keras(p, scale, offset=offset, **options),)
    if offset is not None and kind in (".safetensors", ".pb", ".onnx"):  # files that record their offset
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
    if kind == ".safetensors":
        tensors, meta = native_tensors(items)
        safetensors_io.save(p, {**meta, **(metadata or {})}, tensors)
        return
    if kind not in EXPORTERS:
        raise WeightsError(f"{p}: cannot write {kind or '(no suffix)'!r} files; fsrcnn_fast writes {', '.join(sorted(EXPORTERS))}")
    if len(items) != 1:
        raise WeightsError(f"{p}: a {kind} file holds one scale; pick one (convert --scale) or write .safetensors")
    if kind == ".onnx":
        from .onnx_io import save_onnx

        save_onnx(items[0], p)
    else:
        from .torch_io import save_torch_state_dict

        save_torch_state_dict(items[0], p)


def _native_names(spec: NetworkSpec) -> list[str]:
    n = len(spec.layers)
    if spec.kind == "srcnn":
        if n != 3:
            raise WeightsError(f"the native SRCNN layout has 3 layers, this network has {n}")
        return ["conv1", "conv2", "conv3"]
    if n < 3:
        raise WeightsError(f"an FSRCNN has at least feature, shrink and expand layers, this one has {n}")
    return ["feature", "shrink"] + [f"map.{i}" for i in range(n - 3)] + ["expand"]


def _layer_tensors(spec: NetworkSpec) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    want = ("relu", "relu", "none") if spec.kind == "srcnn" else ("prelu",) * len(spec.layers)
    for name, layer, act in zip(_native_names(spec), spec.layers, want):
        if layer.activation != act:
            raise WeightsError(f"{layer.name}: the native {spec.kind} layout has {act} here, not {layer.activation}")
        out[f"{name}.weight"], out[f"{name}.bias"] = layer.weight, layer.bias
        if layer.slope is not None:
            out[f"{name}.prelu"] = layer.slope
    tail = spec.tail
    if isinstance(tail, Deconv):
        out["deconv.weight"], out["deconv.bias"] = tail.weight, tail.bias
    elif isinstance(tail, Subpixel):
        out["subpixel.weight"], out["subpixel.bias"] = tail.weight, tail.bias
    return out


def _borders(spec: NetworkSpec) -> set[str]:
    layers: list[Conv | Deconv | Subpixel] = list(spec.layers) + ([spec.tail] if spec.tail is not None else [])
    return {layer.border for layer in layers}


def native_tensors(specs: Sequence[NetworkSpec]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of the native format. Tensors equal at every scale are stored once, the
    others under ``x{scale}.`` (a multi-scale model with shared layers stores only its tails twice)."""
    first = specs[0]
    scales = [sp.scale for sp in specs]
    if len(set(scales)) != len(scales):
        raise WeightsError(f"two networks for the same scale: {scales}")
    borders = set().union(*(_borders(sp) for sp in specs))
    if len(borders) != 1:
        raise WeightsError(f"the native format has one border mode for every layer, these networks use {sorted(borders)}")
    tails = {type(sp.tail).__name__ for sp in specs}
    offsets = {sp.scale: sp.tail.offset for sp in specs if isinstance(sp.tail, Deconv)}
    if any(sp.kind != first.kind for sp in specs) or len(tails) != 1:
        raise WeightsError("the native format stores one network kind and one tail kind per file")
    per_scale = {sp.scale: _layer_tensors(sp) for sp in specs}
    names = list(per_scale[first.scale])
    if any(list(t) != names for t in per_scale.values()):
        raise WeightsError("the networks of different scales have different layers")
    tensors: dict[str, np.ndarray] = {}
    for name in names:
        values = [per_scale[s][name] for s in scales]
        if all(v.shape == values[0].shape and np.array_equal(v, values[0]) for v in values[1:]):
            tensors[name] = values[0]
        else:
            tensors.update({f"x{s}.{name}": v for s, v in zip(scales, values)})
    meta = {"network": first.kind, "scales": ",".join(str(s) for s in scales), "border": borders.pop()}
    if first.kind == "fsrcnn":
        meta["tail"] = "deconv" if isinstance(first.tail, Deconv) else "subpixel"
        if len(set(offsets.values())) == 1:
            meta["deconv_offset"] = str(next(iter(offsets.values())))
        elif offsets:
            meta["deconv_offset"] = ",".join(f"{s}:{o}" for s, o in offsets.items())
        meta.update(d=str(first.layers[0].cout), s=str(first.layers[1].cout), m=str(len(first.layers) - 3))
    for key in ("name", "source", "training"):
        if key in first.metadata:
            meta[key] = str(first.metadata[key])
    return tensors, meta
