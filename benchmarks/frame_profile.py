"""One call for an instruction-count profile of upscale() against the network alone (issue 17's floor),
deterministic where wall time on a shared machine is not. Modes: ``upscale`` (RGB uint8 x3 through
the fused frame path) and ``network`` (the same frame's Y plane, float32, the network alone), one
thread. The counts to compare are the inclusive ones of ``Network::run_frame`` and ``Network::run``
(Python's own count varies by millions from run to run with hash randomisation), so the extension is
built with its symbols kept (pybind11 strips Release builds; ``pip install pybind11 ninja cmake``):

    cmake -S . -B /tmp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_STRIP=/bin/true \
        -Dpybind11_DIR=$(python -m pybind11 --cmakedir) -DPython_EXECUTABLE=$(which python)
    ninja -C /tmp/build
    mkdir -p /tmp/pkg && cp -rs $PWD/python/fsrcnn_fast /tmp/pkg/ && ln -sf /tmp/build/_core*.so /tmp/pkg/fsrcnn_fast/
    for m in network upscale; do
      PYTHONPATH=/tmp/pkg valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$m \
          python benchmarks/frame_profile.py $m 360 640
      callgrind_annotate --inclusive=yes /tmp/cg.$m | grep -E 'Network::run(_frame)?\('
    done

Cache misses: add ``--cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=1048576,8,64`` (this machine's L1
and per-core L2 as the simulated last level) to the valgrind line; the same grep then also shows the
D1mr/D1mw (L1) and DLmr/DLmw (L2) misses of the engine call.
"""

import sys

import numpy as np

from fsrcnn_fast import Model
from fsrcnn_fast.color import rgb_to_ycbcr


def main() -> None:
    mode = sys.argv[1]
    rows, cols = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (360, 640)
    model = Model.load("fsrcnn", scale=3)
    rgb = np.random.default_rng(0).integers(0, 256, (rows, cols, 3)).astype(np.uint8)
    y = np.ascontiguousarray(rgb_to_ycbcr(rgb / 255.0)[..., 0], np.float32)
    y_out = np.empty((rows * 3, cols * 3), np.float32)
    out = np.empty((rows * 3, cols * 3, 3), np.uint8)
    if mode == "upscale":
        model.upscale(rgb, threads=1, out=out)
    elif mode == "network":
        model._engine.run(y, 1, out=y_out)
    else:
        raise SystemExit("mode: upscale or network")


if __name__ == "__main__":
    main()
