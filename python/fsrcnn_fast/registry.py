"""The models shipped inside the package: their names, where their weights files lie, and the Models that
:func:`fsrcnn_fast.upscale` and :func:`fsrcnn_fast.dask.upscale` load by name or file once and reuse."""

from __future__ import annotations

import os
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Model

SHIPPED_MODELS = ("fsrcnn", "fsrcnn-multi", "fsrcnn-s")
PER_SCALE_MODELS = ("fsrcnn", "fsrcnn-s")  # a network fine-tuned per scale, one file each; the rest share layers


def available_models() -> tuple[str, ...]:
    """Names :meth:`Model.load` and :func:`upscale` accept (weights shipped in the package)."""
    return SHIPPED_MODELS


def shipped_file(name: str) -> Path:
    return Path(str(resources.files("fsrcnn_fast") / "data" / f"{name.replace('-', '_')}.safetensors"))


def shipped_path(name: str, scale: int) -> Path:
    return Path(str(resources.files("fsrcnn_fast") / "data" / f"{name.replace('-', '_')}_x{scale}.safetensors"))


_CACHE: dict[tuple[str, int | None, float, int | None], "Model"] = {}
_CACHE_LOCK = threading.Lock()


def cached_model(model: str, weights: str | os.PathLike[str] | None, scale: int | None,
                 offset: int | None = None) -> "Model":
    """The Model for a shipped model's name (``weights`` None) or a weights file, loaded on first use and
    kept (a file is reloaded when its modification time changes)."""
    from .api import Model  # api imports this module

    if weights is not None:
        path = Path(os.fspath(weights))
        key = (str(path.resolve()), scale, path.stat().st_mtime if path.exists() else 0.0, offset)
        source: str = str(path)
    else:
        if model not in SHIPPED_MODELS:
            raise ValueError(f"unknown model {model!r}; shipped models: {', '.join(SHIPPED_MODELS)}")
        if offset is not None:
            raise ValueError("offset= is for weights files; the shipped models record their own")
        key, source = (model, scale, 0.0, None), model
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is None:
        options = {} if offset is None else {"offset": offset}
        cached = Model.load(source, scale=scale, **options)
        with _CACHE_LOCK:
            cached = _CACHE.setdefault(key, cached)
    return cached
