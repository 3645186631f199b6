"""fsrcnn_fast.dask on a local two-process cluster: scaling and overhead (issue 21's floors).

FSRCNN x3 on a gray uint8 image of SIDE x SIDE in chunks of SIDE / 4 (16 tasks):
- two single-thread worker processes against one (floor: >= 1.7x);
- the two-worker run against one in-process ``fsrcnn_fast.upscale(image, threads=2)`` (floor: within 15 %).
The cluster runs end in a sum of the output on the workers (the output stays there; bringing 9 x the
image back to the client would time the transfer, not the work). The three calls alternate, so a load
that drifts during the run (a shared machine) hits them alike; medians of ROUNDS, ratios printed and
stored in extra_info. The plain test run uses a small image; the README's figures:

    FSRCNN_BENCH_DASK_SIDE=8000 python -m pytest benchmarks/test_bench_dask.py --benchmark-only -s
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="needs the [dask] extra")
distributed = pytest.importorskip("distributed", reason="needs the [dask] extra")

import fsrcnn_fast  # noqa: E402
import fsrcnn_fast.dask as fdask  # noqa: E402

SIDE = int(os.environ.get("FSRCNN_BENCH_DASK_SIDE", "1200"))
ROUNDS = int(os.environ.get("FSRCNN_BENCH_DASK_ROUNDS", "3"))


def _cluster(workers: int):
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=":0", worker_dashboard_address=":0")


def test_two_workers_vs_one_vs_in_process(benchmark):
    image = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE)).astype(np.uint8)
    model = fsrcnn_fast.Model.load("fsrcnn", scale=3)
    x = da.from_array(image, chunks=(SIDE // 4, SIDE // 4))
    total = fdask.upscale(x, model=model).sum(dtype=np.uint64)
    with _cluster(1) as one, _cluster(2) as two, distributed.Client(one) as c1, distributed.Client(two) as c2:
        def on(client):
            return lambda: client.compute(total).result()

        calls = {
            "1 worker": on(c1),
            "2 workers": on(c2),
            "in-process, 2 threads": lambda: int(fsrcnn_fast.upscale(image, 3, threads=2).sum(dtype=np.uint64)),
        }
        tiny = fdask.upscale(da.from_array(image[:64, :64], chunks=32), model=model).sum(dtype=np.uint64)
        for client in (c1, c2):  # start the workers' imports outside the timing
            client.compute(tiny).result()
        times: dict[str, list[float]] = {k: [] for k in calls}
        results: dict[str, set] = {k: set() for k in calls}
        for _ in range(ROUNDS):
            for name, f in calls.items():
                t0 = time.perf_counter()
                results[name].add(f())
                times[name].append(time.perf_counter() - t0)
        assert len(set().union(*results.values())) == 1  # the same output everywhere
    med = {k: float(np.median(v)) for k, v in times.items()}
    scaling = med["1 worker"] / med["2 workers"]
    overhead = med["2 workers"] / med["in-process, 2 threads"]
    benchmark.extra_info.update({"side": SIDE, "two_over_one_worker_speedup": scaling,
                                 "distributed_over_in_process": overhead,
                                 **{f"median_s[{k}]": v for k, v in med.items()}})
    print(f"\n{SIDE}x{SIDE} gray uint8 x3, chunks {SIDE // 4}: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in med.items())
          + f"; 2 workers vs 1: {scaling:.2f}x; distributed / in-process: {overhead:.3f} (medians of {ROUNDS})")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
