"""The evaluation protocol of the SR literature ("MATLAB protocol") and PSNR/SSIM.

1. Y = MATLAB ``rgb2ycbcr`` of the uint8 image, rounded to uint8 (gray used as is).
2. modcrop to a multiple of the scale.
3. LR = ``imresize(Y/255, 1/scale, 'bicubic')`` kept in float.
4. SR output * 255 rounded to uint8.
5. ``scale`` pixels shaved from each border; PSNR with peak 255 on Y.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .color import rgb_to_y_uint8
from .resize import imresize

__all__ = [
    "psnr",
    "ssim",
    "modcrop",
    "shave",
    "protocol_pair",
    "ImageScore",
    "evaluate_set",
    "bicubic_sr",
]


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    rows, cols = image.shape[:2]
    return image[: rows - rows % scale, : cols - cols % scale]


def shave(image: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float("inf")
    return 10.0 * np.log10(peak * peak / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(ax * ax) / (2.0 * sigma * sigma))
    w = np.outer(g, g)
    return w / w.sum()


def _filter_valid(x: np.ndarray, window: np.ndarray) -> np.ndarray:
    k = window.shape[0]
    view = np.lib.stride_tricks.sliding_window_view(x, (k, k))
    return np.einsum("ijkl,kl->ij", view, window)


def ssim(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """SSIM of Wang et al. 2004 (11x11 Gaussian, sigma 1.5, 'valid'), as their ssim.m."""
    x = np.asarray(a, np.float64)
    y = np.asarray(b, np.float64)
    if min(x.shape) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11, got {x.shape}")
    w = _gaussian_window()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu_x, mu_y = _filter_valid(x, w), _filter_valid(y, w)
    sxx = _filter_valid(x * x, w) - mu_x * mu_x
    syy = _filter_valid(y * y, w) - mu_y * mu_y
    sxy = _filter_valid(x * y, w) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def protocol_pair(image: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth Y (uint8, modcropped) and its float LR in [0, 1]."""
    y = rgb_to_y_uint8(image) if image.ndim == 3 else np.asarray(image, np.uint8)
    hr = modcrop(y, scale)
    lr = imresize(hr.astype(np.float64) / 255.0, 1.0 / scale)
    return hr, lr


def bicubic_sr(lr: np.ndarray, scale: int) -> np.ndarray:
    return imresize(lr, float(scale))


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr: float
    ssim: float


def to_uint8(y: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(y, np.float64) * 255.0), 0, 255).astype(np.uint8)


def score(sr: np.ndarray, hr: np.ndarray, scale: int) -> tuple[float, float]:
    out = shave(to_uint8(sr), scale)
    ref = shave(hr, scale)
    return psnr(out, ref), ssim(out, ref)


def evaluate_set(
    images: Iterable[tuple[str, np.ndarray]],
    scale: int,
    super_resolve: Callable[[np.ndarray], np.ndarray],
) -> list[ImageScore]:
    """Scores ``super_resolve`` (float LR Y in [0,1] -> float HR Y) on each image."""
    results = []
    for name, image in images:
        hr, lr = protocol_pair(image, scale)
        sr = super_resolve(lr)
        if sr.shape != hr.shape:
            raise ValueError(f"{name}: SR output shape {sr.shape} != ground truth {hr.shape}")
        p, s = score(sr, hr, scale)
        results.append(ImageScore(name, p, s))
    return results


def read_image_set(directory: str | Path) -> list[tuple[str, np.ndarray]]:
    """Every image file of a directory as uint8 arrays (needs Pillow)."""
    from .io import read_image

    paths = sorted(
        p for p in Path(directory).iterdir() if p.suffix.lower() in {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff"}
    )
    if not paths:
        raise FileNotFoundError(f"no images found in {directory}")
    return [(p.stem, read_image(p)) for p in paths]
