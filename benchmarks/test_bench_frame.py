"""upscale() end to end against the network alone on the same frame's Y plane: the cost of everything
that is not the network (reading the caller's RGB uint8 array, colour conversion, chroma bicubic,
rounding and writing the output). FSRCNN x3, 1 and 2 threads (issue 17's floor: upscale() within 10 %
of the network alone). The two calls alternate, so that a load that drifts during the run (a shared
machine) hits both alike; the ratio of their medians is printed and stored in extra_info. On one
thread the ratio of process CPU-time medians is printed too: it does not count time the process spent
waiting for a core, so it is the steadier figure on a loaded machine (the pool's brief spin after a call
counts in both).

    python -m pytest benchmarks/test_bench_frame.py --benchmark-only -s
"""

import time

import numpy as np
import pytest

from fsrcnn_fast import Model
from fsrcnn_fast.color import rgb_to_ycbcr

SIZES = {"240x240": (240, 240), "640x360": (360, 640)}
ROUNDS = 31


@pytest.fixture(scope="module")
def model():
    return Model.load("fsrcnn", scale=3)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", list(SIZES))
def test_upscale_vs_network(benchmark, model, size, threads):
    rows, cols = SIZES[size]
    rgb = np.random.default_rng(0).integers(0, 256, (rows, cols, 3)).astype(np.uint8)
    y = np.ascontiguousarray(rgb_to_ycbcr(rgb / 255.0)[..., 0], np.float32)
    y_out = np.empty((rows * 3, cols * 3), np.float32)
    out = np.empty((rows * 3, cols * 3, 3), np.uint8)
    calls = {
        "network on Y": lambda: model._engine.run(y, threads, out=y_out),
        "upscale() RGB uint8": lambda: model.upscale(rgb, threads=threads, out=out),
    }
    times = {k: [] for k in calls}
    cpu = {k: [] for k in calls}
    for f in calls.values():
        f()  # warm
    for _ in range(ROUNDS):
        for name, f in calls.items():
            t0, c0 = time.perf_counter(), time.process_time()
            f()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = med["upscale() RGB uint8"] / med["network on Y"]
    cpu_note = ""
    if threads == 1:
        cpu_ratio = float(np.median(cpu["upscale() RGB uint8"]) / np.median(cpu["network on Y"]))
        cpu_note = f", CPU-time ratio {cpu_ratio:.3f}"
        benchmark.extra_info["upscale_over_network_cpu"] = cpu_ratio
    print(f"\n{size}, {threads} thread(s): upscale() {med['upscale() RGB uint8'] * 1e3:.1f} ms, "
          f"network {med['network on Y'] * 1e3:.1f} ms, ratio {ratio:.3f}{cpu_note} (medians of {ROUNDS}, alternating)")
    benchmark.group = f"upscale() RGB uint8 x3 {size}"
    benchmark.extra_info.update({"runtime": "fsrcnn_fast upscale()", "size": size, "threads": threads,
                                 "network_median_s": med["network on Y"], "upscale_median_s": med["upscale() RGB uint8"],
                                 "upscale_over_network": ratio})
    benchmark.pedantic(calls["upscale() RGB uint8"], rounds=5, warmup_rounds=1)
