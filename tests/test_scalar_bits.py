"""The scalar path (FSRCNN_FAST_ISA=ref) gives recorded bits: SHA-256 hashes of its outputs on fixed inputs,
for every shipped model and scale, are checked in (tests/scalar_bits.json). This suite runs it on x86-64;
tools/aarch64_check.sh runs it on aarch64 under QEMU: both must give the recorded bits, so the scalar path
gives the same bits on both (the build passes -ffp-contract=off so no compiler fuses a multiply-add on
aarch64, where FMA is in the base ISA).

The outputs: Model.run_y on a float32 Y plane (the network alone) and fsrcnn_fast.upscale of a uint8 RGB
image (the frame pipeline: unpack to YCbCr, bicubic chroma, the network, pack to uint8), both made from a
deterministic synthetic test image (disks, a grating, ramps: edges and texture).

Re-record (only after a deliberate change of the scalar arithmetic, and say why in the commit):
    FSRCNN_FAST_ISA=ref python tests/test_scalar_bits.py --record
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

RECORD = Path(__file__).with_name("scalar_bits.json")


def synthetic_image(rows: int = 48, cols: int = 53) -> np.ndarray:
    """uint8 RGB: disks with soft rims, a diagonal grating and ramps, in integer arithmetic only (no
    transcendental functions whose last bit may differ between NumPy builds), each channel different."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.int64)
    img = 60 + (xx + yy) * 2  # a ramp
    for cy, cx, r2, v in [(15, 14, 49, 230), (33, 35, 100, 25), (12, 37, 20, 190)]:
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        img = np.where(d2 <= r2, v, np.where(d2 <= r2 + 12, (img + v) // 2, img))  # rim: halfway
    band = (yy > rows * 55 // 100) & (xx < cols * 45 // 100)
    img = np.where(band, 40 + 30 * ((4 * xx + 3 * yy) % 7), img)  # grating, period 7 along (4, 3)
    rgb = np.stack([img, (img * img) // 255, 255 - (img * 4) // 5], axis=2)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def scalar_hashes() -> dict[str, str]:
    """Hashes of this interpreter's outputs (its default ISA: run with FSRCNN_FAST_ISA=ref)."""
    import fsrcnn_fast

    assert fsrcnn_fast.cpu_info()["isa"] == "ref", fsrcnn_fast.cpu_info()
    rgb = synthetic_image()
    # Elementwise: a matmul would go through BLAS, whose FMAs differ between machines.
    r, g, b = (rgb[..., c].astype(np.float32) / np.float32(255) for c in range(3))
    y = (np.float32(0.299) * r + np.float32(0.587) * g) + np.float32(0.114) * b
    out = {}
    for name in fsrcnn_fast.available_models():
        model = fsrcnn_fast.Model.load(name)
        for scale in model.scales:
            out[f"{name} x{scale} run_y"] = digest(model.run_y(y, threads=2, scale=scale))
            out[f"{name} x{scale} upscale"] = digest(fsrcnn_fast.upscale(rgb, scale=scale, model=name, threads=2))
    return out


def test_scalar_path_gives_the_recorded_bits():
    # A fresh interpreter with the ISA forced: the default ISA is chosen once, at import.
    env = {**os.environ, "FSRCNN_FAST_ISA": "ref"}
    r = subprocess.run([sys.executable, __file__, "--print"], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout)
    want = json.loads(RECORD.read_text())
    assert len(want) >= 18 and set(got) == set(want)
    differ = sorted(k for k in want if got[k] != want[k])
    assert not differ, f"the scalar path's bits changed for {differ}"


if __name__ == "__main__":
    hashes = scalar_hashes()
    if sys.argv[1:] == ["--record"]:
        RECORD.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(hashes)} hashes in {RECORD}")
    else:
        print(json.dumps(hashes))
