"""The executor's cost: upscale() on an RGB uint8 frame and the network alone on its Y plane, 1 and 2
threads, at 240x240 and 640x360 (x3, the shipped FSRCNN). Within a run, compare upscale() with the
network alone; across builds (the own pool against the OpenMP build it replaced), time the same calls
with benchmarks/compare_builds.py, which alternates the two builds call by call so that both see the
same machine load."""

import numpy as np
import pytest

import fsrcnn_fast

SIZES = {"240x240": (240, 240), "640x360": (360, 640)}


@pytest.fixture(scope="module")
def model():
    return fsrcnn_fast.Model.load("fsrcnn", scale=3)


def frame(size):
    return np.random.default_rng(0).integers(0, 256, (*SIZES[size], 3), dtype=np.uint8)


def info(benchmark, kind, size, threads):
    benchmark.group = f"threading {size} {threads} thread(s)"
    runtime = fsrcnn_fast.cpu_info().get("threading", "OpenMP")  # builds before the executor: OpenMP
    benchmark.extra_info.update({"runtime": runtime, "call": kind, "size": size, "threads": threads})


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", list(SIZES))
def test_upscale_rgb_uint8(benchmark, model, size, threads):
    rgb = frame(size)
    info(benchmark, "upscale() RGB uint8", size, threads)
    out = benchmark.pedantic(model.upscale, args=(rgb,), kwargs={"threads": threads}, rounds=15, warmup_rounds=2)
    assert out.shape == (SIZES[size][0] * 3, SIZES[size][1] * 3, 3)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("size", list(SIZES))
def test_network_on_y(benchmark, model, size, threads):
    y = np.random.default_rng(0).random(SIZES[size], dtype=np.float32)
    info(benchmark, "run_y (network only)", size, threads)
    out = benchmark.pedantic(model.run_y, args=(y, threads), rounds=15, warmup_rounds=2)
    assert out.shape == (SIZES[size][0] * 3, SIZES[size][1] * 3)
