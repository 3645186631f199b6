"""Two builds of fsrcnn_fast timed against each other in one run, call by call.

    python benchmarks/compare_builds.py A/bin/python B/bin/python [--rounds 30]

Each interpreter (e.g. two venvs: main's build and a branch's) runs a small server in a subprocess;
the driver asks them for one timed call in turn (A, B, A, B, ...), so both see the same machine load,
which on a shared machine moves far more between runs than the difference being measured. Prints the
median per build, call, size and thread count, and the ratio B / A. The calls are the ones of
benchmarks/test_bench_threading.py: upscale() on RGB uint8 and the network alone on its Y plane (x3,
the shipped FSRCNN), 240x240 and 640x360, 1 and 2 threads.
"""

import argparse
import statistics
import subprocess
import sys

SERVER = r"""
import sys, time
import numpy as np
import fsrcnn_fast
model = fsrcnn_fast.Model.load("fsrcnn", scale=3)
sizes = {"240x240": (240, 240), "640x360": (360, 640)}
rgb = {k: np.random.default_rng(0).integers(0, 256, (*v, 3), dtype=np.uint8) for k, v in sizes.items()}
y = {k: np.random.default_rng(0).random(v, dtype=np.float32) for k, v in sizes.items()}
print(fsrcnn_fast.cpu_info().get("threading", "OpenMP"), flush=True)
for line in sys.stdin:
    call, size, threads = line.split()
    threads = int(threads)
    work = (lambda: model.upscale(rgb[size], threads=threads)) if call == "upscale" else (lambda: model.run_y(y[size], threads))
    t = time.perf_counter()
    work()
    print(time.perf_counter() - t, flush=True)
"""

CASES = [(call, size, threads) for call in ("upscale", "run_y") for size in ("240x240", "640x360") for threads in (1, 2)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("python_a")
    ap.add_argument("python_b")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    servers = [subprocess.Popen([p, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for p in (args.python_a, args.python_b)]
    names = [s.stdout.readline().strip() for s in servers]

    def timed(server, case):
        server.stdin.write(" ".join(map(str, case)) + "\n")
        server.stdin.flush()
        return float(server.stdout.readline())

    try:
        print(f"A: {args.python_a} ({names[0]})\nB: {args.python_b} ({names[1]})")
        print(f"{'call':8} {'size':8} {'thr':>3} {'A ms':>8} {'B ms':>8} {'B/A':>6}")
        for case in CASES:
            samples = [[], []]
            for r in range(args.warmup + args.rounds):
                for i, s in enumerate(servers if r % 2 == 0 else servers[::-1]):
                    i = i if r % 2 == 0 else 1 - i
                    t = timed(s, case)
                    if r >= args.warmup:
                        samples[i].append(t)
            a, b = (statistics.median(x) * 1e3 for x in samples)
            print(f"{case[0]:8} {case[1]:8} {case[2]:>3} {a:8.2f} {b:8.2f} {b / a:6.3f}", flush=True)
    finally:
        for s in servers:
            s.stdin.close()
            s.wait()


if __name__ == "__main__":
    sys.exit(main())
