"""One model, many scales: the shipped fsrcnn-multi (the x3 network's layers shared by x2/x3/x4
deconvolutions, the paper's transfer strategy). run_y_all computes the shared layers once; the baseline
runs each scale alone."""

import numpy as np
import pytest

from conftest import all_threads
from fsrcnn_fast import Model
from networks import SIZES

THREADS = sorted({1, all_threads()})


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", ["240x240", "1080p"])
@pytest.mark.parametrize("mode", ["run_y_all", "run_y per scale"])
def test_multiscale(benchmark, mode, size, threads):
    model = Model.load("fsrcnn-multi")
    y = np.random.default_rng(0).uniform(0, 1, SIZES[size]).astype(np.float32)
    if mode == "run_y_all":
        def run():
            return model.run_y_all(y, threads=threads)
    else:
        def run():
            return {s: model.run_y(y, threads, scale=s) for s in model.scales}
    benchmark.group = f"FSRCNN x2+x3+x4 {size}"
    benchmark.extra_info.update({"runtime": f"fsrcnn_fast {mode}", "size": size, "threads": threads})
    out = benchmark.pedantic(run, rounds=5, warmup_rounds=1)
    assert sorted(out) == [2, 3, 4]
