// SSE2 convolution row: the x86-64 baseline (every x86-64 CPU has SSE2; no FMA, so multiply + add).
#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>

namespace fsrcnn::kernels {
namespace sse2_impl {

struct V {
  using T = __m128;
  static constexpr int N = 4;
  static T loadu(const float* p) { return _mm_loadu_ps(p); }
  static void storeu(float* p, T v) { _mm_storeu_ps(p, v); }
  static T set1(float f) { return _mm_set1_ps(f); }
  static T zero() { return _mm_setzero_ps(); }
  static T fmadd(T a, T b, T c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
  static T min(T a, T b) { return _mm_min_ps(a, b); }
  static T max(T a, T b) { return _mm_max_ps(a, b); }
};

#include "../simd/conv_row.h"

}  // namespace sse2_impl

void conv_row_sse2(const ConvWeights& w, const ConvRow& row) { sse2_impl::conv_row_simd<sse2_impl::V>(w, row); }

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void conv_row_sse2(const ConvWeights& w, const ConvRow& row) { conv_row_ref(w, row); }
}  // namespace fsrcnn::kernels

#endif
