"""upscale() end to end against the network alone on the same frame's Y plane: the cost of everything
that is not the network (reading the caller's RGB uint8 array, colour conversion, chroma bicubic,
rounding and writing the output), as a ratio of medians measured in the same run. FSRCNN x3,
1 and 2 threads (issue 17's floor: upscale() within 10 % of the network alone).

    python -m pytest benchmarks/test_bench_frame.py --benchmark-only
"""

import numpy as np
import pytest

from fsrcnn_fast import Model
from fsrcnn_fast.color import rgb_to_ycbcr

SIZES = {"240x240": (240, 240), "640x360": (360, 640)}
_MEDIANS: dict[tuple[str, int], dict[str, float]] = {}


@pytest.fixture(scope="module")
def model():
    return Model.load("fsrcnn", scale=3)


def frame(size):
    rows, cols = SIZES[size]
    return np.random.default_rng(0).integers(0, 256, (rows, cols, 3)).astype(np.uint8)


def _note(benchmark, size, threads, what):
    benchmark.group = f"upscale vs network x3 {size}, {threads} thread(s)"
    benchmark.extra_info.update({"runtime": f"fsrcnn_fast {what}", "size": size, "threads": threads})
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is None:
        return
    medians = _MEDIANS.setdefault((size, threads), {})
    medians[what] = stats.median
    if len(medians) == 2:
        ratio = medians["upscale() RGB uint8"] / medians["network on Y"]
        benchmark.extra_info["upscale_over_network"] = ratio
        print(f"\n{size}, {threads} thread(s): upscale() {medians['upscale() RGB uint8'] * 1e3:.1f} ms, "
              f"network {medians['network on Y'] * 1e3:.1f} ms, ratio {ratio:.3f}")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", list(SIZES))
def test_network_only(benchmark, model, size, threads):
    y = np.ascontiguousarray(rgb_to_ycbcr(frame(size) / 255.0)[..., 0], np.float32)
    out = np.empty((y.shape[0] * 3, y.shape[1] * 3), np.float32)
    benchmark.pedantic(model._engine.run, args=(y, threads), kwargs={"out": out}, rounds=15, warmup_rounds=2)
    _note(benchmark, size, threads, "network on Y")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", list(SIZES))
def test_upscale_rgb_uint8(benchmark, model, size, threads):
    rgb = frame(size)
    out = np.empty((rgb.shape[0] * 3, rgb.shape[1] * 3, 3), np.uint8)
    benchmark.pedantic(model.upscale, args=(rgb,), kwargs={"threads": threads, "out": out}, rounds=15,
                       warmup_rounds=2)
    _note(benchmark, size, threads, "upscale() RGB uint8")
