"""Video files through PyAV (``pip install 'fsrcnn_fast[video]'``; it bundles FFmpeg with H.264).

:func:`upscale_video` decodes on one thread, upscales on the caller's, and encodes and muxes on a
third, with small queues between them, so a clip takes about as long as the slowest of the three.
Every video frame keeps its timestamp (so the frame rate, constant or variable, is the input's);
audio and subtitle packets are copied unchanged.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["VIDEO_EXTENSIONS", "VideoResult", "upscale_video", "is_video_path", "DEFAULT_CODEC", "DEFAULT_CRF",
           "DEFAULT_PRESET"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")
DEFAULT_CODEC = "libx264"
DEFAULT_CRF = 18  # x264's "visually lossless" end; its own default is 23
# x264/x265 preset when none is given: at 1080p "medium" (their own default) encodes at ~3.8 frames/s
# on 2 cores and becomes the slow stage; "veryfast" is ~2.6x faster (README, "Command line").
DEFAULT_PRESET = "veryfast"
_QUEUE_DEPTH = 4  # frames waiting between stages: enough to absorb jitter, bounded memory


def is_video_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise ImportError("video needs PyAV: pip install 'fsrcnn_fast[video]'") from exc
    return av


@dataclass
class VideoResult:
    frames: int
    size_in: tuple[int, int]  # width, height
    size_out: tuple[int, int]
    rate: Fraction | None
    audio_streams: int
    seconds: float


class _Stop(Exception):
    pass


def _check_dst(src: Path, dst: Path, overwrite: bool) -> None:
    from .files import FileError, check_target

    if dst.is_dir():
        raise FileError(f"{dst}: is a folder; give an output video file name")
    if not is_video_path(dst):
        raise FileError(f"{dst}: not a video extension ({', '.join(VIDEO_EXTENSIONS)})")
    check_target(dst, [src], overwrite)


def upscale_video(
    model: Any,
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    scale: int | None = None,
    threads: int | None = None,
    codec: str = DEFAULT_CODEC,
    crf: int | None = DEFAULT_CRF,
    preset: str | None = None,
    pix_fmt: str | None = "yuv420p",
    codec_threads: int | None = None,
    overwrite: bool = False,
    on_frame: Callable[[int, int | None], None] | None = None,
    upscale: Callable[[np.ndarray], np.ndarray] | None = None,
) -> VideoResult:
    """Upscales the first video stream of ``src`` into ``dst`` (written to a temporary file beside
    it and renamed when complete).

    ``codec``: an FFmpeg encoder (libx264 default, libx265, libvpx-vp9, mpeg4, ffv1, ...); ``crf``: its
    constant-rate factor where it has one (default 18); ``preset``: x264/x265's speed preset (default
    veryfast); ``codec_threads``: the encoder's threads (None: FFmpeg's choice, all cores; at 1080p
    x264 is the slow stage, so it gets them); ``pix_fmt``: the encoded pixel format (yuv420p plays
    everywhere; None leaves the encoder's default; "bgr0" with ffv1 is lossless RGB).
    ``on_frame(done, total)`` after each frame (total None when the container does not say).
    ``upscale``: replaces ``model.upscale`` on RGB uint8 frames (benchmarks time the pipeline alone).
    """
    from .files import FileError

    av = _av()
    src_p, dst_p = Path(src), Path(dst)
    if src_p.is_dir():
        raise FileError(f"{src_p}: is a folder, not a video file")
    if not src_p.is_file():
        raise FileError(f"{src_p}: no such file")
    _check_dst(src_p, dst_p, overwrite)
    s = model.scale if scale is None else scale
    run = upscale if upscale is not None else (lambda rgb: model.upscale(rgb, scale=s, threads=threads))
    try:
        inp = av.open(str(src_p))
    except av.error.FFmpegError as exc:
        raise FileError(f"{src_p}: not a video file FFmpeg can read ({exc})") from exc
    start = time.perf_counter()
    tmp = dst_p.with_name(f".{dst_p.stem}.{os.getpid()}.part{dst_p.suffix}")
    try:
        with inp:
            if not inp.streams.video:
                raise FileError(f"{src_p}: has no video stream")
            vin = inp.streams.video[0]
            if codec_threads != 1:
                vin.thread_type = "AUTO"
            w, h = vin.codec_context.width, vin.codec_context.height
            total = vin.frames or None
            rate = vin.average_rate or vin.guessed_rate
            copied = [st for st in inp.streams if st.type in ("audio", "subtitle")]
            try:
                out = av.open(str(tmp), "w", format=_container_format(dst_p))
            except av.error.FFmpegError as exc:
                raise FileError(f"{dst_p}: cannot write ({exc})") from exc
            with out:
                try:
                    vout = out.add_stream(codec, rate=rate)
                except (av.error.FFmpegError, ValueError) as exc:
                    raise FileError(f"{dst_p}: encoder {codec!r} is not available ({exc})") from exc
                vout.width, vout.height = w * s, h * s
                if pix_fmt is not None:
                    vout.pix_fmt = pix_fmt
                vout.time_base = vin.time_base
                vout.codec_context.time_base = vin.time_base
                options = {}
                if crf is not None and codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
                    options["crf"] = str(int(crf))
                    if codec == "libvpx-vp9":
                        vout.bit_rate = 0
                if preset is None and codec in ("libx264", "libx265"):
                    preset = DEFAULT_PRESET
                if preset is not None:
                    options["preset"] = preset
                vout.options = options
                vout.codec_context.thread_count = codec_threads or 0
                outs = {st.index: out.add_stream_from_template(st) for st in copied}
                done = _pipeline(av, inp, vin, copied, out, vout, outs, run, total, on_frame)
        os.replace(tmp, dst_p) if overwrite or not dst_p.exists() else _refuse(dst_p)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, av.error.FFmpegError):
            raise FileError(f"{src_p}: video error ({exc})") from exc
        raise
    return VideoResult(done, (w, h), (w * s, h * s), Fraction(rate) if rate else None, len(copied),
                       time.perf_counter() - start)


def _refuse(dst: Path) -> None:
    from .files import FileError

    raise FileError(f"{dst}: appeared while writing; pass overwrite=True (--overwrite) to replace it")


def _container_format(dst: Path) -> str | None:
    return {".m4v": "mp4", ".mkv": "matroska"}.get(dst.suffix.lower())


def _pipeline(av: Any, inp: Any, vin: Any, copied: list, out: Any, vout: Any, outs: dict, run: Callable,
              total: int | None, on_frame: Callable | None) -> int:
    """decode thread -> (this thread: upscale) -> encode thread. Packets of copied streams travel the
    same queues so the muxing order stays the demuxing order."""
    decoded: queue.Queue = queue.Queue(_QUEUE_DEPTH)
    upscaled: queue.Queue = queue.Queue(_QUEUE_DEPTH)
    errors: list[BaseException] = []
    stop = threading.Event()
    end = object()

    def put(q: queue.Queue, item: Any) -> None:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stop

    def decode() -> None:
        try:
            for packet in inp.demux([vin] + copied):
                if packet.stream.index != vin.index:
                    if packet.dts is not None:
                        put(decoded, ("packet", packet))
                    continue
                for frame in packet.decode():
                    put(decoded, ("frame", frame))
            put(decoded, end)
        except _Stop:
            pass
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
            stop.set()

    def encode() -> None:
        try:
            while True:
                item = _get(upscaled, stop)
                if item is end:
                    break
                kind, obj = item
                if kind == "packet":
                    obj.stream = outs[obj.stream.index]
                    out.mux(obj)
                else:
                    out.mux(vout.encode(obj))
            out.mux(vout.encode(None))
        except _Stop:
            pass
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    workers = [threading.Thread(target=decode, name="fsrcnn-decode", daemon=True),
               threading.Thread(target=encode, name="fsrcnn-encode", daemon=True)]
    for t in workers:
        t.start()
    done = 0
    try:
        while True:
            item = _get(decoded, stop)
            if item is end:
                put(upscaled, end)
                break
            kind, obj = item
            if kind == "frame":
                rgb = obj.to_ndarray(format="rgb24")
                big = av.VideoFrame.from_ndarray(np.ascontiguousarray(run(rgb)), format="rgb24")
                big.pts, big.time_base = obj.pts, obj.time_base
                obj = big
                done += 1
                if on_frame is not None:
                    on_frame(done, total)
            put(upscaled, (kind, obj))
        workers[1].join()
    except BaseException:
        stop.set()
        for t in workers:
            t.join()
        if errors and not isinstance(errors[0], _Stop):
            raise errors[0]
        raise
    stop.set()
    for t in workers:
        t.join()
    if errors:
        raise errors[0]
    return done


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    while True:
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                raise _Stop
