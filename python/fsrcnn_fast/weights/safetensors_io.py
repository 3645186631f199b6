"""The native weights format: safetensors with the architecture in the header metadata.

Metadata (all values are strings):
  format         "fsrcnn_fast/1"
  network        "fsrcnn" | "srcnn"
  scales         comma-separated integer scales the file provides, e.g. "3" or "2,3,4"
  border         "zero" | "replicate"   (padding of every layer at the image edge)
  tail           "deconv" | "subpixel"  (fsrcnn only)
  deconv_offset  integer, the o + offset - scale*p of the deconv definition (fsrcnn, tail=deconv),
                 or one per scale in a multi-scale file: "2:4,3:3,4:4"
  color          "ycbcr-bt601"          (the network sees Y of MATLAB rgb2ycbcr, in [0, 1])
  optional, informative: d, s, m (fsrcnn), name, description, source, training

Tensors (float32; float16/float64 accepted and converted):
  fsrcnn: feature.{weight,bias,prelu}  shrink.*  map.{0..m-1}.*  expand.*  (weight OIHW; prelu [cout] or [1])
          deconv.weight [d, 1, k, k] (ConvTranspose2d layout), deconv.bias [1]
       or subpixel.weight [scale^2, d, k, k], subpixel.bias [scale^2] or [1]
  srcnn:  conv1.{weight,bias}  conv2.*  conv3.*   (ReLU after conv1 and conv2)
Any tensor may be given per scale with the prefix "x{scale}." (e.g. "x2.deconv.weight"); a
prefixed tensor wins over the unprefixed one, so a multi-scale file shares the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .errors import WeightsError, WeightsFileNotFoundError  # WeightsError re-exported: it was defined here
from .assemble import ActOp, ConvOp, DeconvOp, Op, ShuffleOp, assemble
from .schema import Conv, Deconv, NetworkSpec, Subpixel

FORMAT = "fsrcnn_fast/1"
COLOR = "ycbcr-bt601"

__all__ = ["WeightsFile", "WeightsError", "load", "save", "load_specs", "save_specs", "native_tensors", "FORMAT"]


@dataclass(frozen=True)
class WeightsFile:
    """A loaded weights file: the tensors, the metadata, and the networks it can build."""

    path: str
    metadata: Mapping[str, str]
    tensors: Mapping[str, np.ndarray]

    @property
    def network(self) -> str:
        return self.metadata["network"]

    @property
    def scales(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.metadata["scales"].split(","))

    @property
    def border(self) -> str:
        return self.metadata.get("border", "zero")

    def _get(self, name: str, scale: int) -> np.ndarray:
        for key in (f"x{scale}.{name}", name):
            if key in self.tensors:
                return self.tensors[key]
        raise WeightsError(f"{self.path}: missing tensor {name!r} (or 'x{scale}.{name}')")

    def deconv_offset(self, scale: int) -> int:
        """``deconv_offset`` is one integer, or per scale (``2:4,3:3,4:4``) in a multi-scale file."""
        value = self.metadata.get("deconv_offset", "4")
        if ":" not in value:
            return int(value)
        offsets = dict(tuple(int(v) for v in item.split(":")) for item in value.split(","))
        if scale not in offsets:
            raise WeightsError(f"{self.path}: metadata 'deconv_offset' gives no offset for x{scale} ({value!r})")
        return offsets[scale]

    def _has(self, name: str, scale: int) -> bool:
        return f"x{scale}.{name}" in self.tensors or name in self.tensors

    def spec(self, scale: int) -> NetworkSpec:
        """The network for one of the file's scales; provenance: the scale from the metadata, the
        offset from the metadata (or the format's default, 4, where it has no ``deconv_offset``)."""
        if scale not in self.scales:
            which = (f"this network upscales by {self.scales[0]}, not {scale} (its scale comes from its metadata)"
                     if len(self.scales) == 1 else "its scales come from its metadata")
            raise WeightsError(f"{self.path}: provides scales {self.scales}, not {scale}: {which}")
        try:
            ops = self._fsrcnn(scale) if self.network == "fsrcnn" else self._srcnn(scale)
        except WeightsError:
            raise
        except ValueError as exc:
            raise WeightsError(f"{self.path}: {exc}") from exc
        return assemble(ops, self.path, scale=scale, claims=[(scale, "metadata")], border=self.border,
                        kind=self.network, metadata=dict(self.metadata), record_tail=False)

    def specs(self, scale: int | None = None) -> tuple[NetworkSpec, ...]:
        """Every network of the file, or the one for ``scale``."""
        return tuple(self.spec(s) for s in (self.scales if scale is None else (scale,)))

    def _conv(self, name: str, scale: int, activation: str) -> list[Op]:
        conv = ConvOp(name, self._get(f"{name}.weight", scale), self._get(f"{name}.bias", scale), activation="none")
        if activation == "none":
            return [conv]
        return [conv, ActOp(f"{name}.prelu", "prelu", self._get(f"{name}.prelu", scale))]

    def _fsrcnn(self, scale: int) -> list[Op]:
        ops = self._conv("feature", scale, "prelu") + self._conv("shrink", scale, "prelu")
        m = 0
        while self._has(f"map.{m}.weight", scale):
            ops += self._conv(f"map.{m}", scale, "prelu")
            m += 1
        ops += self._conv("expand", scale, "prelu")
        tail_kind = self.metadata.get("tail", "deconv")
        if tail_kind == "deconv":
            said = self.deconv_offset(scale) if "deconv_offset" in self.metadata else None
            ops.append(DeconvOp("deconv", self._get("deconv.weight", scale), self._get("deconv.bias", scale), scale,
                                said, "metadata", default_offset=4, overridable=False))
        elif tail_kind == "subpixel":
            ops += [ConvOp("subpixel", self._get("subpixel.weight", scale), self._get("subpixel.bias", scale),
                           activation="none"), ShuffleOp("subpixel", scale)]
        else:
            raise WeightsError(f"{self.path}: unknown tail {tail_kind!r} (expected 'deconv' or 'subpixel')")
        return ops

    def _srcnn(self, scale: int) -> list[Op]:
        # SRCNN's ReLUs (none after conv3) are what the assembler gives convolutions that record no activation
        return [ConvOp(name, self._get(f"{name}.weight", scale), self._get(f"{name}.bias", scale))
                for name in ("conv1", "conv2", "conv3")]


def _check_metadata(path: str, meta: Mapping[str, str]) -> None:
    if meta.get("format") != FORMAT:
        raise WeightsError(f"{path}: not an fsrcnn_fast weights file (metadata 'format' is {meta.get('format')!r})")
    if meta.get("network") not in ("fsrcnn", "srcnn"):
        raise WeightsError(f"{path}: metadata 'network' must be 'fsrcnn' or 'srcnn', got {meta.get('network')!r}")
    if not re.fullmatch(r"\d+(,\d+)*", meta.get("scales", "")):
        raise WeightsError(f"{path}: metadata 'scales' must list integers like '2,3,4', got {meta.get('scales')!r}")
    if meta.get("border", "zero") not in ("zero", "replicate"):
        raise WeightsError(f"{path}: metadata 'border' must be 'zero' or 'replicate', got {meta.get('border')!r}")
    if not re.fullmatch(r"-?\d+|\d+:-?\d+(,\d+:-?\d+)*", meta.get("deconv_offset", "4")):
        raise WeightsError(f"{path}: metadata 'deconv_offset' must be an integer or per scale like '2:4,3:3', "
                           f"got {meta.get('deconv_offset')!r}")
    if meta.get("color", COLOR) != COLOR:
        raise WeightsError(f"{path}: unsupported colour convention {meta.get('color')!r} (expected {COLOR!r})")


def load(path: str | Path) -> WeightsFile:
    """Reads and checks a weights file; raises :class:`WeightsError` (a ValueError) when it is not usable."""
    from safetensors import SafetensorError, safe_open

    p = Path(path)
    if not p.is_file():
        raise WeightsFileNotFoundError(f"weights file not found: {p}")
    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = dict(f.metadata() or {})
            _check_metadata(str(p), meta)
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as exc:
        raise WeightsError(f"{p}: not a readable safetensors file ({exc})") from exc
    weights = WeightsFile(str(p), meta, tensors)
    for s in weights.scales:
        weights.spec(s)  # every advertised scale must build
    return weights


def save(path: str | Path, metadata: Mapping[str, str], tensors: Mapping[str, np.ndarray]) -> None:
    """Writes a weights file; checks that every scale it advertises builds a valid network."""
    from safetensors.numpy import save_file

    meta = {"format": FORMAT, "color": COLOR, **{k: str(v) for k, v in metadata.items()}}
    _check_metadata(str(path), meta)
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}
    probe = WeightsFile(str(path), meta, arrays)
    for s in probe.scales:
        probe.spec(s)
    save_file(arrays, str(path), metadata=meta)


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


def save_specs(specs: Sequence[NetworkSpec], path: str | Path, metadata: Mapping[str, str] | None = None) -> None:
    """Writes networks (one or several scales) as a native weights file."""
    tensors, meta = native_tensors(specs)
    save(path, {**meta, **(metadata or {})}, tensors)


def load_specs(path: str | Path, scale: int | None = None) -> tuple[NetworkSpec, ...]:
    """Every network of a native weights file, or the one for ``scale``."""
    return load(path).specs(scale)
