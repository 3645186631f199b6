"""The typed engine wrapper: a NetworkSpec as the C++ engine's `_core.Network` (its `_core.ConvLayer` and
`_core.Tail` inputs), and the threads calls run on (the engine's own pool; `threads=` caps it)."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from .weights.schema import Deconv, NetworkSpec, Subpixel


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


_num_threads: int | None = None


def default_threads() -> int:
    """Threads a call uses when it passes ``threads=None``: :func:`set_num_threads`'s value, or
    the cores this process may run on."""
    return _num_threads if _num_threads is not None else available_cores()


def set_num_threads(threads: int | None) -> None:
    """Sets the default thread count of every later call (``None``: all available cores)."""
    global _num_threads
    _num_threads = None if threads is None else check_threads(threads)


def cpu_info() -> dict[str, object]:
    """What the engine runs on: the SIMD path chosen at import (and why), the paths this CPU
    supports, the default thread count and the threading runtime (the engine's own pool: no OpenMP,
    so ``"openmp"`` is False)."""
    from . import _core

    return {
        "isa": _core.isa(),
        "isa_reason": _core.isa_note(),
        "supported_isas": list(_core.supported_isas()),
        "threads": default_threads(),
        "available_cores": available_cores(),
        "threading": _core.threading_runtime(),
        "openmp": False,
    }


def check_threads(threads: int | None) -> int:
    if threads is None:
        return default_threads()
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"threads must be an integer or None, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return int(threads)


def check_scale(scale: object) -> int:
    """``scale`` as an int, refused by name unless it is an integer in [2, the engine's max_scale]."""
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)):
        raise TypeError(f"scale must be an integer, got {type(scale).__name__}")
    from . import _core

    top = _core.limits["max_scale"]
    if not 2 <= int(scale) <= top:
        raise ValueError(f"scale must be in [2, {top}], got {scale}")
    return int(scale)


def to_engine(spec: NetworkSpec, winograd: int = -1):  # -> _core.Network
    """The engine for spec. winograd: Winograd tile of 3x3 layers, 2 or 4; 0 keeps every layer a direct
    conv; -1 lets the engine choose (tests and benchmarks compare them)."""
    from . import _core

    return _core.Network(engine_layers(spec), [engine_tail(spec.tail)] if spec.tail is not None else [], winograd)


def engine_layers(spec: NetworkSpec) -> list:  # -> list[_core.ConvLayer]
    from . import _core

    return [
        _core.ConvLayer(
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


def engine_tail(tail: Deconv | Subpixel):  # -> _core.Tail
    from . import _core

    if isinstance(tail, Deconv):
        return _core.Tail("deconv", np.ascontiguousarray(tail.weight[:, 0]), tail.bias, tail.scale, tail.offset, tail.border)
    return _core.Tail("subpixel", tail.weight, tail.bias, tail.scale, 0, tail.border)


def shares_layers(specs: Sequence[NetworkSpec]) -> bool:
    first = specs[0]
    if first.tail is None or any(sp.kind != first.kind or len(sp.layers) != len(first.layers) for sp in specs):
        return False
    return all(
        a.activation == b.activation and a.border == b.border and np.array_equal(a.weight, b.weight)
        and np.array_equal(a.bias, b.bias)
        and (a.slope is None) == (b.slope is None) and (a.slope is None or np.array_equal(a.slope, b.slope))
        and sp.tail is not None and sp.tail.border == first.tail.border
        for sp in specs[1:]
        for a, b in zip(first.layers, sp.layers)
    )


def to_joint_engine(specs: Sequence[NetworkSpec]):  # -> _core.Network
    from . import _core

    return _core.Network(engine_layers(specs[0]), [engine_tail(sp.tail) for sp in specs])
