"""Exhaustive check of the uint8 rounding that the AVX2 pack kernel uses (csrc/kernels/avx2/
frame_rows.cpp, to_u8_int): for every float32 t in [0, 510] (t = min(2, v) * 255 for any v),

    truncate(float32(t + h)), h = 0.5 - 2**-25 (the float just below 0.5), saturated to [0, 255]

equals the reference's MATLAB rounding floor(t) + (t - floor(t) >= 0.5), saturated likewise.
Negative t, NaN and -inf need no check: t + h < 1 truncates to <= 0 (or converts to INT_MIN), which
saturates to 0 as the reference's clip does. About 20 s and 2 GB of memory.

    python tools/check_u8_rounding.py
"""

import numpy as np


def main() -> None:
    h = np.nextafter(np.float32(0.5), np.float32(0))
    assert h == np.float32(0.5 - 2.0**-25)
    last = int(np.float32(510.0).view(np.uint32))
    step = 1 << 26
    mismatches = 0
    for lo in range(0, last + 1, step):
        t = np.arange(lo, min(lo + step, last + 1), dtype=np.uint32).view(np.float32)
        f = np.floor(t)
        want = np.clip(f + (t - f >= np.float32(0.5)), 0, 255)
        s = t + h
        assert s.dtype == np.float32
        mismatches += int(np.count_nonzero(np.clip(np.trunc(s), 0, 255) != want))
    print(f"{last + 1} floats in [0, 510]: {mismatches} mismatches")
    raise SystemExit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
