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
    from .io import read_image, write_image

    image = read_image(args.input)
    model = _model(args)
    t0 = time.perf_counter()
    out = model.upscale(image, threads=args.threads)
    elapsed = time.perf_counter() - t0
    write_image(args.output, out)
    print(
        f"{args.input} {image.shape[1]}x{image.shape[0]} -> {args.output} {out.shape[1]}x{out.shape[0]} "
        f"({model.arch} x{model.scale}, {elapsed * 1000:.1f} ms)"
    )
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

    options = {k: v for k, v in (("border", args.border), ("offset", args.offset)) if v is not None}
    specs = load_weights(args.input, None if args.scale is None else int(args.scale), **options)
    save_weights(specs, args.output)
    desc = ", ".join(f"x{sp.scale}" for sp in specs)
    print(f"{args.input} -> {args.output}: {specs[0].kind} {desc}, border {specs[0].layers[0].border}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsrcnn-fast", description="FSRCNN super-resolution on the CPU")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scale", default=None, help="upscaling factor (default: the weights' own, 3 for a shipped "
                       "model; eval takes a list, e.g. 2,3,4)")
        p.add_argument("--model", default="fsrcnn", help="shipped model name (default fsrcnn)")
        p.add_argument("--weights", default=None, help="a weights file (any supported format) instead of a shipped model")
        p.add_argument("--offset", type=_offset, default=None,
                       help="deconvolution offset of --weights that cannot tell it (Caffe models: N or 'caffe')")
        p.add_argument("--threads", type=int, default=None, help="threads (default: all available cores)")

    up = sub.add_parser("upscale", help="super-resolve one image file")
    up.add_argument("input")
    up.add_argument("output")
    model_args(up)
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
    cv.set_defaults(func=_cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, FileNotFoundError, ImportError) as exc:
        print(f"fsrcnn-fast: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
