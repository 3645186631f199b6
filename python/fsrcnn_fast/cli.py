"""Command line: ``fsrcnn-fast upscale IN OUT --scale 3``, ``fsrcnn-fast eval --set DIR --scale 3`` and
``fsrcnn-fast convert IN OUT``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np


def _offset(value: str) -> int | str:
    """--offset: an integer, or 'caffe' (a Caffe model's own output grid)."""
    if value == "caffe":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'caffe', got {value!r}") from None


def _model(args: argparse.Namespace):
    """The model to run: a weights file at its own scale (--scale must agree with it, or give it), or a
    shipped model at --scale (default 3)."""
    from .api import Model

    try:
        scale = None if args.scale is None else int(args.scale)
    except ValueError as exc:
        raise ValueError(f"--scale must be an integer, got {args.scale!r}") from exc
    if not args.weights:
        return Model.load(args.model, scale=3 if scale is None else scale)
    options = {} if args.offset is None else {"offset": args.offset}
    return Model.load(args.weights, scale=scale, **options)


def _cmd_upscale(args: argparse.Namespace) -> int:
    """One image, one video, or a batch (folders, globs, several files) into a folder."""
    from . import files
    from .progress import Progress
    from .video import is_video_path

    *inputs, output = args.paths
    if not inputs:
        raise files.FileError("give an input and an output (file, folder or video)")
    enabled = None if not args.quiet else False
    if len(inputs) == 1 and _streams(args, inputs[0], output):
        return _upscale_outofcore(args, inputs[0], output, enabled)
    single = len(inputs) == 1 and Path(inputs[0]).is_file() and not Path(output).is_dir()
    if single and (is_video_path(inputs[0]) or is_video_path(output)):
        if not is_video_path(inputs[0]):
            raise files.FileError(f"{output}: a video file name, and the input {inputs[0]} is not a video")
        if not is_video_path(output):
            raise files.FileError(f"{output}: the input is a video; give a video output (.mp4, .mkv, ...)")
        return _upscale_video(args, inputs[0], output, enabled)
    if single and not (Path(output).suffix == "" and not Path(output).exists()):
        return _upscale_one(args, inputs[0], output, enabled)
    if len(inputs) == 1 and not Path(inputs[0]).exists() and not any(ch in inputs[0] for ch in "*?["):
        raise files.FileError(f"{inputs[0]}: no such file or folder")
    if Path(output).exists() and not Path(output).is_dir():
        raise files.FileError(f"{output}: several inputs need an output folder, and this is a file")
    if not Path(output).exists() and Path(output).suffix.lower() in files.IMAGE_EXTENSIONS:
        raise files.FileError(f"{output}: looks like a file name, and {', '.join(inputs)} needs an output folder")
    pairs = files.plan_batch(inputs, output, recursive=args.recursive, ext=args.ext)
    if not pairs:
        hint = "" if args.recursive else " (try --recursive)"
        raise files.FileError(f"no image files in {', '.join(inputs)}{hint}")
    model = _model(args)
    with Progress(len(pairs), "img", "upscale", enabled=enabled) as bar:
        def done(path: Path, status: str) -> None:
            bar.update()
            if status == "failed":
                bar.stage(f"failed: {path.name}")
        result = files.upscale_batch(model, pairs, scale=model.scale, threads=args.threads, overwrite=args.overwrite,
                                     orientation=args.orientation, frames=args.frames, quality=args.quality,
                                     compress_level=args.compress_level, on_done=done)
    for path, message in result.failed:
        print(f"fsrcnn-fast: failed: {message if message.startswith(str(path)) else f'{path}: {message}'}",
              file=sys.stderr)
    if not args.quiet:
        print(f"{output}: {result.summary()}")
    return 1 if result.failed else 0


def _upscale_one(args: argparse.Namespace, src: str, dst: str, enabled: bool | None) -> int:
    from . import files
    from .progress import Progress

    files.check_output(dst, overwrite=args.overwrite, inputs=[src])  # before any compute
    with Progress(3, "step", Path(src).name, enabled=enabled) as bar:
        bar.stage("reading")
        image = files.read_image_file(src, orientation=args.orientation, frames=args.frames)
        chans = 1 if image.image.ndim == 2 else image.image.shape[2]
        files.check_output(dst, overwrite=args.overwrite, inputs=[src], channels=chans, n_frames=len(image.frames))
        model = _model(args)
        bar.update()
        bar.stage(f"upscaling x{model.scale}")
        t0 = time.perf_counter()
        result = files.upscale_image_file(model, image, threads=args.threads)
        elapsed = time.perf_counter() - t0
        bar.update()
        bar.stage("writing")
        t1 = time.perf_counter()
        files.write_image_file(dst, result, quality=args.quality, compress_level=args.compress_level,
                               overwrite=args.overwrite, inputs=[src])
        written = time.perf_counter() - t1
        bar.update()
    if not args.quiet:
        frames = f", {len(image.frames)} frames" if len(image.frames) > 1 else ""
        print(f"{src} {image.image.shape[1]}x{image.image.shape[0]} -> {dst} "
              f"{result.image.shape[1]}x{result.image.shape[0]}{frames} ({model.arch} x{model.scale}, "
              f"{elapsed * 1000:.1f} ms upscale, {written * 1000:.1f} ms write)")
    return 0


def _streams(args: argparse.Namespace, src: str, dst: str) -> bool:
    """Out of core (outofcore.py): a Zarr in or out, --chunk / --scheduler, or a TIFF too large for memory."""
    from . import outofcore

    given = args.chunk is not None or args.scheduler is not None
    try:
        scale = 3 if args.scale is None else int(args.scale)
    except ValueError:
        return False  # _model() says what is wrong with --scale
    return outofcore.wants_streaming(src, dst, scale, given)


def _upscale_outofcore(args: argparse.Namespace, src: str, dst: str, enabled: bool | None) -> int:
    from . import outofcore
    from .progress import Progress

    model = _model(args)
    chunk = outofcore.DEFAULT_CHUNK if args.chunk is None else args.chunk
    start = time.perf_counter()
    with Progress(None, "chunk", "upscale", enabled=enabled) as bar:
        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.set_total(total)
            bar.update()

        result = outofcore.upscale_file(src, dst, model, chunk=chunk, scheduler=args.scheduler,
                                        workers=args.threads, overwrite=args.overwrite, progress=progress)
    if not args.quiet:
        (h, w), (oh, ow) = result["input_shape"][:2], result["output_shape"][:2]
        print(f"{src} ({w}x{h}) -> {dst} ({ow}x{oh}), {result['chunks']} chunks in "
              f"{time.perf_counter() - start:.1f} s")
    return 0


def _upscale_video(args: argparse.Namespace, src: str, dst: str, enabled: bool | None) -> int:
    from .progress import Progress
    from .video import _av, upscale_video

    _av()  # the missing-extra message before the model loads
    model = _model(args)
    with Progress(None, "frame", Path(src).name, enabled=enabled) as bar:
        def frame_done(done: int, total: int | None) -> None:
            if done == 1 and total:
                bar.set_total(total)
            bar.update()
        result = upscale_video(model, src, dst, threads=args.threads, codec=args.codec, crf=args.crf,
                               preset=args.preset, overwrite=args.overwrite, on_frame=frame_done)
    if not args.quiet:
        (w, h), (ow, oh) = result.size_in, result.size_out
        print(f"{src} {w}x{h} -> {dst} {ow}x{oh}, {result.frames} frames, {result.audio_streams} audio/subtitle "
              f"streams copied ({model.arch} x{model.scale}, {result.seconds:.1f} s, "
              f"{result.frames / max(result.seconds, 1e-9):.2f} frames/s)")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from . import metrics

    if args.scale is None and args.weights and not args.bicubic_only:
        scales = list(_model(args).scales)  # the weights' own
    else:
        scales = [int(v) for v in str(args.scale or "3").split(",")]
    summary: list[tuple[str, int, str, float, float]] = []
    for directory in args.set:
        images = metrics.read_image_set(directory)
        name = Path(directory).name
        for scale in scales:
            methods: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
                ("bicubic", lambda lr, s=scale: metrics.bicubic_sr(lr, s))
            ]
            if not args.bicubic_only:
                model = _model(argparse.Namespace(**{**vars(args), "scale": scale}))
                methods.append((model.arch, lambda lr, m=model: m.run_y(lr, threads=args.threads)))
            results = [metrics.evaluate_set(images, scale, fn) for _, fn in methods]
            for (label, _), r in zip(methods, results):
                summary.append((name, scale, label, float(np.mean([x.psnr for x in r])),
                                float(np.mean([x.ssim for x in r]))))
            if args.markdown:
                continue
            print(f"{directory}  x{scale}  (Y PSNR dB / SSIM, MATLAB protocol)")
            print(f"{'image':<14}" + "".join(f"{label:>28}" for label, _ in methods))
            for i, (image_name, _) in enumerate(images):
                print(f"{image_name:<14}" + "".join(f"{r[i].psnr:>20.2f} / {r[i].ssim:.4f}" for r in results))
            print(f"{'average':<14}" + "".join(
                f"{np.mean([x.psnr for x in r]):>20.2f} / {np.mean([x.ssim for x in r]):.4f}" for r in results))
    if args.markdown:
        print("| set | scale | method | PSNR (dB) | SSIM |")
        print("| --- | --- | --- | --- | --- |")
        for name, scale, label, p, ss in summary:
            print(f"| {name} | x{scale} | {label} | {p:.2f} | {ss:.4f} |")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .weights.formats import load_weights, save_weights

    folder = Path(args.output).parent
    if not folder.is_dir():  # before the (possibly slow) import, not as the serialiser's error
        raise FileNotFoundError(f"{args.output}: folder {folder} does not exist")
    options = {k: v for k, v in (("border", args.border), ("offset", args.offset)) if v is not None}
    specs = load_weights(args.input, None if args.scale is None else int(args.scale), **options)
    save_weights(specs, args.output)
    desc = ", ".join(f"x{sp.scale}" for sp in specs)
    print(f"{args.input} -> {args.output}: {specs[0].kind} {desc}, border {specs[0].layers[0].border}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="fsrcnn-fast", description="FSRCNN super-resolution on the CPU")
    parser.add_argument("--version", action="version", version=f"fsrcnn-fast {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scale", default=None, help="upscaling factor (default: the weights' own, 3 for a shipped "
                       "model; eval takes a list, e.g. 2,3,4)")
        p.add_argument("--model", default="fsrcnn", help="shipped model name (default fsrcnn)")
        p.add_argument("--weights", default=None, help="a weights file (any supported format) instead of a shipped model")
        p.add_argument("--offset", type=_offset, default=None,
                       help="deconvolution offset of --weights that cannot tell it (Caffe models: N or 'caffe')")
        p.add_argument("--threads", type=int, default=None, help="threads (default: all available cores)")
        debug_arg(p)

    def debug_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show the traceback of an error")

    from .files import DEFAULT_PNG_COMPRESS_LEVEL, DEFAULT_QUALITY
    from .video import DEFAULT_CODEC, DEFAULT_CRF

    up = sub.add_parser(
        "upscale", help="super-resolve an image, a video, or folders/globs of images",
        description="IN OUT: one image or video file. IN... OUT_DIR: files, folders and globs into a folder, "
                    "layout kept, existing outputs skipped unless --overwrite.")
    up.add_argument("paths", nargs="+", metavar="IN... OUT")
    model_args(up)
    up.add_argument("--overwrite", action="store_true", help="replace existing outputs (never the input)")
    up.add_argument("--recursive", "-r", action="store_true", help="walk input folders (and ** globs) recursively")
    up.add_argument("--ext", default=None, help="output format of a batch, e.g. png (default: each input's own)")
    up.add_argument("--quality", type=int, default=DEFAULT_QUALITY,
                    help=f"JPEG/WebP quality 1-100 (default {DEFAULT_QUALITY})")
    up.add_argument("--compress-level", type=int, default=DEFAULT_PNG_COMPRESS_LEVEL,
                    help=f"PNG zlib level 0-9 (default {DEFAULT_PNG_COMPRESS_LEVEL}: ~6x faster than 6, files ~1/3 larger)")
    up.add_argument("--orientation", choices=("apply", "keep"), default="apply",
                    help="EXIF orientation: turn the pixels and reset the tag (default), or keep both as stored")
    up.add_argument("--frames", choices=("all", "first"), default="all",
                    help="animated GIF/WebP/PNG and multi-page TIFF: every frame (default) or the first")
    up.add_argument("--codec", default=DEFAULT_CODEC, help=f"video encoder (default {DEFAULT_CODEC})")
    up.add_argument("--crf", type=int, default=DEFAULT_CRF, help=f"video constant-rate factor (default {DEFAULT_CRF})")
    up.add_argument("--preset", default=None,
                    help="x264/x265 speed preset (default veryfast; slower presets give smaller files)")
    up.add_argument("--chunk", type=int, default=None,
                    help="out of core: input pixels per chunk side (multiple of 16, default 1024); TIFF/Zarr only")
    up.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="out of core on a Dask cluster (e.g. tcp://host:8786; default: this machine)")
    up.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary line")
    up.set_defaults(func=_cmd_upscale)

    ev = sub.add_parser("eval", help="PSNR/SSIM table on test sets under the MATLAB protocol")
    ev.add_argument("--set", required=True, action="append", help="directory of ground-truth images (repeatable)")
    ev.add_argument("--bicubic-only", action="store_true", help="score bicubic alone")
    ev.add_argument("--markdown", action="store_true", help="print only the averages, as a Markdown table")
    model_args(ev)
    ev.set_defaults(func=_cmd_eval)

    from .weights.formats import EXPORTERS, IMPORTERS

    cv = sub.add_parser(
        "convert", help="convert weights between formats",
        description="reads " + ", ".join(sorted(IMPORTERS)) + "; writes " + ", ".join(sorted(EXPORTERS)),
    )
    cv.add_argument("input")
    cv.add_argument("output")
    cv.add_argument("--scale", default=None, help="keep one scale (default: every scale the input provides)")
    cv.add_argument("--border", default=None, help="PyTorch/Keras inputs: border mode the weights were trained with")
    cv.add_argument("--offset", type=_offset, default=None,
                    help="the deconvolution offset where the input cannot tell it (Caffe; PyTorch's padding)")
    debug_arg(cv)
    cv.set_defaults(func=_cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (0 done, 1 some files of a batch failed, 2 an error,
    130 interrupted). Errors are one line on stderr; ``--debug`` shows the traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("fsrcnn-fast: interrupted (no partial output left)", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, ImportError, MemoryError) as exc:
        if args.debug:
            raise
        print(f"fsrcnn-fast: error: {_describe(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - anything else is a bug; still one line unless --debug
        if args.debug:
            raise
        print(f"fsrcnn-fast: error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
              file=sys.stderr)
        return 2


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
