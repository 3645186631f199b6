"""Peak extra memory of upscale() (issue 17's floors), each size in a fresh subprocess: the peak RSS
during one call minus the RSS just before it (Linux: /proc/self/clear_refs resets the peak, VmHWM).
The output array is part of the extra; the caller's input is not.

    python benchmarks/frame_memory.py            # 1920x1080 RGB x3 and 6000x4000 RGB x4
    python benchmarks/frame_memory.py --huge     # and 20000x20000 gray uint8 x3 (3.6 GB out, minutes)
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from test_frame import measure_extra_rss  # noqa: E402

MB = 2**20
CASES = [  # rows, cols, channels, scale, floor(output bytes) in bytes
    (1080, 1920, 3, 3, lambda out: 64 * MB),
    (4000, 6000, 3, 4, lambda out: out + 128 * MB),
]
HUGE = (20000, 20000, 1, 3, lambda out: out + 256 * MB)


def main() -> None:
    cases = CASES + ([HUGE] if "--huge" in sys.argv else [])
    for rows, cols, channels, scale, floor in cases:
        extra, out = measure_extra_rss(rows, cols, channels, scale)
        verdict = "meets" if extra <= floor(out) else "MISSES"
        print(f"{cols}x{rows}x{channels} uint8 x{scale}: extra {extra / MB:.0f} MB (output {out / MB:.0f} MB), "
              f"floor {floor(out) / MB:.0f} MB: {verdict}", flush=True)


if __name__ == "__main__":
    main()
