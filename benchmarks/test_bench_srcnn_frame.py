"""SRCNN's upscale() (the engine bicubic-upscales Y per tile, then runs the network at the output's
size) against the network alone on an already upscaled Y plane, and against the NumPy path it replaced
(fsrcnn_fast._numpy_frame: full-size bicubic Y, the network, chroma in float64). The authors' SRCNN
9-1-5 x3 on a 240 x 240 RGB uint8 frame, 1 and 2 threads; the calls alternate, ratios of medians are
printed and stored in extra_info. Needs $FSRCNN_DATA (the weights) and SciPy (the .mat reader).

    python -m pytest benchmarks/test_bench_srcnn_frame.py --benchmark-only -s
"""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from fsrcnn_fast import Model, _numpy_frame
from fsrcnn_fast.color import rgb_to_ycbcr
from fsrcnn_fast.resize import imresize

ROUNDS = 7
WEIGHTS = "weights/official_srcnn_via_yaBorn/model/9-1-5(91 images)/x3.mat"


@pytest.fixture(scope="module")
def model():
    pytest.importorskip("scipy")
    data = Path(os.environ.get("FSRCNN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if not (data / WEIGHTS).is_file():
        pytest.skip(f"{data / WEIGHTS} not present")
    return Model.load(data / WEIGHTS)


@pytest.mark.parametrize("threads", [1, 2])
def test_srcnn_upscale_vs_network_and_numpy_path(benchmark, model, threads):
    rows, cols, s = 240, 240, 3
    rgb = np.random.default_rng(0).integers(0, 256, (rows, cols, 3)).astype(np.uint8)
    y_up = np.ascontiguousarray(imresize(rgb_to_ycbcr(rgb / 255.0)[..., 0].astype(np.float32), s), np.float32)
    y_out = np.empty_like(y_up)
    out = np.empty((rows * s, cols * s, 3), np.uint8)
    calls = {
        "network on upscaled Y": lambda: model._engine.run(y_up, threads, out=y_out),
        "upscale() RGB uint8": lambda: model.upscale(rgb, threads=threads, out=out),
        "NumPy path": lambda: _numpy_frame.upscale(rgb, s, lambda y: model.run_y(y, threads)),
    }
    times = {k: [] for k in calls}
    for f in calls.values():
        f()  # warm
    for _ in range(ROUNDS):
        for name, f in calls.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    over_network = med["upscale() RGB uint8"] / med["network on upscaled Y"]
    over_numpy = med["upscale() RGB uint8"] / med["NumPy path"]
    print(f"\nSRCNN 9-1-5 x3 240x240, {threads} thread(s): upscale() {med['upscale() RGB uint8'] * 1e3:.1f} ms, "
          f"network {med['network on upscaled Y'] * 1e3:.1f} ms (ratio {over_network:.3f}), "
          f"NumPy path {med['NumPy path'] * 1e3:.1f} ms (ratio {over_numpy:.3f}) (medians of {ROUNDS}, alternating)")
    benchmark.group = "SRCNN upscale() RGB uint8 x3 240x240"
    benchmark.extra_info.update({"runtime": "fsrcnn_fast upscale()", "threads": threads,
                                 "upscale_over_network": over_network, "upscale_over_numpy_path": over_numpy})
    benchmark.pedantic(calls["upscale() RGB uint8"], rounds=3, warmup_rounds=1)
