"""One model, many scales: the shipped x3 network's layers shared by x2/x3/x4 tails (the paper's
transfer strategy). run_y_all computes the shared layers once; the baseline runs each scale alone."""

from dataclasses import replace

import numpy as np
import pytest

from conftest import all_threads
from fsrcnn_fast import Model
from networks import SIZES

THREADS = sorted({1, all_threads()})


def multiscale_model() -> Model:
    x3 = Model.load("fsrcnn", scale=3).spec
    specs = [x3 if s == 3 else replace(Model.load("fsrcnn", scale=s).spec, layers=x3.layers) for s in (2, 3, 4)]
    return Model(specs, "shipped layers, x2/x3/x4 tails", default_scale=3)


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("size", ["240x240", "1080p"])
@pytest.mark.parametrize("mode", ["run_y_all", "run_y per scale"])
def test_multiscale(benchmark, mode, size, threads):
    model = multiscale_model()
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
