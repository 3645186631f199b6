"""fsrcnn_fast's engine: every network x size x thread count, at x3 (float32, Y only)."""

import numpy as np
import pytest

from conftest import all_threads
from fsrcnn_fast import Model
from networks import NETWORKS, SIZES, macs_per_frame, network_input

THREADS = sorted({1, all_threads()})


def record(benchmark, spec, size, threads, peak, runtime="fsrcnn_fast"):
    macs = macs_per_frame(spec, SIZES[size])
    benchmark.extra_info.update({"runtime": runtime, "size": size, "threads": threads, "gmac_per_frame": macs / 1e9,
                                 "fma_peak_gmacs": peak})
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None and stats.median > 0:
        gmacs = macs / stats.median / 1e9
        benchmark.extra_info.update({"fps": 1.0 / stats.median, "gmac_per_s": gmacs,
                                     "fraction_of_peak": gmacs / (peak * threads) if peak else None})


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("network", list(NETWORKS))
def test_engine(benchmark, network, size, threads, fma_peak_gmacs):
    spec = NETWORKS[network]()
    engine = Model(spec)._engine
    x = network_input(spec, SIZES[size])
    benchmark.group = f"{network} {size}"
    rounds = 3 if network.startswith("SRCNN") and size == "1080p" else 10
    out = benchmark.pedantic(engine.run, args=(x, threads), rounds=rounds, warmup_rounds=1)
    assert out.shape[0] == SIZES[size][0] * 3
    record(benchmark, spec, size, threads, fma_peak_gmacs)


@pytest.mark.parametrize("threads", THREADS)
def test_upscale_rgb_uint8(benchmark, threads):
    """The whole user call on a 240x240 RGB frame: colour conversion and chroma bicubic included."""
    import fsrcnn_fast

    rgb = np.random.default_rng(0).integers(0, 256, (240, 240, 3)).astype(np.uint8)
    benchmark.group = "upscale() RGB 240x240"
    benchmark.extra_info.update({"runtime": "fsrcnn_fast.upscale", "size": "240x240", "threads": threads})
    out = benchmark.pedantic(fsrcnn_fast.upscale, args=(rgb,), kwargs={"scale": 3, "threads": threads},
                             rounds=10, warmup_rounds=1)
    assert out.shape == (720, 720, 3)
