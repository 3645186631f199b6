"""Command line: ``fsrcnn-fast upscale IN OUT --scale 3`` and ``fsrcnn-fast eval --set DIR --scale 3``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import numpy as np


def _model(args: argparse.Namespace):
    from .api import Model

    return Model.load(args.weights if args.weights else args.model, scale=args.scale)


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

    images = metrics.read_image_set(args.set)
    methods: list[tuple[str, object]] = [("bicubic", lambda lr: metrics.bicubic_sr(lr, args.scale))]
    if not args.bicubic_only:
        model = _model(args)
        methods.append((f"{model.arch}", lambda lr: model.run_y(lr, threads=args.threads)))
    header = f"{'image':<14}" + "".join(f"{name:>28}" for name, _ in methods)
    print(f"{args.set}  x{args.scale}  (Y PSNR dB / SSIM, MATLAB protocol)")
    print(header)
    results = [metrics.evaluate_set(images, args.scale, fn) for _, fn in methods]  # type: ignore[arg-type]
    for i, (name, _) in enumerate(images):
        print(f"{name:<14}" + "".join(f"{r[i].psnr:>20.2f} / {r[i].ssim:.4f}" for r in results))
    print(
        f"{'average':<14}"
        + "".join(
            f"{np.mean([x.psnr for x in r]):>20.2f} / {np.mean([x.ssim for x in r]):.4f}" for r in results
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsrcnn-fast", description="FSRCNN super-resolution on the CPU")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scale", type=int, default=3, help="upscaling factor (default 3)")
        p.add_argument("--model", default="fsrcnn", help="shipped model name (default fsrcnn)")
        p.add_argument("--weights", default=None, help="a .safetensors weights file instead of a shipped model")
        p.add_argument("--threads", type=int, default=None, help="threads (default: all available cores)")

    up = sub.add_parser("upscale", help="super-resolve one image file")
    up.add_argument("input")
    up.add_argument("output")
    model_args(up)
    up.set_defaults(func=_cmd_upscale)

    ev = sub.add_parser("eval", help="PSNR/SSIM table on a test set under the MATLAB protocol")
    ev.add_argument("--set", required=True, help="directory of ground-truth images")
    ev.add_argument("--bicubic-only", action="store_true", help="score bicubic alone")
    model_args(ev)
    ev.set_defaults(func=_cmd_eval)
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
