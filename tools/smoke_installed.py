"""Smoke test of an installed fsrcnn_fast (a wheel or an sdist install), run from outside the source tree:

    cd "$(mktemp -d)" && python /path/to/repo/tools/smoke_installed.py --all-isas

Checks that the package imported is the installed one (not a checkout), that its version is the
metadata's, that cpu_info() names a supported ISA, and, for every shipped model at every scale:
the engine's output equals the float64 NumPy oracle (tests/oracle.py, read by path: it shares no code
with the package) within 1e-4, and on a synthetic image downscaled by MATLAB bicubic the network's
reconstruction beats bicubic upscaling in PSNR (a wrongly read or wrongly packed weights file does not).
--all-isas repeats all of it in a fresh interpreter for each ISA the CPU supports (FSRCNN_FAST_ISA).
Exits non-zero, naming the check, on any failure.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def fail(message: str) -> None:
    sys.exit(f"smoke_installed: FAILED: {message}")


def load_oracle():
    spec = importlib.util.spec_from_file_location("oracle", REPO / "tests" / "oracle.py")
    oracle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(oracle)
    return oracle


def synthetic_image(size: int = 96) -> np.ndarray:
    """uint8 gray: anti-aliased disks, a rotated grating and a diagonal ramp (edges and texture for SR)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    img = 0.25 + 0.3 * (xx + yy) / (2 * size)
    for cy, cx, r, v in [(30, 28, 14, 0.9), (66, 70, 20, 0.1), (24, 74, 9, 0.75)]:
        img += (v - img) * np.clip(r - np.hypot(yy - cy, xx - cx) + 0.5, 0, 1)
    grating = 0.5 + 0.5 * np.sin(2 * np.pi * (0.8 * xx + 0.6 * yy) / 11)
    band = (yy > 0.55 * size) & (xx < 0.45 * size)
    img[band] = 0.15 + 0.7 * grating[band]
    return np.clip(np.round(img * 255), 0, 255).astype(np.uint8)


def check(isa: str | None) -> None:
    import fsrcnn_fast
    from fsrcnn_fast import metrics

    where = Path(fsrcnn_fast.__file__).resolve()
    installed = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    if not any(where.is_relative_to(p) for p in installed) or where.is_relative_to(REPO / "python"):
        fail(f"imported {where}, not the package installed in {sorted(map(str, installed))}")
    if fsrcnn_fast.__version__ != importlib.metadata.version("fsrcnn_fast"):
        fail(f"__version__ {fsrcnn_fast.__version__} != metadata {importlib.metadata.version('fsrcnn_fast')}")

    info = fsrcnn_fast.cpu_info()
    if info["isa"] not in info["supported_isas"] or (isa and info["isa"] != isa):
        fail(f"cpu_info() {info} (asked for {isa})")
    print(f"fsrcnn_fast {fsrcnn_fast.__version__} from {where.parent}: isa {info['isa']} "
          f"({info['isa_reason']}), supported {info['supported_isas']}, threads {info['threads']}")

    oracle = load_oracle()
    rng = np.random.default_rng(0)
    y_small = rng.random((13, 17), dtype=np.float32)
    hr_image = synthetic_image()
    for name in fsrcnn_fast.available_models():
        model = fsrcnn_fast.Model.load(name)
        for scale in model.scales:
            ours = model.run_y(y_small, threads=2, scale=scale)
            err = float(np.abs(ours - oracle.run(model.spec_for(scale), y_small)).max())
            if not err <= 1e-4:
                fail(f"{name} x{scale}: engine vs oracle max error {err:.2e} > 1e-4")
            hr, lr = metrics.protocol_pair(hr_image, scale)
            sr_psnr = metrics.score(model.run_y(lr.astype(np.float32), scale=scale), hr, scale)[0]
            bicubic_psnr = metrics.score(metrics.bicubic_sr(lr, scale), hr, scale)[0]
            if not sr_psnr > bicubic_psnr:
                fail(f"{name} x{scale}: PSNR {sr_psnr:.2f} dB is not above bicubic's {bicubic_psnr:.2f} dB")
            rgb = np.repeat(hr_image[::scale, ::scale, None], 3, axis=2)
            out = fsrcnn_fast.upscale(rgb, scale=scale, model=name)
            if out.shape != (rgb.shape[0] * scale, rgb.shape[1] * scale, 3) or out.dtype != np.uint8:
                fail(f"{name} x{scale}: upscale() gave {out.shape} {out.dtype}")
            print(f"  {name} x{scale}: oracle max error {err:.1e}; PSNR {sr_psnr:.2f} dB vs bicubic "
                  f"{bicubic_psnr:.2f} dB (+{sr_psnr - bicubic_psnr:.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all-isas", action="store_true", help="repeat the checks with each supported ISA forced")
    args = ap.parse_args()
    if Path.cwd().resolve().is_relative_to(REPO):
        fail(f"run from outside the source tree (cwd {Path.cwd()} is inside {REPO})")
    if not args.all_isas:
        check(os.environ.get("FSRCNN_FAST_ISA"))
        return
    import fsrcnn_fast

    for isa in fsrcnn_fast.cpu_info()["supported_isas"]:
        print(f"FSRCNN_FAST_ISA={isa}", flush=True)
        env = {**os.environ, "FSRCNN_FAST_ISA": isa}
        if subprocess.run([sys.executable, __file__], env=env).returncode != 0:
            fail(f"the checks failed with FSRCNN_FAST_ISA={isa}")
    print("smoke_installed: OK")


if __name__ == "__main__":
    main()
