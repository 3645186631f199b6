// AVX2 + FMA Winograd F(4x4, 3x3) row group (compiled with -mavx2 -mfma; called only when CPUID says so).
#include <algorithm>
#include <cstddef>

#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fsrcnn::kernels {
namespace avx2_impl {

#include "../simd/vec_avx2.h"

#include "../simd/conv3x3_wino4x4.h"

}  // namespace avx2_impl

void conv3x3_wino4x4_avx2(const ConvWeights& w, const ConvRowGroup& rows) {
  avx2_impl::conv3x3_wino4x4_simd<avx2_impl::V>(w, rows);
}

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void conv3x3_wino4x4_avx2(const ConvWeights& w, const ConvRowGroup& rows) { conv3x3_wino4x4_ref(w, rows); }
}  // namespace fsrcnn::kernels

#endif
