"""PyTorch files (``.pth`` / ``.pt``) read without torch: the state dict inside, as NumPy arrays.

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
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import pickletools
import struct
import zipfile
import zlib
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import numpy as np

from .errors import WeightsError, WeightsFileNotFoundError
from .limits import check_file_size, read_member

__all__ = ["UnsafePickleError", "read_torch_file", "load_torch_state_dict", "WRAPPER_KEYS", "STRIP_PREFIXES"]

PathLike = Union[str, "os.PathLike[str]"]

# Top-level keys of training checkpoints that hold the weights, in the order they are preferred:
# BasicSR keeps the exponential moving average (the better weights) in params_ema.
WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model_state_dict", "model", "net")
# Prefixes added by wrappers around a model: DataParallel / DistributedDataParallel, torch.compile.
STRIP_PREFIXES = ("module.", "_orig_mod.")

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
