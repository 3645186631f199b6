"""Smoke test of the aarch64 wheel under QEMU (tools/aarch64_check.sh installs it and runs this with the
emulated CPython, from outside the source tree): the installed package imports with its metadata's
version, the emulated CPU offers NEON and it is the default, FSRCNN_FAST_ISA=ref and =neon are
honoured, and with each ISA every shipped model upscales a uint8 RGB image (the frame pipeline: unpack,
bicubic chroma, network, pack) and its Y output equals the float64 NumPy oracle within 1e-4.
Exits non-zero, naming the check, on any failure."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def fail(message: str) -> None:
    sys.exit(f"aarch64_smoke: FAILED: {message}")


def check(isa: str) -> None:
    import fsrcnn_fast

    info = fsrcnn_fast.cpu_info()
    if info["isa"] != isa:
        fail(f"FSRCNN_FAST_ISA={isa} but cpu_info() says {info}")
    spec = importlib.util.spec_from_file_location("oracle", REPO / "tests" / "oracle.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    rng = np.random.default_rng(0)
    y_small = rng.random((9, 11), dtype=np.float32)
    rgb = rng.integers(0, 256, (10, 13, 3), dtype=np.uint8)
    for name in fsrcnn_fast.available_models():
        model = fsrcnn_fast.Model.load(name)
        for scale in model.scales:
            err = float(np.abs(model.run_y(y_small, threads=2, scale=scale) - oracle.run(model.spec_for(scale), y_small)).max())
            if not err <= 1e-4:
                fail(f"{isa} {name} x{scale}: engine vs oracle max error {err:.2e} > 1e-4")
            out = fsrcnn_fast.upscale(rgb, scale=scale, model=name)
            if out.shape != (rgb.shape[0] * scale, rgb.shape[1] * scale, 3) or out.dtype != np.uint8:
                fail(f"{isa} {name} x{scale}: upscale() gave {out.shape} {out.dtype}")
            print(f"  {isa} {name} x{scale}: oracle max error {err:.1e}, upscale {rgb.shape} -> {out.shape}")


def main() -> None:
    if len(sys.argv) > 1:
        check(sys.argv[1])
        return
    if platform.machine() != "aarch64":
        fail(f"expected to run on aarch64, this is {platform.machine()}")
    import importlib.metadata

    import fsrcnn_fast

    where = Path(fsrcnn_fast.__file__).resolve()
    if where.is_relative_to(REPO):
        fail(f"imported the checkout ({where}), not the installed wheel")
    if fsrcnn_fast.__version__ != importlib.metadata.version("fsrcnn_fast"):
        fail(f"__version__ {fsrcnn_fast.__version__} != the wheel's metadata {importlib.metadata.version('fsrcnn_fast')}")
    info = fsrcnn_fast.cpu_info()
    print(f"aarch64_smoke: {platform.machine()}, fsrcnn_fast {fsrcnn_fast.__version__} from {where.parent}: {info}")
    if info["supported_isas"] != ["ref", "neon"] or info["isa"] != "neon":
        fail(f"expected ISAs ['ref', 'neon'] with neon the default, got {info}")
    for isa in ("neon", "ref"):
        env = {**os.environ, "FSRCNN_FAST_ISA": isa}
        if subprocess.run([sys.executable, __file__, isa], env=env).returncode != 0:
            fail(f"the checks failed with FSRCNN_FAST_ISA={isa}")
    print("aarch64_smoke: OK")


if __name__ == "__main__":
    main()
