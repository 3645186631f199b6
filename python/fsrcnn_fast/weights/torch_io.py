"""PyTorch state dicts (``.pth`` / ``.pt``): import FSRCNN / SRCNN weights, export FSRCNN ones.

A ``.pth`` file is a pickle, and unpickling can run arbitrary code. This module never lets it: its
unpickler resolves only a short allow-list of globals (``collections.OrderedDict``, torch's tensor
rebuild functions and storage types), each mapped to a local NumPy function, and refuses every other
one with :class:`UnsafePickleError` before anything is called. torch itself is never imported.

Both serialisations torch writes are read:

* zip (torch >= 1.6): ``<archive>/data.pkl`` plus one record ``<archive>/data/<key>`` per storage;
* legacy (``_use_new_zipfile_serialization=False``, and everything before 1.6): the pickles of a magic
  number, a protocol version and a ``sys_info`` dict, then the main pickle, then the list of storage
  keys, then each storage as an 8-byte little-endian element count followed by its raw bytes.

Tensors come back as read-only NumPy arrays (bfloat16 as float32, other dtypes as they are), whatever
device they were saved on.

Architecture inference (:func:`load_torch`, :func:`spec_from_state_dict`) understands these layouts:

* yjn870/FSRCNN-pytorch: ``first_part.0`` conv, ``first_part.1`` PReLU, ``mid_part.{i}`` alternating
  conv / PReLU, ``last_part`` ``ConvTranspose2d(d, 1, k, stride=s, padding=k//2, output_padding=s-1)``;
* named stages: ``feature_extraction`` (or ``feature``), ``shrink``, ``map``, ``expand``, then ``deconv``
  or ``subpixel``, each a module or a ``Sequential`` (``map.0.weight`` conv, ``map.1.weight`` PReLU, ...);
  a ``prelu`` tensor inside a conv module (``feature.prelu``) is that conv's PReLU;
* a plain ``Sequential``: ``0.weight``, ``1.weight``, ...;
* SRCNN: ``conv1``, ``conv2``, ``conv3`` with ReLU after conv1 and conv2, on a bicubic-upscaled input.

A module holding a 4-D ``weight`` is a convolution; one holding only a 1-D ``weight`` is a PReLU.
The last convolution decides the tail: ``[d, 1, k, k]`` with one bias after d channels is a
ConvTranspose2d (deconvolution, FSRCNN); a conv to scale² channels is a sub-pixel tail (PixelShuffle
follows); a conv to one channel is an SRCNN-like network without a tail. A conv not followed by a
PReLU gets a ReLU when a parameter-free module sits between it and the next one in the same
``Sequential`` (``0`` then ``2``), and in networks without a tail (SRCNN); in an FSRCNN it is an error,
because ``nn.ReLU`` leaves no trace in a state dict. Any other naming is described with ``mapping=``.
"""

from __future__ import annotations

import collections
import hashlib
import io
import math
import os
import pickle
import pickletools
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

from .errors import WeightsError, WeightsFileNotFoundError
from .limits import check_file_size, read_member
from .provenance import check_scale_argument, decide_offset, decide_scale, scale_from_name, with_provenance
from .safetensors_io import build_part
from .schema import BORDERS, Conv, Deconv, NetworkSpec, Subpixel

__all__ = [
    "UnsafePickleError",
    "read_torch_file",
    "load_torch_state_dict",
    "spec_from_state_dict",
    "load_torch",
    "save_torch_state_dict",
    "scale_from_name",
    "ROLES",
]

PathLike = Union[str, "os.PathLike[str]"]
MappingSpec = Union[Mapping[str, str], Sequence[tuple[str, str]]]

# Top-level keys of training checkpoints that hold the weights, in the order they are preferred:
# BasicSR keeps the exponential moving average (the better weights) in params_ema.
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "net")
# Prefixes added by wrappers around a model: DataParallel / DistributedDataParallel, torch.compile.
STRIP_PREFIXES = ("module.", "_orig_mod.")

# Roles a ``mapping=`` entry may give a module prefix.
ROLES = ("conv", "conv+relu", "prelu", "deconv", "subpixel", "ignore")

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class UnsafePickleError(WeightsError):
    """The file's pickle asks for a global outside the allow-list: it was refused, never called."""


# --------------------------------------------------------------------------------------------------
# Safe unpickling
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StorageType:
    """Stands for ``torch.FloatStorage`` etc.: only the element type matters here."""

    name: str
    dtype: np.dtype  # as stored in the file
    bfloat16: bool = False  # raw uint16 halves of float32s

    def __setstate__(self, state: object) -> None:
        raise UnsafePickleError("the pickle tries to set the state of a storage type")


def _storage_types() -> dict[str, _StorageType]:
    table = {
        "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "LongStorage": "i8",
        "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1",
        "BoolStorage": "?", "ComplexFloatStorage": "c8", "ComplexDoubleStorage": "c16",
        "UntypedStorage": "u1",
    }
    types = {name: _StorageType(name, np.dtype(code)) for name, code in table.items()}
    types["BFloat16Storage"] = _StorageType("BFloat16Storage", np.dtype("u2"), bfloat16=True)
    return types


_STORAGE_TYPES = _storage_types()


class _Storage:
    """One storage: a flat array of ``numel`` elements (filled later in the legacy format)."""

    __slots__ = ("key", "type", "numel", "data", "filled")

    def __init__(self, key: str, stype: _StorageType, numel: int, data: np.ndarray, filled: bool) -> None:
        self.key, self.type, self.numel, self.data, self.filled = key, stype, numel, data, filled

    def __setstate__(self, state: object) -> None:
        raise UnsafePickleError("the pickle tries to set the state of a storage")


def _as_index_tuple(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(type(v) is int and v >= 0 for v in value):
        raise WeightsError(f"tensor {what} must be a tuple of non-negative integers, got {value!r}")
    return tuple(value)


def _rebuild_tensor(storage: object, storage_offset: object, size: object, stride: object) -> np.ndarray:
    """torch._utils._rebuild_tensor: a strided view of a storage, bounds-checked so that a hostile
    file cannot make NumPy read outside the storage."""
    if not isinstance(storage, _Storage) or not isinstance(storage.data, np.ndarray):
        raise WeightsError(f"a tensor's storage must be a storage record, got {type(storage).__name__}")
    if type(storage_offset) is not int or storage_offset < 0:
        raise WeightsError(f"tensor storage offset must be a non-negative integer, got {storage_offset!r}")
    shape = _as_index_tuple(size, "size")
    strides = _as_index_tuple(stride, "stride")
    if len(shape) != len(strides):
        raise WeightsError(f"tensor size {shape} and stride {strides} differ in length")
    data = storage.data
    if 0 in shape:
        return np.zeros(shape, data.dtype)
    last = storage_offset + sum((n - 1) * s for n, s in zip(shape, strides))
    if last >= data.size:
        raise WeightsError(
            f"tensor of size {shape}, stride {strides} at offset {storage_offset} reaches element {last} "
            f"of storage {storage.key!r}, which holds {data.size}"
        )
    item = data.itemsize
    return np.lib.stride_tricks.as_strided(
        data[storage_offset:], shape=shape, strides=tuple(s * item for s in strides), writeable=False
    )


def _rebuild_tensor_v2(storage: object, storage_offset: object, size: object, stride: object,
                       requires_grad: object = False, backward_hooks: object = None,
                       metadata: object = None) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2: autograd flags and hooks mean nothing to an array."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: object, requires_grad: object = False, backward_hooks: object = None,
                       state: object = None) -> np.ndarray:
    """nn.Parameter wraps a tensor; the tensor is what we keep."""
    if not isinstance(data, np.ndarray):
        raise WeightsError(f"a parameter must wrap a tensor, got {type(data).__name__}")
    return data


class _Allowed:
    """An allow-listed global as the pickle sees it: callable, but with no attributes a BUILD
    opcode could change (a bare function's ``__defaults__`` could be)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[..., object]) -> None:
        self._fn = fn

    def __call__(self, *args: object) -> object:
        return self._fn(*args)

    def __setstate__(self, state: object) -> None:
        raise UnsafePickleError("the pickle tries to set the state of an allowed global")


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): _Allowed(collections.OrderedDict),
    ("torch._utils", "_rebuild_tensor"): _Allowed(_rebuild_tensor),
    ("torch._utils", "_rebuild_tensor_v2"): _Allowed(_rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter"): _Allowed(_rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _Allowed(_rebuild_parameter),
    **{("torch", name): stype for name, stype in _STORAGE_TYPES.items()},
}


def _refusal(module: str, name: str) -> str:
    hint = "only tensors, dicts and lists can be loaded; nothing in the file is executed"
    if not module.startswith(("torch", "collections", "builtins", "__builtin__", "os", "posix", "nt", "subprocess")):
        hint += " (a whole pickled model? save model.state_dict() instead)"
    return f"refused to load global {module}.{name}: {hint}"


# (key, storage type, numel) -> the storage's flat array, or None when it is filled in later (legacy).
StorageReader = Callable[[str, _StorageType, int], Union[np.ndarray, None]]


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals and turns storage records into arrays.

    ``storages`` collects every storage the pickle refers to, by key, so the legacy reader can fill
    them from the data that follows the pickle.
    """

    def __init__(self, file: io.BytesIO, source: str, read_storage: StorageReader) -> None:
        super().__init__(file, encoding="utf-8")
        self._source = source
        self._read_storage = read_storage
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise UnsafePickleError(f"{self._source}: {_refusal(str(module), str(name))}") from None

    def persistent_load(self, pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] in ("storage", b"storage")):
            raise WeightsError(f"{self._source}: unknown persistent record {str(pid)[:80]}")
        stype, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        if not isinstance(stype, _StorageType) or not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise WeightsError(f"{self._source}: malformed storage record {str(pid)[:80]}")
        storage = self.storages.get(key)
        if storage is None:
            data = self._read_storage(key, stype, numel)
            filled = data is not None
            if data is None:
                data = np.zeros(numel, np.float32 if stype.bfloat16 else stype.dtype)
            storage = self.storages[key] = _Storage(key, stype, numel, data, filled)
        elif storage.type != stype or storage.numel != numel:
            raise WeightsError(f"{self._source}: storage {key!r} is referenced with two different types or sizes")
        if view is None:
            return storage
        return self._view(storage, view)

    def _view(self, root: _Storage, view: object) -> _Storage:
        """Legacy storage views (torch < 0.4): (view_key, offset, size) in elements of the root."""
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str)
                and all(type(v) is int and v >= 0 for v in view[1:])):
            raise WeightsError(f"{self._source}: malformed storage view {str(view)[:80]}")
        key, offset, size = view
        if offset + size > root.numel:
            raise WeightsError(f"{self._source}: storage view {key!r} reaches past storage {root.key!r}")
        return _Storage(key, root.type, size, root.data[offset : offset + size], root.filled)


def _check_opcodes(buf: bytes, start: int, source: str) -> int:
    """Walks one pickle without running it; returns where it ends. Refuses the extension-registry
    opcodes, the one way to name a global that could bypass find_class (through copyreg's cache)."""
    stream = io.BytesIO(buf)
    stream.seek(start)
    for op, _arg, _pos in pickletools.genops(stream):
        if op.name in ("EXT1", "EXT2", "EXT4"):
            raise UnsafePickleError(f"{source}: refused pickle opcode {op.name} (copyreg extension registry)")
    return stream.tell()


def _unpickle(buf: bytes, start: int, source: str, read_storage: StorageReader) -> tuple[Any, int, _SafeUnpickler]:
    """Unpickles the pickle at ``buf[start:]``; returns the object, where the pickle ended, the unpickler."""
    end = _check_opcodes(buf, start, source)
    unpickler = _SafeUnpickler(io.BytesIO(buf[start:end]), source, read_storage)
    return unpickler.load(), end, unpickler


def _decode(raw: bytes | memoryview, stype: _StorageType, order: str) -> np.ndarray:
    """Raw storage bytes -> a flat array (bfloat16 widened to float32)."""
    dt = stype.dtype.newbyteorder(order) if stype.dtype.itemsize > 1 else stype.dtype
    arr = np.frombuffer(raw, dtype=dt)
    if stype.bfloat16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr.setflags(write=False)
    return arr


def _read_zip(buf: bytes, source: str) -> Any:
    try:
        zf = zipfile.ZipFile(io.BytesIO(buf))
        names = zf.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError,
            RuntimeError) as exc:  # NotImplementedError: a zip version or method it does not know
        raise WeightsError(f"{source}: not a readable PyTorch zip archive ({exc})") from exc
    pkls = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
    if not pkls:
        raise WeightsError(f"{source}: a zip file without <archive>/data.pkl: not saved by torch.save")
    prefix = pkls[0][: -len("data.pkl")]
    if any(n.startswith(prefix + "code/") for n in names) or prefix + "constants.pkl" in names:
        raise WeightsError(
            f"{source}: a TorchScript archive (torch.jit.save); load it with torch.jit.load and save its "
            "state_dict() with torch.save"
        )
    order = "<"
    if prefix + "byteorder" in names:
        mark = read_member(zf, prefix + "byteorder", source)
        if mark not in (b"little", b"big"):
            raise WeightsError(f"{source}: unknown byteorder record {mark[:20]!r}")
        order = "<" if mark == b"little" else ">"

    def read_storage(key: str, stype: _StorageType, numel: int) -> np.ndarray:
        name = f"{prefix}data/{key}"
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise WeightsError(f"{source}: storage record {name!r} is missing") from None
        nbytes = numel * stype.dtype.itemsize
        if info.file_size != nbytes:
            raise WeightsError(f"{source}: storage record {name!r} holds {info.file_size} bytes, expected {nbytes}")
        return _decode(read_member(zf, name, source), stype, order)

    obj, _, _ = _unpickle(read_member(zf, pkls[0], source), 0, source, read_storage)
    return obj


def _read_legacy(buf: bytes, source: str) -> Any:
    def no_storages(key: str, stype: _StorageType, numel: int) -> None:
        raise WeightsError(f"{source}: storage record {key!r} in a header pickle")
    magic, pos, _ = _unpickle(buf, 0, source, no_storages)
    if magic != _LEGACY_MAGIC:
        raise WeightsError(f"{source}: not a PyTorch file (a pickle, but without torch's magic number)")
    protocol, pos, _ = _unpickle(buf, pos, source, no_storages)
    if protocol != _LEGACY_PROTOCOL:
        raise WeightsError(f"{source}: unsupported legacy torch protocol version {protocol!r}")
    _sys_info, pos, _ = _unpickle(buf, pos, source, no_storages)

    def later(key: str, stype: _StorageType, numel: int) -> None:
        if numel * stype.dtype.itemsize > len(buf):  # before allocating room for it
            raise WeightsError(f"{source}: storage {key!r} of {numel} elements is larger than the file")
        return None  # filled from the data after the pickles

    obj, pos, unpickler = _unpickle(buf, pos, source, later)
    keys, pos, _ = _unpickle(buf, pos, source, no_storages)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise WeightsError(f"{source}: the storage key list is malformed")
    for key in keys:  # always little-endian in this format, whatever sys_info says
        storage = unpickler.storages.get(key)
        if storage is None:
            raise WeightsError(f"{source}: data for storage {key!r}, which no tensor uses")
        if pos + 8 > len(buf):
            raise WeightsError(f"{source}: truncated: storage {key!r} is missing")
        (numel,) = struct.unpack_from("<q", buf, pos)
        nbytes = storage.numel * storage.type.dtype.itemsize
        if numel != storage.numel or pos + 8 + nbytes > len(buf):
            raise WeightsError(
                f"{source}: storage {key!r}: header says {numel} elements, the pickle {storage.numel}, "
                f"{len(buf) - pos - 8} bytes left in the file"
            )
        storage.data[...] = _decode(memoryview(buf)[pos + 8 : pos + 8 + nbytes], storage.type, "<")
        storage.data.setflags(write=False)
        storage.filled = True
        pos += 8 + nbytes
    missing = [k for k, s in unpickler.storages.items() if not s.filled]
    if missing:
        raise WeightsError(f"{source}: no data for storage(s) {missing[:5]}")
    return obj


def read_torch_file(path: PathLike) -> Any:
    """Reads what ``torch.save`` wrote, without torch and without running code from the file.

    Returns the saved object with every tensor as a read-only NumPy array. Raises
    :class:`UnsafePickleError` when the pickle asks for any global outside the allow-list,
    :class:`WeightsError` (a ValueError) when the file is not a readable PyTorch file.
    """
    p = Path(path)
    if not p.is_file():
        raise WeightsFileNotFoundError(f"weights file not found: {p}")
    check_file_size(p)
    buf = p.read_bytes()
    source = str(p)
    try:
        if buf[:4] == b"PK\x03\x04":
            return _read_zip(buf, source)
        if buf[:1] == b"\x80":
            return _read_legacy(buf, source)
        if buf[257:262] == b"ustar":
            raise WeightsError(f"{source}: torch's old tar format (torch < 0.4) is not supported; re-save it")
        raise WeightsError(f"{source}: not a PyTorch file (neither a torch zip archive nor a legacy pickle)")
    except WeightsError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, struct.error, zipfile.BadZipFile, RecursionError, MemoryError, UnicodeError,
            NotImplementedError, RuntimeError, zlib.error) as exc:
        raise WeightsError(f"{source}: not a readable PyTorch file ({type(exc).__name__}: {exc})") from exc


def _unwrap(obj: Any, source: str) -> Mapping[str, Any]:
    """The state dict inside a checkpoint: the object itself, or under one of WRAPPER_KEYS."""
    for _ in range(4):
        if not isinstance(obj, MappingABC):
            raise WeightsError(f"{source}: holds a {type(obj).__name__}, not a state dict (name -> tensor)")
        if not obj:
            raise WeightsError(f"{source}: the state dict is empty")
        if all(isinstance(v, np.ndarray) for v in obj.values()):
            return obj
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), MappingABC)), None)
        if inner is None:
            others = [k for k, v in obj.items() if not isinstance(v, np.ndarray)][:6]
            raise WeightsError(
                f"{source}: not a state dict: entries {others} are not tensors, and none of the keys "
                f"{list(WRAPPER_KEYS)} holds one"
            )
        obj = inner
    raise WeightsError(f"{source}: state dict nested too deeply in wrappers")


def _strip(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in STRIP_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def load_torch_state_dict(path: PathLike) -> dict[str, np.ndarray]:
    """The state dict of a ``.pth`` / ``.pt`` file as ``{name: array}``, in the file's order.

    Unwraps training checkpoints (``params_ema`` first, then ``params``, ``state_dict``,
    ``model_state_dict``, ``model``, ``net``) and drops ``module.`` (DataParallel) and ``_orig_mod.``
    (torch.compile) prefixes."""
    source = str(path)
    state = _unwrap(read_torch_file(path), source)
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise WeightsError(f"{source}: state dict key {key!r} is not a string")
        name = _strip(key)
        if name in out:
            raise WeightsError(f"{source}: {key!r} and another key both become {name!r} without their prefix")
        out[name] = value
    return out


# --------------------------------------------------------------------------------------------------
# Architecture inference
# --------------------------------------------------------------------------------------------------

# Known layouts: top-level module names in forward order.
_LAYOUTS: dict[str, tuple[str, ...]] = {
    "yjn870": ("first_part", "mid_part", "last_part"),
    "named": ("feature_extraction", "feature", "shrink", "shrinking", "map", "mapping", "expand", "expanding",
              "deconv", "subpixel"),
    "srcnn": ("conv1", "conv2", "conv3"),
}
# Top-level names whose single conv-like module is the tail, whatever its shape suggests.
_TAIL_NAMES = {"last_part": "deconv", "deconv": "deconv", "subpixel": "subpixel"}
_BN_TENSORS = {"running_mean", "running_var", "num_batches_tracked"}


@dataclass
class _Module:
    """The tensors under one module prefix, and the role they play."""

    prefix: str
    tensors: dict[str, np.ndarray]
    role: str  # conv (auto), conv+none, conv+relu, prelu, deconv, subpixel

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name


@dataclass
class _Entry:
    """A conv-like module and the PReLU that follows it, if any."""

    module: _Module
    prelu: np.ndarray | None = None
    prelu_key: str = ""
    gap_after: bool = False  # a parameter-free module sits right after it in the same Sequential


@dataclass
class _Parsed:
    modules: list[_Module]
    layout: str
    ignored: list[str] = field(default_factory=list)


def _sort_key_fn(prefixes: list[str], layout: str) -> Callable[[str], tuple]:
    """Orders module prefixes: Sequential indices numerically, a known layout's names by its order,
    other names by first appearance, so that dicts whose order was lost (safetensors sorts keys
    alphabetically: last_part before mid_part, mid_part.10 before mid_part.2) still parse."""
    seen: dict[tuple[str, ...], int] = {}
    for prefix in prefixes:
        parts = prefix.split(".")
        for depth in range(len(parts)):
            seen.setdefault(tuple(parts[: depth + 1]), len(seen))
    rank = {name: i for i, name in enumerate(_LAYOUTS.get(layout, ()))}

    def key(prefix: str) -> tuple:
        parts = prefix.split(".")
        out = []
        for depth, part in enumerate(parts):
            if part.isdigit():
                out.append((0, int(part)))
            elif depth == 0 and part in rank:
                out.append((1, rank[part]))
            else:
                out.append((2, seen[tuple(parts[: depth + 1])]))
        return tuple(out)

    return key


def _detect_layout(tops: set[str]) -> str:
    if tops and all(t.isdigit() for t in tops):
        return "sequential"
    for name, names in _LAYOUTS.items():
        if tops <= set(names):
            return name
    return "generic"


def _auto_role(prefix: str, tensors: dict[str, np.ndarray], source: str) -> str:
    """conv or prelu, from the tensors' names and ranks."""

    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    names = set(tensors)
    if names & _BN_TENSORS:
        raise WeightsError(
            f"{source}: {key('running_mean')}: batch normalisation is not part of FSRCNN/SRCNN; fold it into "
            "the convolution before it, or map the module to 'ignore' with mapping="
        )
    extra = sorted(names - {"weight", "bias", "prelu"})
    if extra:
        raise WeightsError(
            f"{source}: {key(extra[0])}: unexpected tensor; FSRCNN/SRCNN modules hold 'weight' and 'bias' "
            "(and PReLUs one 'weight'); describe the network with mapping="
        )
    if "weight" not in tensors:
        raise WeightsError(f"{source}: {key(sorted(names)[0])} without {key('weight')}")
    ndim = tensors["weight"].ndim
    if ndim == 4:
        return "conv"
    if ndim <= 1 and names == {"weight"}:
        return "prelu"
    raise WeightsError(
        f"{source}: {key('weight')}: shape {tuple(tensors['weight'].shape)}"
        f"{' with a bias' if 'bias' in names else ''} is neither a convolution weight [cout, cin, k, k] "
        "nor a PReLU weight [channels] (no bias)"
    )


def _group(state: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        prefix, _, name = key.rpartition(".")
        groups.setdefault(prefix, {})[name] = value
    return groups


def _parse_auto(state: Mapping[str, np.ndarray], source: str) -> _Parsed:
    groups = _group(state)
    tops = {p.split(".")[0] for p in groups}
    layout = _detect_layout(tops)
    order = sorted(groups, key=_sort_key_fn(list(groups), layout))
    modules = []
    for prefix in order:
        role = _auto_role(prefix, groups[prefix], source)
        forced = _TAIL_NAMES.get(prefix.split(".")[0]) if layout in ("yjn870", "named") else None
        if forced and role == "conv":
            role = forced
        modules.append(_Module(prefix, groups[prefix], role))
    return _Parsed(modules, layout)


def _mapping_items(mapping: MappingSpec) -> list[tuple[str, str]]:
    items = list(mapping.items()) if isinstance(mapping, MappingABC) else [tuple(i) for i in mapping]
    for item in items:
        if len(item) != 2 or not isinstance(item[0], str) or item[1] not in ROLES:
            raise WeightsError(f"mapping entry {item!r}: expected (prefix, role) with role one of {ROLES}")
    prefixes = [p for p, _ in items]
    if len(set(prefixes)) != len(prefixes):
        raise WeightsError("mapping: a prefix appears twice")
    return items  # type: ignore[return-value]


def _parse_mapping(state: Mapping[str, np.ndarray], mapping: MappingSpec, source: str) -> _Parsed:
    """Groups tensors by the longest mapping prefix that covers them; keeps the mapping's order."""
    items = _mapping_items(mapping)
    tensors: dict[str, dict[str, np.ndarray]] = {p: {} for p, _ in items}
    for key, value in state.items():
        owners = [p for p, _ in items if key == p or key.startswith(p + ".") or p == ""]
        if not owners:
            raise WeightsError(f"{source}: {key}: not covered by mapping= (map its module to 'ignore' to skip it)")
        owner = max(owners, key=len)
        tensors[owner][key[len(owner) + 1 :] if owner and key != owner else key] = value
    modules, ignored = [], []
    for prefix, role in items:
        found = tensors[prefix]
        if role == "ignore":
            ignored += list(found)
            continue
        if not found:
            raise WeightsError(f"{source}: mapping= names {prefix!r}, but no tensor starts with it")
        role = "conv+none" if role == "conv" else role  # explicit: no activation unless a PReLU follows
        modules.append(_Module(prefix, _check_mapped(prefix, role, found, source), role))
    return _Parsed(modules, "mapping", ignored)


def _check_mapped(prefix: str, role: str, found: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    if role == "prelu":
        if len(found) != 1:
            raise WeightsError(f"{source}: {prefix}: a PReLU holds one tensor, found {sorted(found)}")
        return {"weight": next(iter(found.values()))}
    extra = sorted(set(found) - {"weight", "bias", "prelu"})
    if extra or "weight" not in found:
        raise WeightsError(
            f"{source}: {prefix}: a {role} module holds 'weight' and optionally 'bias' (and 'prelu'), "
            f"found {sorted(found)}"
        )
    return found


def _entries(modules: list[_Module], source: str) -> list[_Entry]:
    """Pairs each conv-like module with the PReLU after it; notes Sequential gaps."""
    entries: list[_Entry] = []
    for i, mod in enumerate(modules):
        if mod.role == "prelu":
            if not entries or entries[-1].prelu is not None:
                raise WeightsError(f"{source}: {mod.key('weight')}: a PReLU without a convolution before it")
            entries[-1].prelu, entries[-1].prelu_key = mod.tensors["weight"], mod.key("weight")
            continue
        entry = _Entry(mod)
        if "prelu" in mod.tensors:
            entry.prelu, entry.prelu_key = mod.tensors["prelu"], mod.key("prelu")
        entry.gap_after = i + 1 < len(modules) and _gap(mod.prefix, modules[i + 1].prefix)
        entries.append(entry)
    if not entries:
        raise WeightsError(f"{source}: no convolution weights found")
    return entries


def _gap(prefix: str, following: str) -> bool:
    """True when ``following`` is a later sibling index than ``prefix`` + 1 in the same Sequential."""
    a_parent, _, a = prefix.rpartition(".")
    b_parent, _, b = following.rpartition(".")
    return a_parent == b_parent and a.isdigit() and b.isdigit() and int(b) > int(a) + 1


def _tail_role(entry: _Entry, channels: int, scale: int | None, source: str) -> str:
    """deconv, subpixel or none for the last conv-like module."""
    mod = entry.module
    if mod.role in ("deconv", "subpixel"):
        return mod.role
    if mod.role in ("conv+none", "conv+relu"):
        return "none"
    shape = mod.tensors["weight"].shape
    bias = mod.tensors.get("bias")
    if shape[1] == 1 and shape[0] == channels and channels > 1 and (bias is None or bias.size == 1):
        return "deconv"
    if shape[0] == 1:
        return "none"
    root = math.isqrt(shape[0])
    if root > 1 and root * root == shape[0] and scale in (None, root):
        return "subpixel"
    want = f"[{scale * scale}, {channels}, k, k]" if scale else f"[s*s, {channels}, k, k]"
    raise WeightsError(
        f"{source}: {mod.key('weight')}: shape {tuple(shape)} ends the network but is neither a "
        f"ConvTranspose2d to one channel [{channels}, 1, k, k], a conv to one channel [1, {channels}, k, k] "
        f"(SRCNN) nor a sub-pixel conv to scale² channels {want}"
    )


def _check_conv(mod: _Module, channels: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    w = mod.tensors["weight"]
    if w.ndim != 4:
        raise WeightsError(
            f"{source}: {mod.key('weight')}: expected a Conv2d weight [cout, cin, k, k], got {tuple(w.shape)}"
        )
    if w.shape[1] != channels:
        raise WeightsError(
            f"{source}: {mod.key('weight')}: shape {tuple(w.shape)} takes {w.shape[1]} input channels, "
            f"but the layer before gives {channels}"
        )
    b = mod.tensors.get("bias")
    if b is None:
        b = np.zeros(w.shape[0], np.float32)
    elif b.size != w.shape[0]:
        raise WeightsError(f"{source}: {mod.key('bias')}: expected {w.shape[0]} values, got shape {tuple(b.shape)}")
    return w, b


def _check_deconv(mod: _Module, channels: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    w = mod.tensors["weight"]
    if not (w.ndim == 4 and w.shape[0] == channels and w.shape[1] == 1 and w.shape[2] == w.shape[3]):
        raise WeightsError(
            f"{source}: {mod.key('weight')}: expected ConvTranspose2d weight [d, 1, k, k] with d = {channels} "
            f"(the channels of the layer before), got {tuple(w.shape)}"
        )
    b = mod.tensors.get("bias")
    if b is None:
        b = np.zeros(1, np.float32)
    elif b.size != 1:
        raise WeightsError(
            f"{source}: {mod.key('bias')}: a deconvolution to one channel has one bias, got shape {tuple(b.shape)}"
        )
    return w, b


def _activation(entry: _Entry, is_last: bool, has_tail: bool, source: str) -> str:
    if entry.prelu is not None:
        return "prelu"
    role = entry.module.role
    if role == "conv+relu":
        return "relu"
    if role == "conv+none" or (is_last and not has_tail):
        return "none"
    if entry.gap_after or not has_tail:
        return "relu"  # a parameter-free module (ReLU) between convs / SRCNN's ReLU
    raise WeightsError(
        f"{source}: {entry.module.key('weight')}: not followed by a PReLU, and FSRCNN has one after every "
        "convolution; if the model uses nn.ReLU or no activation there, say so with "
        f"mapping= (role 'conv+relu' or 'conv' for {entry.module.prefix!r})"
    )


def _check_ranks(entries: list[_Entry], source: str) -> None:
    for e in entries:
        w = e.module.tensors["weight"]
        if w.ndim != 4:
            deconv = e.module.role == "deconv"
            kind = "ConvTranspose2d weight [d, 1, k, k]" if deconv else "Conv2d weight [cout, cin, k, k]"
            raise WeightsError(f"{source}: {e.module.key('weight')}: expected a {kind}, got {tuple(w.shape)}")
    for e in entries[:-1]:
        if e.module.role in ("deconv", "subpixel"):
            raise WeightsError(f"{source}: {e.module.key('weight')}: the {e.module.role} tail must be the last layer")


def _body(entries: list[_Entry], has_tail: bool, border: str, source: str) -> list[Conv]:
    """The convolutions before the tail, each with its activation, chained from one channel."""
    layers: list[Conv] = []
    channels = 1
    for i, e in enumerate(entries):
        w, b = _check_conv(e.module, channels, source)
        act = _activation(e, i == len(entries) - 1, has_tail, source)
        slope = None
        if act == "prelu":
            slope = np.asarray(e.prelu).reshape(-1)
            if slope.size not in (1, w.shape[0]):
                raise WeightsError(
                    f"{source}: {e.prelu_key}: {slope.size} PReLU slopes after {e.module.prefix}, which gives "
                    f"{w.shape[0]} channels: expected 1 or {w.shape[0]}"
                )
        layers.append(build_part(source, Conv, e.module.prefix, w, b, act, slope, border))
        channels = int(w.shape[0])
    return layers


def _build(parsed: _Parsed, scale: int | None, border: str, offset: int | None, source: str,
           label: str, named: int | None = None) -> NetworkSpec:
    """named: the scale the file name gives (None: no name, or none in it)."""
    if border not in BORDERS:
        raise WeightsError(f"border must be one of {BORDERS}, got {border!r}")
    entries = _entries(parsed.modules, source)
    _check_ranks(entries, source)
    last = entries[-1]
    channels = int(entries[-2].module.tensors["weight"].shape[0]) if len(entries) > 1 else 1
    tail_kind = _tail_role(last, channels, scale, source)
    if tail_kind != "none" and last.prelu is not None:
        raise WeightsError(f"{source}: {last.prelu_key}: a PReLU after the {tail_kind} tail is not supported")
    meta = {"source": label, "layout": parsed.layout, "border": border}
    if tail_kind == "none":
        s, s_from = decide_scale(source, scale, [(named, "file name")])
        layers = _body(entries, False, border, source)
        return with_provenance(build_part(source, NetworkSpec, "srcnn", tuple(layers), None, s, True, meta), s_from)
    layers = _body(entries[:-1], True, border, source)
    mod = last.module
    tail: Deconv | Subpixel
    if tail_kind == "deconv":
        s, s_from = decide_scale(source, scale, [(named, "file name")])
        w, b = _check_deconv(mod, channels, source)
        # a state dict does not record ConvTranspose2d's padding; FSRCNN code uses k // 2
        off, off_from = decide_offset(source, offset, default=int(w.shape[2]) // 2)
        tail = build_part(source, Deconv, mod.prefix, w, b, s, off, border)
        meta.update(tail="deconv", deconv_offset=str(off))
    else:
        w, b = _check_conv(mod, channels, source)
        s, s_from = decide_scale(source, scale, [(math.isqrt(int(w.shape[0])), "graph"), (named, "file name")],
                                 f"{mod.key('weight')} gives scale² = {int(w.shape[0])} channels: scale {{found}}")
        off_from = None
        tail = build_part(source, Subpixel, mod.prefix, w, b, s, border)
        meta.update(tail="subpixel")
    spec = build_part(source, NetworkSpec, "fsrcnn", tuple(layers), tail, s, False, meta)
    return with_provenance(spec, s_from, off_from)


def _infer(state: Mapping[str, np.ndarray], scale: int | None, mapping: MappingSpec | None, border: str,
           offset: int | None, source: str, label: str, named: int | None = None) -> NetworkSpec:
    check_scale_argument(scale)
    parsed = _parse_auto(state, source) if mapping is None else _parse_mapping(state, mapping, source)
    return _build(parsed, scale, border, offset, source, label, named)


def spec_from_state_dict(
    state: Mapping[str, np.ndarray],
    scale: int | None = None,
    *,
    mapping: MappingSpec | None = None,
    border: str = "zero",
    offset: int | None = None,
    source: str = "<state dict>",
) -> NetworkSpec:
    """Infers the network from a state dict (``{name: array}``, e.g. from :func:`load_torch_state_dict`,
    or ``{k: v.numpy() for k, v in model.state_dict().items()}``); arguments as :func:`load_torch`,
    ``source`` names the dict in error messages."""
    return _infer(state, scale, mapping, border, offset, source, source)


def load_torch(
    path: PathLike,
    scale: int | None = None,
    *,
    mapping: MappingSpec | None = None,
    border: str = "zero",
    offset: int | None = None,
) -> NetworkSpec:
    """A PyTorch FSRCNN / SRCNN state dict as a :class:`NetworkSpec`, without torch and without
    running code from the file.

    ``scale``: the upscaling factor. A state dict does not record it, except a sub-pixel tail's scale²
    channels; otherwise it comes from the name (``fsrcnn_x3.pth``), and ``scale`` must agree with either
    (a x2 file asked for x3 is refused). Without either, ``scale`` is required.

    ``border``: what every layer sees beyond the image; ``"zero"`` is PyTorch's padding.

    ``offset``: the deconvolution's offset (see docs/networks.md); PyTorch's
    ``ConvTranspose2d(d, 1, k, stride=s, padding=p, output_padding=s-1)`` is offset p, and
    FSRCNN code uses p = k // 2, the default (recorded as such in ``spec.provenance``).

    ``mapping``: for any naming the inference does not know, the modules in forward order as
    ``{prefix: role}`` or ``[(prefix, role), ...]``. A prefix covers the tensors ``prefix.*``; roles:

    * ``"conv"`` - Conv2d (``weight`` [cout, cin, k, k], optional ``bias``), no activation;
    * ``"conv+relu"`` - Conv2d followed by ReLU;
    * ``"prelu"`` - a PReLU module (its one tensor) after the conv before it;
    * ``"deconv"`` - ConvTranspose2d(d, 1, k) tail, ``weight`` [d, 1, k, k];
    * ``"subpixel"`` - Conv2d to scale² channels, then PixelShuffle;
    * ``"ignore"`` - tensors to skip (e.g. a discriminator).

    For example ``{"head.conv": "conv", "head.act": "prelu", "body.0": "conv", "body.1": "prelu",
    "up": "deconv"}``. Every tensor must be covered; a network without a tail ends with a conv to one
    channel and runs on a bicubic-upscaled input (SRCNN).
    """
    p = Path(path)
    state = load_torch_state_dict(p)
    return _infer(state, scale, mapping, border, offset, str(p), f"PyTorch state dict {p.name}", scale_from_name(p))


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


def _yjn870_tensors(spec: NetworkSpec) -> list[tuple[str, np.ndarray]]:
    """The state dict of yjn870's FSRCNN model for spec; refuses networks it cannot express."""
    why = None
    if spec.kind != "fsrcnn" or not isinstance(spec.tail, Deconv):
        why = "only FSRCNN networks with a deconvolution tail fit the yjn870 layout (first_part/mid_part/last_part)"
    elif any(l.border != "zero" for l in spec.layers) or spec.tail.border != "zero":
        why = "it pads with border 'replicate', and PyTorch's Conv2d / ConvTranspose2d pad with zeros"
    elif any(l.activation != "prelu" for l in spec.layers):
        bad = next(l for l in spec.layers if l.activation != "prelu")
        why = f"layer {bad.name} has activation {bad.activation!r}; the yjn870 model has a PReLU after every conv"
    elif spec.tail.offset != spec.tail.weight.shape[2] // 2:
        k = spec.tail.weight.shape[2]
        why = (
            f"its deconvolution offset is {spec.tail.offset}, but ConvTranspose2d(padding={k // 2}, "
            f"output_padding=scale-1) of the yjn870 model is offset {k // 2}"
        )
    if why:
        raise WeightsError(f"cannot export as a PyTorch FSRCNN state dict: {why}")
    out: list[tuple[str, np.ndarray]] = []
    for i, layer in enumerate(spec.layers):
        conv, act = ("first_part.0", "first_part.1") if i == 0 else (f"mid_part.{2 * i - 2}", f"mid_part.{2 * i - 1}")
        slope = np.broadcast_to(layer.slope, (layer.cout,))  # nn.PReLU(channels) as yjn870 builds it
        out += [(f"{conv}.weight", layer.weight), (f"{conv}.bias", layer.bias), (f"{act}.weight", slope)]
    out += [("last_part.weight", spec.tail.weight), ("last_part.bias", spec.tail.bias)]
    return [(name, np.ascontiguousarray(a, dtype="<f4")) for name, a in out]


class _PickleWriter:
    """Emits the protocol-2 pickle torch.save writes for an OrderedDict of float32 tensors.

    Written opcode by opcode: the pickle names torch's globals, which Python's Pickler would try to
    import, and torch need not be installed."""

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")

    def global_(self, module: str, name: str) -> None:
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def str_(self, s: str) -> None:
        raw = s.encode("utf-8")
        self.out += b"X" + struct.pack("<I", len(raw)) + raw

    def int_(self, v: int) -> None:
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif -(2**31) <= v < 2**31:
            self.out += b"J" + struct.pack("<i", v)
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(raw)]) + raw

    def ints(self, values: Sequence[int]) -> None:
        self.out += b"("
        for v in values:
            self.int_(v)
        self.out += b"t"

    def empty_ordered_dict(self) -> None:
        self.global_("collections", "OrderedDict")
        self.out += b")R"

    def tensor(self, key: str, arr: np.ndarray) -> None:
        """_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())."""
        self.global_("torch._utils", "_rebuild_tensor_v2")
        self.out += b"(("  # args tuple, then the persistent id tuple
        self.str_("storage")
        self.global_("torch", "FloatStorage")
        self.str_(key)
        self.str_("cpu")
        self.int_(arr.size)
        self.out += b"tQ"  # BINPERSID
        self.int_(0)
        self.ints(arr.shape)
        self.ints([s // arr.itemsize for s in arr.strides] if arr.size else [1] * arr.ndim)
        self.out += b"\x89"  # False: requires_grad
        self.empty_ordered_dict()
        self.out += b"tR"

    def state_dict(self, tensors: list[tuple[str, np.ndarray]]) -> bytes:
        self.empty_ordered_dict()
        self.out += b"("
        for i, (name, arr) in enumerate(tensors):
            self.str_(name)
            self.tensor(str(i), arr)
        self.out += b"u."
        return bytes(self.out)


def _aligned_writestr(zf: zipfile.ZipFile, stream: io.BytesIO, name: str, data: bytes) -> None:
    """Writes a stored record whose data starts at a multiple of 64 bytes, as torch does (it pads
    the local header with an 'FB' extra field), so torch.load(mmap=True) can map it."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = stream.tell() + 30 + len(name.encode())
    if start % 64:
        pad = (-(start + 4)) % 64
        info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    zf.writestr(info, data)


def save_torch_state_dict(spec: NetworkSpec, path: PathLike) -> None:
    """Writes spec as the state dict of yjn870/FSRCNN-pytorch's model, in torch's zip format.

    ``torch.load(path, weights_only=True)`` reads it (and ``load_torch`` reads it back exactly);
    ``FSRCNN(scale, d=..., s=..., m=...).load_state_dict(...)`` accepts it. Only FSRCNN networks with a
    deconvolution tail, zero borders, a PReLU after every conv and the offset k // 2 fit that model.
    A state dict does not record the scale: put it in the name (``fsrcnn_x3.pth``)."""
    tensors = _yjn870_tensors(spec)
    pickled = _PickleWriter().state_dict(tensors)
    stream = io.BytesIO()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as zf:
        records = [("data.pkl", pickled), (".format_version", b"1"), (".storage_alignment", b"64"),
                   ("byteorder", b"little")]
        records += [(f"data/{i}", arr.tobytes()) for i, (_, arr) in enumerate(tensors)]
        serial = str(int(hashlib.sha256(b"".join(r for _, r in records)).hexdigest(), 16))[:40]  # like torch's
        records += [("version", b"3\n"), (".data/serialization_id", serial.encode())]
        for name, data in records:
            _aligned_writestr(zf, stream, f"archive/{name}", data)
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_bytes(stream.getvalue())
    os.replace(tmp, p)
