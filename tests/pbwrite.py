"""Test helpers for the protobuf importers (TensorFlow .pb, Caffe .caffemodel): a minimal protobuf
writer, independent of the readers under test, and the damaged-file check both run."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field_len(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def field_int(field: int, n: int) -> bytes:
    return varint(field << 3) + varint(n)


def check_damaged_files(load: Callable[[Path], object], data: bytes, target: Path, cut_end: int,
                        empty_match: str, spec_type: type) -> None:
    """Truncations before cut_end, random bytes and an empty file raise ValueError; single flipped
    bytes give either a valid network or a ValueError, never another exception."""
    rng = np.random.default_rng(0)
    for cut in sorted({1, 2, 3, 7, cut_end, *rng.integers(1, cut_end, 40).tolist()}):
        target.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            load(target)
    target.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError):
        load(target)
    target.write_bytes(b"")
    with pytest.raises(ValueError, match=empty_match):
        load(target)
    for pos in rng.integers(0, len(data), 60):
        bad = bytearray(data)
        bad[pos] ^= int(rng.integers(1, 256))
        target.write_bytes(bytes(bad))
        try:
            assert isinstance(load(target), spec_type)
        except ValueError:
            pass
