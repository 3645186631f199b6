// A tiny probe of the single-core FMA peak (GFLOP/s), so benchmarks can report the fraction of
// peak a network reaches on the machine that ran them.
#pragma once

namespace fsrcnn::bench {

// Runs independent AVX2 FMA chains for about `seconds` on the calling thread; 0 when the CPU has
// no AVX2+FMA.
double fma_peak_gflops(double seconds);

}  // namespace fsrcnn::bench
