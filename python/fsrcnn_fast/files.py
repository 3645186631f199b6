"""Image files in and out without losing what they carry, and whole folders of them.

What the command line does with files, as Python functions (``fsrcnn-fast upscale`` is a thin layer
over :func:`upscale_file` and :func:`upscale_batch`):

- :func:`read_image_file` reads an image file into arrays (one per frame) and an :class:`ImageMeta`
  (EXIF orientation, ICC profile, DPI, EXIF, frame durations). 16-bit RGB/RGBA PNG and TIFF stay
  16-bit, float TIFF stays float, palette images become RGB or RGBA (transparency kept), CMYK and
  the other colour spaces are converted to RGB explicitly (or refused with ``convert=False``).
- :func:`write_image_file` writes arrays back with that metadata, safely: into a temporary file in
  the target folder, renamed into place only once complete, never over the input.
- :func:`pil_to_array` / :func:`array_to_pil`: the same mode rules for PIL images handed to
  :func:`fsrcnn_fast.upscale` (which returns a PIL image then).
- :func:`plan_batch` maps input files, folders and globs to output paths; :func:`upscale_batch`
  runs them with reading and writing on threads, overlapped with the compute.

Pillow is needed (``pip install 'fsrcnn_fast[image]'``); 16-bit RGB and float RGB TIFF also need
tifffile (part of the same extra). Both are imported only when used.
"""

from __future__ import annotations

import glob as _glob
import io
import os
import struct
import tempfile
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "FileError", "ImageMeta", "ImageFile", "read_image_file", "write_image_file", "check_output",
    "pil_to_array", "array_to_pil", "upscale_pil", "upscale_file", "plan_batch", "upscale_batch",
    "BatchResult", "IMAGE_EXTENSIONS", "DEFAULT_QUALITY", "DEFAULT_PNG_COMPRESS_LEVEL",
]

DEFAULT_QUALITY = 95  # JPEG / WebP: near-transparent re-encoding; Pillow's own default is 75
# zlib level 1: a 12000x9000 photo encodes 5.7x faster than at level 6 (Pillow's default) for a file
# 37 % larger (README, "Command line", gives the measurement and the command).
DEFAULT_PNG_COMPRESS_LEVEL = 1
EXIF_ORIENTATION = 0x0112

# Extensions a folder walk picks up as images (video files are the video module's).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".tga",
                    ".qoi")
_NO_ALPHA = {"JPEG", "BMP", "PPM", "MPO"}
_EIGHT_BIT_ONLY = {"JPEG", "WEBP", "GIF", "BMP", "MPO", "QOI", "TGA"}
_MULTI_FRAME = {"GIF", "WEBP", "TIFF", "PNG"}  # formats that hold several frames (PNG: APNG)
# Colour spaces converted to RGB on the way in: Pillow's conversions, without colour management.
_CONVERTED_MODES = {"CMYK", "YCbCr", "LAB", "HSV", "RGBX", "I;16L", "I;16B", "I;16N"}


class FileError(ValueError):
    """A file that cannot be read or written as asked; the message names the file and the problem."""


@dataclass
class ImageMeta:
    """What an image file carries besides its pixels."""

    format: str | None = None  # Pillow's format name: "PNG", "JPEG", ...
    mode: str = ""  # the mode the file opened as in Pillow ("P", "CMYK", "RGB;16", ...)
    icc_profile: bytes | None = None
    dpi: tuple[float, float] | None = None
    exif: bytes | None = None  # as it is written back (orientation reset to 1 when it was applied)
    orientation: int = 1  # the EXIF orientation the file had
    orientation_applied: bool = False
    durations: list[int] | None = None  # milliseconds per frame, multi-frame files
    loop: int | None = None
    converted_from: str | None = None  # a colour space converted to RGB on reading (e.g. "CMYK")
    layout: str = ""  # how the frames map back to a file: pil_to_array's mode, "RGB;16", "TIFF:..."


@dataclass
class ImageFile:
    """Frames (H x W [x C] arrays, all of one shape and dtype) and the file's :class:`ImageMeta`."""

    frames: list[np.ndarray]
    meta: ImageMeta = field(default_factory=ImageMeta)

    @property
    def image(self) -> np.ndarray:
        return self.frames[0]


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("reading and writing image files needs Pillow: pip install 'fsrcnn_fast[image]'") from exc
    Image.MAX_IMAGE_PIXELS = None  # super-resolution inputs are trusted to be big; the engine bounds sides
    return Image


def _tifffile(path: Path, what: str) -> Any:
    try:
        import tifffile
    except ImportError as exc:
        raise FileError(f"{path}: {what} TIFF needs tifffile: pip install 'fsrcnn_fast[image]'") from exc
    return tifffile


# ---------------------------------------------------------------------------------------------
# PIL image <-> array


def pil_to_array(im: Any, convert: bool = True) -> tuple[np.ndarray, str]:
    """A PIL image as an array the engine takes, and the mode :func:`array_to_pil` gives back.

    "1" and "L" -> uint8 gray; "LA"/"La" -> uint8 RGBA (gray in R, G, B; back to "LA");
    "P"/"PA" -> RGB, or RGBA when the palette has transparency; "RGBa" -> RGBA; "I;16*" -> uint16
    gray; "I" -> uint16 gray when its values fit; "F" -> float32 gray; "CMYK", "YCbCr", "LAB",
    "HSV" -> RGB (refused with ``convert=False``).
    """
    mode = im.mode
    if mode in ("L", "RGB", "RGBA"):
        return np.asarray(im).copy(), mode
    if mode == "1":
        return np.asarray(im.convert("L")).copy(), "L"
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"))
        return np.ascontiguousarray(la[..., [0, 0, 0, 1]]), "LA"
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info or (im.palette is not None and im.palette.mode == "RGBA")
        target = "RGBA" if has_alpha else "RGB"
        return np.asarray(im.convert(target)).copy(), target
    if mode == "RGBa":
        return np.asarray(im.convert("RGBA")).copy(), "RGBA"
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), "I;16"
    if mode == "I":
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise FileError("32-bit integer image outside the 16-bit range [0, 65535]")
        return arr.astype(np.uint16), "I;16"
    if mode == "F":
        return np.asarray(im, dtype=np.float32).copy(), "F"
    if mode in _CONVERTED_MODES:
        if not convert:
            raise FileError(f"{mode} image: convert it to RGB first (or allow conversion)")
        return np.asarray(im.convert("RGB")).copy(), "RGB"
    raise FileError(f"unsupported image mode {mode!r}")


def array_to_pil(arr: np.ndarray, mode: str) -> Any:
    """The array (from the engine) as a PIL image of ``mode`` (:func:`pil_to_array`'s second value)."""
    Image = _pillow()
    if mode == "LA":
        return Image.fromarray(np.ascontiguousarray(arr[..., [0, 3]]), "LA")
    if mode == "I;16":
        return Image.fromarray(np.ascontiguousarray(arr, np.uint16))
    if mode == "F":
        return Image.fromarray(np.ascontiguousarray(arr, np.float32), "F")
    return Image.fromarray(np.ascontiguousarray(arr))


def is_pil_image(obj: object) -> bool:
    """True for a PIL image (checked without importing Pillow)."""
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "getbands") and hasattr(obj, "mode")


def upscale_pil(model: Any, im: Any, *, scale: int | None = None, threads: int | None = None) -> Any:
    """``model.upscale`` for a PIL image: the mode rules of :func:`pil_to_array`, a PIL image back
    (mode kept; "P" comes back RGB/RGBA, "1" as "L", CMYK etc. as RGB), EXIF orientation as stored
    (the pixels are not rotated), ``im.info``'s ICC profile and DPI carried to the result."""
    arr, mode = pil_to_array(im)
    out = array_to_pil(model.upscale(arr, scale=scale, threads=threads), mode)
    for key in ("icc_profile", "dpi", "exif"):
        if key in im.info:
            out.info[key] = im.info[key]
    return out


# ---------------------------------------------------------------------------------------------
# reading


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as they display under EXIF ``orientation`` (Pillow's exif_transpose)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(orientation)
    return arr if op is None else np.ascontiguousarray(op(arr))


def _png_16bit(path: Path, data: bytes) -> np.ndarray:
    """Pixels of a 16-bit colour (RGB, RGBA) or gray+alpha PNG, which Pillow reads as 8-bit: the
    chunks parsed, IDAT inflated and unfiltered here. Gray+alpha comes back as RGBA (gray repeated)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise FileError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise FileError(f"{path}: truncated PNG chunk {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise FileError(f"{path}: PNG without IHDR")
    width, height, depth, color_type, _, _, interlace = header
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color_type)
    if depth != 16 or channels is None:
        raise FileError(f"{path}: unexpected PNG layout (depth {depth}, colour type {color_type})")
    if interlace:
        raise FileError(f"{path}: interlaced 16-bit colour PNG is not supported; save it non-interlaced")
    bpp = 2 * channels
    stride = width * bpp
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise FileError(f"{path}: corrupt PNG data ({exc})") from exc
    if len(raw) < height * (stride + 1):
        raise FileError(f"{path}: truncated PNG data")
    rows = np.frombuffer(raw, np.uint8, height * (stride + 1)).reshape(height, stride + 1)
    out = _png_unfilter(path, rows[:, 0], rows[:, 1:], bpp)
    arr = out.view(">u2").reshape(height, width, channels).astype(np.uint16)
    if channels == 2:
        arr = np.ascontiguousarray(arr[..., [0, 0, 0, 1]])
    return arr[..., 0] if channels == 1 else arr


def _png_unfilter(path: Path, kinds: np.ndarray, filtered: np.ndarray, bpp: int) -> np.ndarray:
    """PNG's five row filters undone. None, Sub and Up are whole-row NumPy operations (this module
    writes Up); each run of Average and Paeth rows goes to `_png_unfilter_wavefront`."""
    height, stride = filtered.shape
    if kinds.size and int(kinds.max()) > 4:
        raise FileError(f"{path}: corrupt PNG data (row filter {int(kinds.max())})")
    out = np.empty_like(filtered)
    prev = np.zeros(stride, np.uint8)
    r = 0
    while r < height:
        kind, row = int(kinds[r]), filtered[r]
        if kind == 0:
            out[r] = row
        elif kind == 1:
            out[r] = np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            out[r] = row + prev
        else:
            end = r + 1
            while end < height and kinds[end] in (3, 4):
                end += 1
            out[r:end] = _png_unfilter_wavefront(filtered[r:end], kinds[r:end] == 4, prev, bpp)
            r = end - 1
        prev = out[r]
        r += 1
    return out


def _png_unfilter_wavefront(filtered: np.ndarray, paeth: np.ndarray, prev: np.ndarray, bpp: int,
                            band_rows: int | None = None) -> np.ndarray:
    """Rows filtered with Average (paeth False) or Paeth (True), below the decoded row `prev`. A pixel's
    predictor needs its left, upper and upper-left neighbours decoded, so no row can go at once, but the
    pixels of one anti-diagonal (row + column constant) need only the two diagonals before it: each
    diagonal is one vectorised step. The rows are sheared so that a diagonal is one contiguous slice
    (a 4000x3000 16-bit RGB image of Paeth rows: 1.7 s of CPU, where a Python step per byte took 20.3 s).
    Bands of `band_rows` rows bound the sheared copies' memory: by default up to 1024 rows of no more
    than 2**22 pixels in all (~100 MB of scratch at most)."""
    rows, width = filtered.shape[0], filtered.shape[1] // bpp
    band_rows = band_rows or max(1, min(1024, (1 << 22) // width))
    out = np.empty_like(filtered)
    for top in range(0, rows, band_rows):
        band = slice(top, min(rows, top + band_rows))
        out[band] = _png_unfilter_band(filtered[band], paeth[band], prev, width, bpp)
        prev = out[band.stop - 1]
    return out


def _png_unfilter_band(filtered: np.ndarray, paeth: np.ndarray, prev: np.ndarray, width: int,
                       bpp: int) -> np.ndarray:
    rows = filtered.shape[0]
    r, x = np.arange(rows)[:, None], np.arange(width)[None, :]
    # src = filtered[r, x * bpp + k] / dst = sheared[r + x, r, k]: diagonal d is sheared[d].
    sheared = np.zeros((rows + width - 1, rows, bpp), np.uint8)
    sheared[r + x, r] = filtered.reshape(rows, width, bpp)
    # Pixel (r, x), with r = -1 the row above (prev) and x = -1 the zeros left of the image, is
    # decoded[r + x + 2, r + 1].
    decoded = np.zeros((rows + width + 1, rows + 1, bpp), np.uint8)
    decoded[np.arange(width) + 1, 0] = prev.reshape(width, bpp)
    for d in range(rows + width - 1):
        lo, hi = max(0, d - width + 1), min(rows - 1, d) + 1
        a = decoded[d + 1, lo + 1:hi + 1].astype(np.int16)  # left: (r, x - 1)
        b = decoded[d + 1, lo:hi].astype(np.int16)  # up: (r - 1, x)
        c = decoded[d, lo:hi].astype(np.int16)  # up-left: (r - 1, x - 1)
        pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)  # |p - a|, |p - b|, |p - c|, p = a + b - c
        pred = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        pred = np.where(paeth[lo:hi, None], pred, (a + b) >> 1)
        decoded[d + 2, lo + 1:hi + 1] = sheared[d, lo:hi] + pred.astype(np.uint8)  # uint8 wraps: mod 256
    return decoded[r + x + 2, r + 1].reshape(rows, width * bpp)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _write_png(fh: Any, arr: np.ndarray, meta: ImageMeta, compress_level: int) -> None:
    """A PNG of any 8- or 16-bit gray, gray+alpha, RGB or RGBA array, every row filtered with Up
    and deflated by zlib in one call. Pillow's encoder tries every filter on every row: on a BSD200
    photo enlarged to 6000x4500, at level 1, it took 1.99 s for 16.4 MB, this one 0.91 s for 14.6 MB."""
    height, width = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    depth = 16 if arr.dtype == np.uint16 else 8
    be = np.ascontiguousarray(arr, ">u2" if depth == 16 else np.uint8).view(np.uint8)
    be = be.reshape(height, width * channels * depth // 8)
    rows = np.empty((height, be.shape[1] + 1), np.uint8)
    rows[:, 0] = 2
    rows[0, 1:] = be[0]
    np.subtract(be[1:], be[:-1], out=rows[1:, 1:])  # uint8 arithmetic wraps, as the filter's mod 256
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    parts = [b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header)]
    if meta.icc_profile:
        parts.append(_png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc_profile)))
    if meta.dpi:
        ppm = [int(round(d / 0.0254)) for d in meta.dpi]
        parts.append(_png_chunk(b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1)))
    if meta.exif:
        exif = meta.exif[6:] if meta.exif.startswith(b"Exif\x00\x00") else meta.exif
        parts.append(_png_chunk(b"eXIf", exif))
    deflated = zlib.compress(rows, compress_level)
    step = 1 << 30  # a chunk's length field is 31 bits
    parts += [_png_chunk(b"IDAT", deflated[i:i + step]) for i in range(0, max(len(deflated), 1), step)]
    parts.append(_png_chunk(b"IEND", b""))
    for part in parts:
        fh.write(part)


def _pil_frames(im: Any) -> Iterable[tuple[Any, int | None]]:
    n = getattr(im, "n_frames", 1)
    for i in range(n):
        im.seek(i)
        im.load()  # WebP sets the frame's duration when it loads it
        yield im, im.info.get("duration")


def read_image_file(
    path: str | os.PathLike[str],
    *,
    orientation: str = "apply",
    frames: str = "all",
    convert: bool = True,
) -> ImageFile:
    """Reads an image file.

    ``orientation``: ``"apply"`` (default) turns the pixels as the EXIF orientation says and resets
    the tag to 1 in the EXIF carried along; ``"keep"`` leaves pixels and tag as stored.
    ``frames``: ``"all"`` (every frame of an animated GIF/WebP/PNG or multi-page TIFF, with their
    durations), ``"first"``, or ``"single"`` (a multi-frame file is refused).
    ``convert``: CMYK, YCbCr, LAB and HSV are converted to RGB (Pillow, not colour-managed); False
    refuses them. Raises :class:`FileError` naming the file for anything unreadable.
    """
    if orientation not in ("apply", "keep"):
        raise ValueError(f"orientation must be 'apply' or 'keep', got {orientation!r}")
    if frames not in ("all", "first", "single"):
        raise ValueError(f"frames must be 'all', 'first' or 'single', got {frames!r}")
    Image = _pillow()
    p = Path(path)
    if p.is_dir():
        raise FileError(f"{p}: is a folder, not an image file")
    if not p.exists():
        raise FileError(f"{p}: no such file")
    try:
        im = Image.open(p)
    except Image.UnidentifiedImageError as exc:
        if p.suffix.lower() in (".tif", ".tiff") and p.read_bytes()[:4] in (b"II*\x00", b"MM\x00*"):
            return _read_tiff_only(p, orientation, frames)  # float colour TIFF: Pillow has no mode for it
        raise FileError(f"{p}: not an image file Pillow can read") from exc
    except OSError as exc:
        raise FileError(f"{p}: cannot open ({exc.strerror or exc})") from exc
    with im:
        meta = _meta_of(im)
        raw = _rawmode(im)  # before getexif(), which loads a PNG and empties its tile list
        try:
            exif = im.getexif()
        except Exception:  # a broken EXIF block must not cost the pixels
            exif = None
        if exif is not None:
            meta.orientation = int(exif.get(EXIF_ORIENTATION, 1) or 1)
            if orientation == "apply" and meta.orientation != 1:
                exif[EXIF_ORIENTATION] = 1
                meta.orientation_applied = True
            # A TIFF's "EXIF" is its own first IFD (width, strips, ...): not carried to another file.
            meta.exif = exif.tobytes() if len(exif) and im.format != "TIFF" else None
        n_frames = getattr(im, "n_frames", 1)
        if n_frames > 1 and frames == "single":
            raise FileError(f"{p}: has {n_frames} frames; pass frames='all' (CLI: the default) or 'first'")
        try:
            arrays, modes, durations = _decode(p, im, raw, frames == "first" or n_frames == 1, convert)
        except FileError:
            raise
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise FileError(f"{p}: corrupt or truncated image ({exc})") from exc
    if len(arrays) > 1:
        arrays = _common_layout(arrays)
        meta.durations = [int(d) if d is not None else 100 for d in durations]
    if meta.orientation_applied:
        arrays = [_orient(a, meta.orientation) for a in arrays]
    meta.layout = modes[0]
    if meta.mode in _CONVERTED_MODES and modes[0] == "RGB":
        meta.converted_from = meta.mode
    return ImageFile(arrays, meta)


def _meta_of(im: Any) -> ImageMeta:
    dpi = im.info.get("dpi")
    if dpi is not None:
        try:
            dpi = (float(dpi[0]), float(dpi[1]))
        except (TypeError, ValueError, IndexError):
            dpi = None
    loop = im.info.get("loop")
    return ImageMeta(format=im.format, mode=im.mode, icc_profile=im.info.get("icc_profile") or None, dpi=dpi,
                     loop=int(loop) if isinstance(loop, int) else None)


def _rawmode(im: Any) -> str:
    try:
        return str(im.tile[0][3][0] if isinstance(im.tile[0][3], tuple) else im.tile[0][3])
    except (IndexError, TypeError, AttributeError):
        return ""


def _decode(p: Path, im: Any, raw: str, first_only: bool, convert: bool) -> tuple[list[np.ndarray], list[str], list]:
    """Frames as arrays, their output modes and durations (``raw``: Pillow's raw mode of the file)."""
    if im.format == "PNG" and raw in ("RGB;16B", "RGBA;16B", "LA;16B") and getattr(im, "n_frames", 1) == 1:
        arr = _png_16bit(p, p.read_bytes())
        return [arr], ["RGB;16" if arr.shape[2] == 3 and raw.startswith("RGB;") else "RGBA;16"], [None]
    if im.format == "TIFF" and (";16" in raw and not raw.startswith("I;16") or (im.mode == "RGB" and "F" in raw)):
        return _tiff_pages(p, im, first_only)
    if im.format == "TIFF" and im.mode not in ("F", "I", "I;16", "I;16B", "I;16L", "L", "LA", "RGB", "RGBA", "P", "1",
                                               "CMYK", "YCbCr", "LAB", "RGBX"):
        return _tiff_pages(p, im, first_only)
    arrays, modes, durations = [], [], []
    for frame, duration in _pil_frames(im):
        try:
            arr, mode = pil_to_array(frame, convert)
        except FileError as exc:
            raise FileError(f"{p}: {exc}") from exc
        arrays.append(arr)
        modes.append(mode)
        durations.append(duration)
        if first_only:
            break
    return arrays, modes, durations


def _read_tiff_only(p: Path, orientation: str, frames: str) -> ImageFile:
    """A TIFF Pillow cannot open (float RGB), pixels and metadata through tifffile."""
    tifffile = _tifffile(p, "this")
    meta = ImageMeta(format="TIFF", mode="tifffile")
    try:
        with tifffile.TiffFile(p) as tf:
            n_pages = len(tf.pages)
            if n_pages > 1 and frames == "single":
                raise FileError(f"{p}: has {n_pages} pages; pass frames='all' (CLI: the default) or 'first'")
            page = tf.pages[0]
            tags = page.tags
            if "InterColorProfile" in tags:
                meta.icc_profile = bytes(tags["InterColorProfile"].value)
            if "XResolution" in tags and "YResolution" in tags:
                unit = tags["ResolutionUnit"].value if "ResolutionUnit" in tags else 2
                per_inch = 2.54 if int(unit) == 3 else 1.0
                meta.dpi = tuple(float(n) / float(d) * per_inch for n, d in (tags["XResolution"].value,
                                                                             tags["YResolution"].value))
            meta.orientation = int(tags["Orientation"].value) if "Orientation" in tags else 1
    except FileError:
        raise
    except Exception as exc:
        raise FileError(f"{p}: corrupt or unreadable TIFF ({exc})") from exc
    arrays, modes, _ = _tiff_pages(p, None, frames == "first")
    if orientation == "apply" and meta.orientation != 1:
        arrays = [_orient(a, meta.orientation) for a in arrays]
        meta.orientation_applied = True
    meta.layout = modes[0]
    if len(arrays) > 1:
        meta.durations = [100] * len(arrays)
    return ImageFile(arrays, meta)


def _tiff_pages(p: Path, im: Any, first_only: bool) -> tuple[list[np.ndarray], list[str], list]:
    """16-bit and float colour TIFF through tifffile (Pillow reads them as 8-bit)."""
    tifffile = _tifffile(p, "16-bit or float colour")
    with tifffile.TiffFile(p) as tf:
        pages = tf.pages[:1] if first_only else tf.pages
        arrays = [np.asarray(page.asarray()) for page in pages]
    out, modes = [], []
    for arr in arrays:
        if arr.ndim == 3 and arr.shape[2] > 4:
            raise FileError(f"{p}: TIFF with {arr.shape[2]} samples per pixel is not supported")
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype != np.uint16 and arr.dtype != np.uint8:
            raise FileError(f"{p}: TIFF samples of type {arr.dtype} are not supported")
        out.append(arr)
        modes.append(f"TIFF:{arr.dtype}:{arr.ndim}")
    return out, modes, [None] * len(out)


def _common_layout(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Frames of one animation in one layout: RGBA when any frame has alpha (GIF's first frame is
    often palette-with-transparency while later ones are RGB)."""
    def channels(a: np.ndarray) -> int:
        return 1 if a.ndim == 2 else a.shape[2]
    widest = max(channels(a) for a in arrays)
    if all(channels(a) == widest for a in arrays) and len({a.shape for a in arrays}) == 1:
        return arrays
    if len({a.shape[:2] for a in arrays}) != 1:
        raise FileError("frames of different sizes")
    out = []
    for a in arrays:
        if a.ndim == 2:
            a = np.repeat(a[..., None], 3, axis=2)
        if widest == 4 and a.shape[2] == 3:
            alpha = np.full(a.shape[:2] + (1,), np.iinfo(a.dtype).max if a.dtype.kind == "u" else 1, a.dtype)
            a = np.concatenate([a, alpha], axis=2)
        out.append(a)
    return out


# ---------------------------------------------------------------------------------------------
# writing


def _format_for(path: Path) -> str:
    Image = _pillow()
    ext = path.suffix.lower()
    if not ext:
        raise FileError(f"{path}: no file extension to choose the output format from (e.g. .png)")
    fmt = Image.registered_extensions().get(ext)
    if fmt is None:
        raise FileError(f"{path}: unknown image extension {ext!r}")
    return fmt


def check_target(out: Path, inputs: Sequence[str | os.PathLike[str]], overwrite: bool) -> None:
    """The checks every output file gets before any compute (images here, videos in video.py): not one of
    ``inputs``, not existing unless ``overwrite``, in an existing writable folder."""
    for src in inputs:
        if _same_file(Path(src), out):
            raise FileError(f"{out}: is the input file; the output must go elsewhere")
    if out.exists() and not overwrite:
        raise FileError(f"{out}: exists; pass overwrite=True (--overwrite) to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise FileError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise FileError(f"{out}: folder {parent} is not writable")


def check_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
    channels: int | None = None,
    n_frames: int = 1,
) -> str:
    """Checks, before any compute, that ``path`` can be written: a known extension, an existing
    writable folder, not a folder itself, not one of ``inputs``, not existing unless ``overwrite``,
    a format that holds ``channels`` (alpha) and ``n_frames``. Returns Pillow's format name."""
    out = Path(path)
    if out.is_dir():
        raise FileError(f"{out}: is a folder; give an output file name (or a folder input for a batch)")
    fmt = _format_for(out)
    check_target(out, inputs, overwrite)
    if channels in (2, 4) and fmt in _NO_ALPHA:
        raise FileError(f"{out}: {fmt} has no alpha channel and the image has one; write .png, .webp or .tif")
    if n_frames > 1 and fmt not in _MULTI_FRAME:
        raise FileError(f"{out}: {fmt} holds one frame and the input has {n_frames}; write .gif, .webp, .png or .tif,"
                        " or take the first frame only")
    return fmt


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _atomic_write(path: Path, write: Callable[[Any], None], overwrite: bool) -> None:
    """``write(file object)`` into a temporary file beside ``path``, then renamed into place: an
    interruption (an error, Ctrl-C) leaves no partial output, and no temporary file behind."""
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        if not overwrite and path.exists():
            raise FileError(f"{path}: appeared while writing; pass overwrite=True (--overwrite) to replace it")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _to_8bit(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return ((arr.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _prepare(arr: np.ndarray, fmt: str, mode_hint: str) -> tuple[np.ndarray, str]:
    """The array in a form ``fmt`` holds, and how to write it: "pil" (Pillow, mode from the array),
    "LA", "png" (this module's writer), "tiff" (tifffile)."""
    chans = 1 if arr.ndim == 2 else arr.shape[2]
    if arr.ndim == 3 and chans == 1:
        arr, chans = arr[..., 0], 1
    if fmt in _EIGHT_BIT_ONLY or fmt not in ("PNG", "TIFF"):
        arr = _to_8bit(arr)
    if arr.dtype.kind == "f":
        if fmt == "TIFF":
            return arr.astype(np.float32), ("pil" if chans == 1 else "tiff")
        arr = (np.clip(arr, 0.0, 1.0) * 65535.0 + 0.5).astype(np.uint16)  # PNG: float goes 16-bit
    if fmt == "PNG":
        if mode_hint == "LA" and chans == 4:
            arr = np.ascontiguousarray(arr[..., [0, 3]])
        return arr, "png"
    if arr.dtype == np.uint16 and chans > 1:
        return arr, "tiff"
    if mode_hint == "LA" and chans == 4:
        return arr, "LA"
    return arr, "pil"


def write_image_file(
    path: str | os.PathLike[str],
    image: np.ndarray | Sequence[np.ndarray] | ImageFile,
    meta: ImageMeta | None = None,
    *,
    quality: int = DEFAULT_QUALITY,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike[str]] = (),
) -> None:
    """Writes one image (H x W [x C] array) or the frames of an animation, with ``meta``'s ICC
    profile, DPI and EXIF where the format holds them, safely (see :func:`check_output`; the file
    appears complete or not at all).

    uint16 stays 16-bit in PNG and TIFF (RGB and RGBA included), float32 stays float in TIFF (16-bit
    in PNG); formats without them get 8 bits. ``quality`` (1-100) for JPEG and WebP, default 95;
    ``compress_level`` (0-9) for PNG, default 1 (fast; README gives the size/time trade).
    """
    if isinstance(image, ImageFile):
        frames, meta = image.frames, meta or image.meta
    elif isinstance(image, np.ndarray):
        frames = [image]
    else:
        frames = list(image)
    if not frames:
        raise ValueError("no frames to write")
    meta = meta or ImageMeta()
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in [1, 100], got {quality}")
    if not 0 <= int(compress_level) <= 9:
        raise ValueError(f"compress_level must be in [0, 9], got {compress_level}")
    out = Path(path)
    chans = 1 if frames[0].ndim == 2 else frames[0].shape[2]
    fmt = check_output(out, overwrite=overwrite, inputs=inputs, channels=chans, n_frames=len(frames))
    mode_hint = "LA" if meta.layout == "LA" else ""
    prepared = [_prepare(f, fmt, mode_hint) for f in frames]
    how = prepared[0][1]
    arrays = [a for a, _ in prepared]
    if how == "png" and len(arrays) > 1:
        arrays, how = [_to_8bit(a) for a in arrays], "pil"  # APNG through Pillow, 8-bit
    if how == "png":
        _atomic_write(out, lambda fh: _write_png(fh, arrays[0], meta, compress_level), overwrite)
        return
    if how == "tiff":
        tifffile = _tifffile(out, "16-bit or float colour")
        _atomic_write(out, lambda fh: fh.write(_tiff_bytes(tifffile, arrays, meta)), overwrite)
        return
    Image = _pillow()
    pil = [Image.fromarray(np.ascontiguousarray(a[..., [0, 3]]), "LA") if how == "LA" else
           Image.fromarray(np.ascontiguousarray(a)) for a in arrays]
    options: dict[str, Any] = {}
    if meta.icc_profile and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        options["icc_profile"] = meta.icc_profile
    if meta.dpi and fmt in ("PNG", "JPEG", "TIFF", "BMP"):
        options["dpi"] = meta.dpi
    if meta.exif and fmt in ("PNG", "JPEG", "WEBP"):
        options["exif"] = meta.exif
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    if fmt == "PNG":
        options["compress_level"] = int(compress_level)
    if fmt == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    if len(pil) > 1:
        options.update(save_all=True, append_images=pil[1:])
        if meta.durations:
            options["duration"] = list(meta.durations)
        options["loop"] = meta.loop if meta.loop is not None else 0
        if fmt == "GIF":
            options["disposal"] = 2
    _atomic_write(out, lambda fh: pil[0].save(fh, format=fmt, **options), overwrite)


def _tiff_bytes(tifffile: Any, arrays: list[np.ndarray], meta: ImageMeta) -> bytes:
    extratags = [(34675, 7, len(meta.icc_profile), meta.icc_profile, True)] if meta.icc_profile else []
    kwargs: dict[str, Any] = dict(compression="zlib", extratags=extratags, metadata=None)
    if meta.dpi:
        kwargs.update(resolution=meta.dpi, resolutionunit="INCH")
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tw:
        for a in arrays:
            photometric = "minisblack" if a.ndim == 2 else "rgb"
            extra = {"extrasamples": ["unassalpha"]} if a.ndim == 3 and a.shape[2] == 4 else {}
            tw.write(a, photometric=photometric, **kwargs, **extra)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# one file, many files


def upscale_image_file(
    model: Any,
    image: ImageFile,
    *,
    scale: int | None = None,
    threads: int | None = None,
    on_frame: Callable[[], None] | None = None,
) -> ImageFile:
    """Every frame of ``image`` upscaled by ``model``; metadata carried over (DPI unchanged: the
    print size grows with the pixels)."""
    out = []
    for frame in image.frames:
        out.append(model.upscale(frame, scale=scale, threads=threads))
        if on_frame is not None:
            on_frame()
    return ImageFile(out, replace(image.meta))


def upscale_file(
    model: Any,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    scale: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    orientation: str = "apply",
    frames: str = "all",
    quality: int = DEFAULT_QUALITY,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
) -> tuple[ImageFile, ImageFile]:
    """Reads ``src``, upscales it with ``model`` and writes ``dst``; ``dst`` is checked before the
    compute. Returns the input and output :class:`ImageFile`."""
    check_output(dst, overwrite=overwrite, inputs=[src])
    image = read_image_file(src, orientation=orientation, frames=frames)
    chans = 1 if image.image.ndim == 2 else image.image.shape[2]
    check_output(dst, overwrite=overwrite, inputs=[src], channels=chans, n_frames=len(image.frames))
    result = upscale_image_file(model, image, scale=scale, threads=threads)
    write_image_file(dst, result, quality=quality, compress_level=compress_level, overwrite=overwrite, inputs=[src])
    return image, result


def plan_batch(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    recursive: bool = False,
    ext: str | None = None,
    extensions: Sequence[str] = IMAGE_EXTENSIONS,
) -> list[tuple[Path, Path]]:
    """(input, output) pairs for files, folders and glob patterns in ``inputs``, written under the
    folder ``output`` with their layout relative to the folder (or the glob's fixed part) they came
    from. ``ext`` (".png", "jpg") changes the output format; folders pick up ``extensions``."""
    out_dir = Path(output)
    suffix = None if ext is None else ("." + ext.lstrip(".")).lower()
    if suffix is not None:
        _format_for(Path("x" + suffix))
    pairs: list[tuple[Path, Path]] = []
    wanted = {e.lower() for e in extensions}
    for item in inputs:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            walk = p.rglob("*") if recursive else p.glob("*")
            files = sorted(f for f in walk if f.is_file() and f.suffix.lower() in wanted and not f.name.startswith("."))
            pairs += [(f, out_dir / f.relative_to(p)) for f in files]
        elif any(ch in text for ch in "*?["):
            base = Path(_glob_base(text))
            files = sorted(Path(f) for f in _glob.glob(text, recursive=recursive) if Path(f).is_file())
            pairs += [(f, out_dir / f.relative_to(base)) for f in files]
        else:
            pairs.append((p, out_dir / p.name))
    if suffix is not None:
        pairs = [(src, dst.with_suffix(suffix)) for src, dst in pairs]
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        if dst in seen and seen[dst] != src:
            raise FileError(f"{dst}: both {seen[dst]} and {src} would be written there")
        seen[dst] = src
    return pairs


def _glob_base(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


@dataclass
class BatchResult:
    """What :func:`upscale_batch` did: files written, skipped (output existed) and failed (path, message)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{len(self.written)} written, {len(self.skipped)} skipped (output exists), {len(self.failed)} failed"
                f" in {self.seconds:.1f} s")




def upscale_batch(
    model: Any,
    pairs: Sequence[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    *,
    scale: int | None = None,
    threads: int | None = None,
    overwrite: bool = False,
    orientation: str = "apply",
    frames: str = "all",
    quality: int = DEFAULT_QUALITY,
    compress_level: int = DEFAULT_PNG_COMPRESS_LEVEL,
    make_dirs: bool = True,
    io_threads: int = 2,
    on_done: Callable[[Path, str], None] | None = None,
) -> BatchResult:
    """Upscales every (input, output) pair. Reading (and decoding) runs ahead on ``io_threads``
    threads and writing (encoding) behind on as many, so the compute, on the calling thread, is
    rarely waiting: a folder takes about the longer of the two. Existing outputs are skipped unless
    ``overwrite``; a file that fails is recorded and the batch goes on. ``on_done(path, status)``
    is called per input ("written", "skipped", "failed"). Ctrl-C stops the batch, finishing no
    partial file."""
    result = BatchResult()
    start = time.perf_counter()
    todo: list[tuple[Path, Path]] = []
    for s, d in pairs:
        src, dst = Path(s), Path(d)
        if dst.exists() and not overwrite:
            result.skipped.append(src)
            if on_done:
                on_done(src, "skipped")
            continue
        todo.append((src, dst))
    if not todo:
        result.seconds = time.perf_counter() - start
        return result

    def read(src: Path, dst: Path) -> ImageFile:
        if make_dirs:
            dst.parent.mkdir(parents=True, exist_ok=True)
        check_output(dst, overwrite=overwrite, inputs=[src])
        image = read_image_file(src, orientation=orientation, frames=frames)
        chans = 1 if image.image.ndim == 2 else image.image.shape[2]
        check_output(dst, overwrite=overwrite, inputs=[src], channels=chans, n_frames=len(image.frames))
        return image

    def write(src: Path, dst: Path, image: ImageFile) -> None:
        write_image_file(dst, image, quality=quality, compress_level=compress_level, overwrite=overwrite,
                         inputs=[src])

    lock = threading.Lock()

    def record(src: Path, status: str, message: str = "", dst: Path | None = None) -> None:
        with lock:
            if status == "written":
                result.written.append(dst or src)
            else:
                result.failed.append((src, message))
        if on_done:
            on_done(src, status)

    readers = ThreadPoolExecutor(max(1, io_threads), thread_name_prefix="fsrcnn-read")
    writers = ThreadPoolExecutor(max(1, io_threads), thread_name_prefix="fsrcnn-write")
    # at most a few decoded images wait in memory ahead of the compute
    ahead = max(2, io_threads + 1)
    writes: list[tuple[Path, Future]] = []
    try:
        it = iter(todo)
        window: list[tuple[Path, Path, Future]] = []
        for src, dst in it:
            window.append((src, dst, readers.submit(read, src, dst)))
            if len(window) >= ahead:
                break
        while window:
            src, dst, fut = window.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                window.append((nxt[0], nxt[1], readers.submit(read, nxt[0], nxt[1])))
            try:
                image = fut.result()
                upscaled = upscale_image_file(model, image, scale=scale, threads=threads)
            except (FileError, ValueError, TypeError, OSError, ImportError, MemoryError) as exc:
                record(src, "failed", str(exc))
                continue
            wf = writers.submit(write, src, dst, upscaled)

            def finished(f: Future, src: Path = src, dst: Path = dst) -> None:
                exc = f.exception()
                if exc is None:
                    record(src, "written", dst=dst)
                else:
                    record(src, "failed", str(exc))
            wf.add_done_callback(finished)
            writes.append((src, wf))
            # bound the encoded-but-unwritten backlog too
            busy = [f for _, f in writes if not f.done()]
            if len(busy) > ahead:
                wait(busy[: len(busy) - ahead])
        for _, wf in writes:
            try:
                wf.result()
            except Exception:
                pass
    except BaseException:
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True, cancel_futures=True)
        raise
    readers.shutdown(wait=True)
    writers.shutdown(wait=True)
    result.seconds = time.perf_counter() - start
    return result
