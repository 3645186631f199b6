"""Peak extra memory of upscale() (issue 17's floors), each size in a fresh subprocess: the peak RSS
during one call minus the RSS just before it (Linux: /proc/self/clear_refs resets the peak, VmHWM).
The output array is part of the extra; the caller's input is not.

    python benchmarks/frame_memory.py            # 1920x1080 RGB x3 and 6000x4000 RGB x4
    python benchmarks/frame_memory.py --huge     # and 20000x20000 gray uint8 x3 (3.6 GB out, minutes)
    python benchmarks/frame_memory.py --srcnn    # and 1920x1080 RGB x3 with the authors' SRCNN 9-1-5
                                                 # (a network on the bicubic-upscaled Y; $FSRCNN_DATA)
"""

import os
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
SRCNN = (1080, 1920, 3, 3, lambda out: 64 * MB)
SRCNN_WEIGHTS = Path(os.environ.get("FSRCNN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / (
    "weights/official_srcnn_via_yaBorn/model/9-1-5(91 images)/x3.mat")


def main() -> None:
    cases = [case + ("fsrcnn",) for case in CASES + ([HUGE] if "--huge" in sys.argv else [])]
    if "--srcnn" in sys.argv:
        cases.append(SRCNN + (str(SRCNN_WEIGHTS),))
    for rows, cols, channels, scale, floor, model in cases:
        extra, out = measure_extra_rss(rows, cols, channels, scale, model=model)
        verdict = "meets" if extra <= floor(out) else "MISSES"
        name = "" if model == "fsrcnn" else f" ({Path(model).parent.name} {Path(model).name})"
        print(f"{cols}x{rows}x{channels} uint8 x{scale}{name}: extra {extra / MB:.0f} MB (output {out / MB:.0f} MB), "
              f"floor {floor(out) / MB:.0f} MB: {verdict}", flush=True)


if __name__ == "__main__":
    main()
