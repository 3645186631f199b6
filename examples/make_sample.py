"""Draws examples/sample.png, the repository's own test picture (no third-party pixels):
a zone plate, colour gradients, hard edges and text — the things super-resolution is judged on.

    python examples/make_sample.py
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SIZE = 192


def main() -> None:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    r2 = (xx - SIZE / 2) ** 2 + (yy - SIZE / 2) ** 2
    zone = 0.5 + 0.5 * np.cos(np.pi * r2 / (2.2 * SIZE))
    rgb = np.stack([zone * (0.4 + 0.6 * xx / SIZE), zone * 0.8, 0.3 + 0.7 * (yy / SIZE) * (1 - zone * 0.5)], axis=2)
    img = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    draw.rectangle([10, 10, 70, 50], fill=(220, 40, 40), outline=(0, 0, 0), width=2)
    draw.ellipse([120, 120, 182, 182], fill=(30, 160, 60), outline=(255, 255, 255), width=3)
    draw.line([(0, SIZE - 1), (SIZE - 1, 60)], fill=(250, 250, 0), width=2)
    draw.text((16, 150), "fsrcnn_fast", fill=(255, 255, 255))
    draw.text((16, 164), "x2 x3 x4", fill=(0, 0, 0))
    img.save(Path(__file__).with_name("sample.png"), optimize=True)


if __name__ == "__main__":
    main()
