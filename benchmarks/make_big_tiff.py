"""A SIDE x SIDE random gray uint8 tiled BigTIFF, written tile by tile (the README's out-of-core figure):

    python benchmarks/make_big_tiff.py 20000 big.tif
"""

import sys

import numpy as np
import tifffile

side, tile = int(sys.argv[1]), 512
rng = np.random.default_rng(0)
n = -(-side // tile)


def tiles():
    for _ in range(n * n):
        yield rng.integers(0, 256, (tile, tile), dtype=np.uint8)


tifffile.imwrite(sys.argv[2], tiles(), shape=(side, side), dtype=np.uint8, tile=(tile, tile), bigtiff=True)
