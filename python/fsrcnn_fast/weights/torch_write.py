"""PyTorch export: an FSRCNN as a yjn870-layout state dict that ``torch.load(..., weights_only=True)`` reads,
written without torch."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import zipfile
from pathlib import Path
from typing import Sequence, Union

import numpy as np

from .errors import WeightsError
from .schema import Deconv, NetworkSpec

__all__ = ["save_torch_state_dict"]

PathLike = Union[str, "os.PathLike[str]"]


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
