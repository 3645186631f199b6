// AVX2 + FMA convolution row (compiled with -mavx2 -mfma; called only when CPUID says so).
#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fsrcnn::kernels {
namespace avx2_impl {

struct V {
  using T = __m256;
  static constexpr int N = 8;
  static T loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T set1(float f) { return _mm256_set1_ps(f); }
  static T zero() { return _mm256_setzero_ps(); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
};

#include "../simd/conv_row.h"

}  // namespace avx2_impl

void conv_row_avx2(const ConvWeights& w, const ConvRow& row) { avx2_impl::conv_row_simd<avx2_impl::V>(w, row); }

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void conv_row_avx2(const ConvWeights& w, const ConvRow& row) { conv_row_ref(w, row); }
}  // namespace fsrcnn::kernels

#endif
