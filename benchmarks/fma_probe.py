"""Prints this machine's single-core FMA peak: python benchmarks/fma_probe.py"""

from fsrcnn_fast import _core

if __name__ == "__main__":
    runs = sorted(_core.fma_peak_gflops(0.3) for _ in range(5))
    print(f"AVX2 FMA peak, one core: {runs[2]:.1f} GFLOP/s = {runs[2] / 2:.1f} GMAC/s (median of 5)")
