"""The protocol-buffer wire format, decoded without compiled ``.proto`` files or the protobuf package: the
one reader both protobuf formats use (TensorFlow ``.pb`` in :mod:`.tf_pb`, Caffe ``.caffemodel`` in
:mod:`.caffe_io`).

A message is a run of (field number, wire type, value); these functions walk it with every length and count
checked against the bytes that are there, so a truncated or garbage file raises
:class:`~fsrcnn_fast.weights.errors.WeightsError` and never reads past the buffer or loops. The protobuf
package would parse the same bytes, but it needs the formats' ``.proto`` schemas compiled in, and only the few
fields FSRCNN weights use are wanted here; the tests write their files with their own small writer
(``tests/pbwrite.py``), so that reader and writer do not share a mistake.
"""

from __future__ import annotations

from typing import Iterator, Union

import numpy as np

from .errors import WeightsError

__all__ = ["VARINT", "FIXED64", "LEN", "FIXED32", "Field", "varint", "signed", "fields", "payload", "text", "ints",
           "fixed"]

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def varint(buf: memoryview, pos: int, what: str) -> tuple[int, int]:
    """Decodes one base-128 varint at pos; at most 10 bytes, never past the end of buf."""
    result = 0
    for i in range(10):
        if pos >= len(buf):
            raise WeightsError(f"{what}: truncated (varint runs past the end)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << (7 * i)
        if byte < 0x80:
            return result, pos
    raise WeightsError(f"{what}: malformed varint (more than 10 bytes)")


def signed(v: int) -> int:
    """int32/int64 fields hold negative numbers as 64-bit two's complement."""
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


Field = tuple[int, int, Union[int, memoryview]]


def fields(buf: memoryview, what: str) -> Iterator[Field]:
    """Yields (field number, wire type, value) of one message: an int for varints, a memoryview of the
    payload otherwise. Every step advances, so a corrupt message ends in an error, never a loop."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos, what)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise WeightsError(f"{what}: field number 0 at byte {pos} (not a protocol buffer?)")
        if wire == VARINT:
            value, pos = varint(buf, pos, what)
            yield number, wire, value
            continue
        if wire == LEN:
            size, pos = varint(buf, pos, what)
        elif wire == FIXED64:
            size = 8
        elif wire == FIXED32:
            size = 4
        else:
            raise WeightsError(f"{what}: unsupported wire type {wire} for field {number} (not a protocol buffer?)")
        if pos + size > end:
            raise WeightsError(f"{what}: truncated (field {number} needs {size} bytes, {end - pos} left)")
        yield number, wire, buf[pos : pos + size]
        pos += size


def payload(value: int | memoryview, wire: int, expected: int, what: str) -> memoryview:
    if wire != expected or not isinstance(value, memoryview):
        raise WeightsError(f"{what}: wire type {wire}, expected {expected}")
    return value


def text(value: int | memoryview, wire: int, what: str) -> str:
    try:
        return bytes(payload(value, wire, LEN, what)).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WeightsError(f"{what}: not UTF-8 text") from exc


def ints(value: int | memoryview, wire: int, what: str) -> list[int]:
    """A repeated integer field: one varint, or a packed run of them."""
    if wire == VARINT:
        return [signed(int(value))]
    buf = payload(value, wire, LEN, what)
    out, pos = [], 0
    while pos < len(buf):
        v, pos = varint(buf, pos, what)
        out.append(signed(v))
    return out


def fixed(value: int | memoryview, wire: int, size: int, dtype: str, what: str) -> np.ndarray:
    """A repeated fixed-width field (float, double): one value, or a packed run."""
    buf = payload(value, wire, LEN if wire == LEN else (FIXED32 if size == 4 else FIXED64), what)
    if len(buf) % size:
        raise WeightsError(f"{what}: packed run of {len(buf)} bytes is not a multiple of {size}")
    return np.frombuffer(bytes(buf), dtype)
