"""The models shipped inside the package: their names and where their weights files lie."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SHIPPED_MODELS = ("fsrcnn", "fsrcnn-multi", "fsrcnn-s")
PER_SCALE_MODELS = ("fsrcnn", "fsrcnn-s")  # a network fine-tuned per scale, one file each; the rest share layers


def available_models() -> tuple[str, ...]:
    """Names :meth:`Model.load` and :func:`upscale` accept (weights shipped in the package)."""
    return SHIPPED_MODELS


def shipped_file(name: str) -> Path:
    return Path(str(resources.files("fsrcnn_fast") / "data" / f"{name.replace('-', '_')}.safetensors"))


def shipped_path(name: str, scale: int) -> Path:
    return Path(str(resources.files("fsrcnn_fast") / "data" / f"{name.replace('-', '_')}_x{scale}.safetensors"))
