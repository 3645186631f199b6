"""fsrcnn_fast.dask on a local two-process cluster: scaling and overhead (issue 21's floors).

FSRCNN x3 on a gray uint8 image of SIDE x SIDE in chunks of SIDE / 4 (16 tasks), single-thread workers
(``LocalCluster(processes=True, threads_per_worker=1)`` on 127.0.0.1; the scheduler runs in this process,
each worker under its own nanny process). What each configuration times:

- ``1 worker`` / ``2 workers``: the input already on the cluster (persisted before the clock starts, as
  data loaded there), from ``client.persist(upscale(x))`` until every output chunk is computed and held
  by the workers (the output stays there: bringing 9 x the image back to this process would time the
  transfer, not the work);
- ``in-process, 2 threads``: one ``fsrcnn_fast.upscale(image, 3, threads=2)`` call (image in memory,
  output in memory);
- ``2 workers, zarr -> zarr`` (what the README's example does): ``da.from_zarr`` of the image on disk,
  ``upscale``, ``to_zarr`` written by the workers (Zarr's default codec), from the call until the store
  is written; against ``in-process, zarr -> zarr``: the same Zarr read into memory, one ``upscale(threads=2)``
  call and the same Zarr write from this process.

Floors: 2 workers >= 1.7x one worker; 2 workers within 15 % of the in-process call. The configurations
alternate in every round (a load that drifts hits them alike); figures are medians of ROUNDS. Beside
wall time, the CPU time of every process involved (this one: client, both schedulers, in-process calls;
the nannies and workers of the cluster that runs) and the time their threads were runnable but waited for a core
(Linux schedstat) are summed per run: on a shared machine they show whether a slower run did more work
or only waited for a core. The plain test run uses a small image; the README's figures:

    FSRCNN_BENCH_DASK_SIDE=8000 FSRCNN_BENCH_DASK_ROUNDS=3 python -m pytest benchmarks/test_bench_dask.py --benchmark-only -s
"""

from __future__ import annotations

import os
import time
from collections import Counter

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="needs the [dask] extra")
distributed = pytest.importorskip("distributed", reason="needs the [dask] extra")
zarr = pytest.importorskip("zarr", reason="needs the [dask] extra")
psutil = pytest.importorskip("psutil", reason="distributed's dependency")

import fsrcnn_fast  # noqa: E402
import fsrcnn_fast.dask as fdask  # noqa: E402

SIDE = int(os.environ.get("FSRCNN_BENCH_DASK_SIDE", "1200"))
ROUNDS = int(os.environ.get("FSRCNN_BENCH_DASK_ROUNDS", "3"))


def _cluster(workers: int):
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=":0", worker_dashboard_address=":0")


def _process_seconds(cluster_pids: list[int]) -> tuple[float, float]:
    """(CPU time, time runnable but waiting for a core) of this process (client, scheduler, in-process
    calls) and of the given processes (one cluster's nannies and workers): user + system from psutil, the
    run-queue delay of every thread from Linux's /proc/PID/task/TID/schedstat (0 where not available)."""
    cpu = wait_ns = 0.0
    for pid in [os.getpid(), *cluster_pids]:
        try:
            p = psutil.Process(pid)
            t = p.cpu_times()
            cpu += t.user + t.system
            for tid in os.listdir(f"/proc/{p.pid}/task"):
                with open(f"/proc/{p.pid}/task/{tid}/schedstat") as f:
                    wait_ns += int(f.read().split()[1])
        except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass  # a process or thread ending between the calls; no /proc (not Linux)
    return cpu, wait_ns / 1e9


def test_two_workers_vs_one_vs_in_process(benchmark, tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE)).astype(np.uint8)
    chunk = SIDE // 4
    model = fsrcnn_fast.Model.load("fsrcnn", scale=3)
    src = str(tmp_path / "in.zarr")
    da.from_array(image, chunks=chunk).to_zarr(src)
    expected = int(fsrcnn_fast.upscale(image, 3, threads=2).sum(dtype=np.uint64))
    balance: dict[str, Counter] = {}

    with _cluster(1) as one, _cluster(2) as two, distributed.Client(one) as c1, distributed.Client(two) as c2:
        inputs = {}
        pids: dict = {}
        for client in (c1, c2):
            x = client.persist(da.from_array(image, chunks=chunk))
            distributed.wait(x)
            inputs[client] = x
            tiny = fdask.upscale(da.from_array(image[:64, :64], chunks=32), model=model).sum(dtype=np.uint64)
            client.compute(tiny).result()  # the workers' imports and first engine outside the timing
            workers = list(client.run(os.getpid).values())
            pids[client] = workers + [psutil.Process(w).ppid() for w in workers]  # and their nannies

        def on_cluster(client, name):
            def run():
                y = client.persist(fdask.upscale(inputs[client], model=model))
                distributed.wait(y)
                return y

            def check(y):
                balance[name] = Counter(w for ws in client.who_has(y).values() for w in ws)
                return int(client.compute(y.sum(dtype=np.uint64)).result())

            return run, check

        def zarr_on_cluster(client, round_no):
            dst = str(tmp_path / f"dist{round_no}.zarr")

            def run():
                y = fdask.upscale(da.from_zarr(src), model=model)
                client.compute(da.to_zarr(y, dst, compute=False)).result()
                return dst

            def check(path):
                return int(client.compute(da.from_zarr(path).sum(dtype=np.uint64)).result())

            return run, check

        def zarr_in_process(round_no):
            dst = str(tmp_path / f"local{round_no}.zarr")

            def run():
                z = zarr.open_array(src, mode="r")
                out = fsrcnn_fast.upscale(z[...], 3, threads=2)
                zarr.create_array(store=dst, shape=out.shape, chunks=(3 * chunk, 3 * chunk), dtype=out.dtype,
                                  overwrite=True)[...] = out
                return dst

            def check(path):
                return int(zarr.open_array(path, mode="r")[...].sum(dtype=np.uint64))

            return run, check

        def in_process():
            return fsrcnn_fast.upscale(image, 3, threads=2)

        names = ["1 worker", "2 workers", "in-process, 2 threads", "2 workers, zarr -> zarr",
                 "in-process, zarr -> zarr"]
        wall: dict[str, list[float]] = {k: [] for k in names}
        cpu: dict[str, list[float]] = {k: [] for k in names}
        waited: dict[str, list[float]] = {k: [] for k in names}
        for round_no in range(ROUNDS):
            calls = {
                "1 worker": on_cluster(c1, "1 worker"),
                "2 workers": on_cluster(c2, "2 workers"),
                "in-process, 2 threads": (in_process, lambda out: int(out.sum(dtype=np.uint64))),
                "2 workers, zarr -> zarr": zarr_on_cluster(c2, round_no),
                "in-process, zarr -> zarr": zarr_in_process(round_no),
            }
            order = names if round_no % 2 == 0 else names[::-1]  # alternate who goes first
            for name in order:
                run, check = calls[name]
                own = pids[c1] if name == "1 worker" else pids[c2] if name.startswith("2 workers") else []
                (cpu0, wait0), t0 = _process_seconds(own), time.perf_counter()
                result = run()
                wall[name].append(time.perf_counter() - t0)
                cpu1, wait1 = _process_seconds(own)
                cpu[name].append(cpu1 - cpu0)
                waited[name].append(wait1 - wait0)
                assert check(result) == expected, name  # the same output everywhere
                del result
            print(f"round {round_no + 1}/{ROUNDS}: " + ", ".join(f"{k} {wall[k][-1]:.2f} s" for k in names),
                  flush=True)  # a long run shows its progress

    med = {k: float(np.median(v)) for k, v in wall.items()}
    med_cpu = {k: float(np.median(v)) for k, v in cpu.items()}
    med_wait = {k: float(np.median(v)) for k, v in waited.items()}
    scaling = med["1 worker"] / med["2 workers"]
    overhead = med["2 workers"] / med["in-process, 2 threads"]
    zarr_overhead = med["2 workers, zarr -> zarr"] / med["in-process, zarr -> zarr"]
    per_round_scaling = [a / b for a, b in zip(wall["1 worker"], wall["2 workers"])]
    per_round_overhead = [a / b for a, b in zip(wall["2 workers"], wall["in-process, 2 threads"])]
    benchmark.extra_info.update({
        "side": SIDE, "rounds": ROUNDS, "two_over_one_worker_speedup": scaling,
        "distributed_over_in_process": overhead, "zarr_distributed_over_in_process": zarr_overhead,
        **{f"median_s[{k}]": v for k, v in med.items()}, **{f"median_cpu_s[{k}]": v for k, v in med_cpu.items()},
        **{f"median_waited_for_core_s[{k}]": v for k, v in med_wait.items()}})
    print(f"\n{SIDE}x{SIDE} gray uint8 x3, chunks {chunk} (16 tasks), medians of {ROUNDS} rounds; load {os.getloadavg()}")
    for k in names:
        print(f"  {k:26s} wall {med[k]:7.2f} s   CPU (its processes) {med_cpu[k]:7.2f} s   waited for a core "
              f"{med_wait[k]:6.2f} s   wall per round: {', '.join(f'{v:.2f}' for v in wall[k])}")
    print(f"  2 workers vs 1: {scaling:.2f}x (per round {', '.join(f'{v:.2f}' for v in per_round_scaling)}); "
          f"2 workers / in-process: {overhead:.3f} (per round {', '.join(f'{v:.2f}' for v in per_round_overhead)}); "
          f"zarr -> zarr, 2 workers / in-process: {zarr_overhead:.3f}")
    print(f"  CPU time, 2 workers / 1 worker: {med_cpu['2 workers'] / med_cpu['1 worker']:.3f}; "
          f"2 workers / in-process: {med_cpu['2 workers'] / med_cpu['in-process, 2 threads']:.3f}")
    print(f"  output chunks per worker (last round): {sorted(balance.get('2 workers', Counter()).values())}")
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
