// Compiled with -mavx2 -mfma; only called after CPUID says the CPU has them.
#include "fma_probe.h"

#include <chrono>

#include "../dispatch/dispatch.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fsrcnn::bench {
namespace {

// 12 independent accumulators cover the FMA latency (4 cycles) on two pipes.
__attribute__((noinline)) float fma_chains(long iterations) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, sum);
  return out[0];
}

}  // namespace

double fma_peak_gflops(double seconds) {
  bool has_avx2 = false;
  for (Isa isa : supported_isas()) has_avx2 |= isa == Isa::avx2;
  if (!has_avx2) return 0.0;
  using clock = std::chrono::steady_clock;
  long iterations = 1 << 16;
  volatile float sink = 0.0f;
  for (;;) {
    const auto t0 = clock::now();
    sink = sink + fma_chains(iterations);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt >= seconds) return iterations * 12.0 * 8.0 * 2.0 / dt / 1e9;
    iterations *= 2;
  }
}

}  // namespace fsrcnn::bench

#else

namespace fsrcnn::bench {
double fma_peak_gflops(double) { return 0.0; }
}  // namespace fsrcnn::bench

#endif
