"""Image files via Pillow (an optional extra: ``pip install fsrcnn_fast[image]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_image", "write_image"]


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "reading and writing image files needs Pillow: pip install 'fsrcnn_fast[image]'"
        ) from exc
    return Image


def read_image(path: str | Path) -> np.ndarray:
    """An image file as uint8 (or uint16 for 16-bit files) H x W, H x W x 3 or H x W x 4."""
    Image = _pillow()
    with Image.open(path) as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            return np.asarray(im, dtype=np.uint16).copy()
        if im.mode == "I":
            arr = np.asarray(im)
            if arr.min() < 0 or arr.max() > 65535:
                raise ValueError(f"{path}: 32-bit integer image outside the 16-bit range")
            return arr.astype(np.uint16)
        if im.mode not in ("L", "RGB", "RGBA"):
            im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        return np.asarray(im).copy()


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Writes uint8 gray/RGB/RGBA, or uint16 gray (16-bit PNG/TIFF)."""
    Image = _pillow()
    arr = np.ascontiguousarray(image)
    if arr.dtype == np.uint16:
        if arr.ndim != 2:
            raise ValueError("Pillow writes 16-bit images only as single-channel (gray)")
        Image.fromarray(arr).save(path)  # mode I;16
        return
    if arr.dtype != np.uint8:
        raise TypeError(f"write_image expects uint8 or uint16, got {arr.dtype}")
    Image.fromarray(arr).save(path)
