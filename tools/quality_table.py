"""The README's quality table and crop picture: every model a user can pick, scored by this library.

    python tools/quality_table.py                      # Markdown table on stdout (Set5, Set14; x2, x3, x4)
    python tools/quality_table.py --png docs/crops_x3.png

Y PSNR (dB) / SSIM under the MATLAB protocol (fsrcnn_fast.metrics). The public weights are read from
$FSRCNN_DATA/weights (default ../shared/data/weights) by this library's importers and run by its
engine; a model whose files are absent is left out. Needs Pillow and SciPy (the .mat releases).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from fsrcnn_fast import Model, available_models, metrics  # the installed package (pip install .)

ROOT = Path(__file__).resolve().parents[1]

DATA = Path(os.environ.get("FSRCNN_DATA", ROOT.parent / "shared" / "data"))
W = DATA / "weights"
SCALES = (2, 3, 4)

# label -> scale -> weights (a shipped model name or a file); None: bicubic
MODELS: dict[str, dict[int, str | Path] | None] = {
    "bicubic": None,
    "**fsrcnn_fast `fsrcnn`** (one network per scale)": {s: "fsrcnn" for s in SCALES},
    "**fsrcnn_fast `fsrcnn-multi`** (one network, a deconvolution per scale)": {s: "fsrcnn-multi" for s in SCALES},
    "**fsrcnn_fast `fsrcnn-s`** (FSRCNN-s, one network per scale)": {s: "fsrcnn-s" for s in SCALES},
    "authors' FSRCNN (MATLAB release)": {s: W / "official_fsrcnn_via_yaBorn/model/FSRCNN" / f"x{s}.mat" for s in SCALES},
    "authors' FSRCNN-s (MATLAB release)": {s: W / "official_fsrcnn_via_yaBorn/model/FSRCNN-s" / f"x{s}.mat" for s in SCALES},
    "authors' SRCNN 9-5-5 ImageNet (MATLAB release)": {
        s: W / "official_srcnn_via_yaBorn/model/9-5-5(ImageNet)" / f"x{s}.mat" for s in SCALES},
    "yjn870 FSRCNN-pytorch (.pth)": {s: W / "yjn870_fsrcnn_pytorch_pr6" / f"fsrcnn_x{s}.pth" for s in SCALES},
    "OpenCV dnn_superres FSRCNN (.pb)": {s: W / "saafke_opencv_dnn_superres" / f"FSRCNN_x{s}.pb" for s in SCALES},
    "OpenCV dnn_superres FSRCNN-small (.pb)": {s: W / "saafke_opencv_dnn_superres" / f"FSRCNN-small_x{s}.pb" for s in SCALES},
    "chxy95 FSRCNN-s (flat-key .mat, PyTorch-trained)": {3: W / "chxy95_fsrcnn" / "weights.mat"},
    # Trained against labels two HR pixels off Caffe's output grid: offset=2 aligns it with the image.
    "wangxuewen99 FSRCNN (Caffe .caffemodel, offset=2)": {
        3: (W / "wangxuewen99_fsrcnn_caffe" / "snapshot_iter_2546000.caffemodel", {"offset": 2})},
}


def super_resolver(weights: str | Path | tuple | None, scale: int):
    if weights is None:
        return lambda lr: metrics.bicubic_sr(lr, scale)
    weights, options = weights if isinstance(weights, tuple) else (weights, {})
    if isinstance(weights, Path) and not weights.is_file():
        return None
    if isinstance(weights, str) and weights not in available_models():
        return None
    model = Model.load(weights, scale=scale, **options)
    return lambda lr: model.run_y(lr, scale=scale)


def table(sets: list[str]) -> None:
    images = {name: metrics.read_image_set(DATA / name) for name in sets}
    header = "| model | " + " | ".join(f"{name} ×{s}" for name in sets for s in SCALES) + " |"
    print(header)
    print("|" + " --- |" * (1 + len(sets) * len(SCALES)))
    for label, files in MODELS.items():
        cells = []
        for name in sets:
            for s in SCALES:
                if files is not None and s not in files:  # the model has no network for this scale
                    cells.append("")
                    continue
                sr = super_resolver(None if files is None else files[s], s)
                if sr is None:
                    cells.append("")
                    continue
                r = metrics.evaluate_set(images[name], s, sr)
                cells.append(f"{np.mean([x.psnr for x in r]):.2f} / {np.mean([x.ssim for x in r]):.4f}")
        if any(cells):
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)


def crops(png: str, image: str = "Set14/zebra", scale: int = 3, box=(60, 120, 150, 150)) -> None:
    """bicubic | fsrcnn_fast | ground truth on one crop of an RGB test image (nearest-neighbour zoom 2x)."""
    from PIL import Image, ImageDraw

    from fsrcnn_fast.io import read_image
    from fsrcnn_fast.resize import imresize

    def to_uint8(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)

    hr = metrics.modcrop(read_image(next((DATA / image).parent.glob(Path(image).name + ".*"))), scale)
    lr = to_uint8(imresize(hr / 255.0, 1 / scale))  # MATLAB bicubic downscale of every channel
    panels = [("bicubic", to_uint8(imresize(lr / 255.0, scale))),
              ("fsrcnn_fast FSRCNN", Model.load("fsrcnn", scale=scale).upscale(lr)), ("ground truth", hr)]
    x, y, w, h = box
    zoom = 2
    canvas = Image.new("RGB", (len(panels) * (w * zoom + 8), h * zoom + 24), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, img) in enumerate(panels):
        tile = Image.fromarray(img[y : y + h, x : x + w]).resize((w * zoom, h * zoom), Image.NEAREST)
        canvas.paste(tile, (i * (w * zoom + 8), 24))
        draw.text((i * (w * zoom + 8) + 4, 6), f"{label} (x{scale})", fill="black")
    canvas.save(png)
    print(f"wrote {png}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="Set5,Set14")
    ap.add_argument("--png", default=None, help="also draw the crop comparison")
    ap.add_argument("--no-table", action="store_true")
    args = ap.parse_args()
    if not args.no_table:
        table(args.sets.split(","))
    if args.png:
        crops(args.png)


if __name__ == "__main__":
    main()
