// SSE2 Winograd F(2x2, 3x3) row pair: the x86-64 baseline.
#include <algorithm>
#include <cstddef>

#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>

namespace fsrcnn::kernels {
namespace sse2_impl {

#include "../simd/vec_sse2.h"

#include "../simd/conv3x3_wino2x2.h"

}  // namespace sse2_impl

void conv3x3_wino2x2_sse2(const ConvWeights& w, const ConvRowGroup& rows) {
  sse2_impl::conv3x3_wino2x2_simd<sse2_impl::V>(w, rows);
}

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void conv3x3_wino2x2_sse2(const ConvWeights& w, const ConvRowGroup& rows) { conv3x3_wino2x2_ref(w, rows); }
}  // namespace fsrcnn::kernels

#endif
