// SSE2 convolution row: the x86-64 baseline (every x86-64 CPU has SSE2; no FMA, so multiply + add).
#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <emmintrin.h>

namespace fsrcnn::kernels {
namespace sse2_impl {

#include "../simd/vec_sse2.h"

#include "../simd/conv_row.h"

}  // namespace sse2_impl

void conv_row_sse2(const ConvWeights& w, const ConvRow& row) { sse2_impl::conv_row_simd<sse2_impl::V>(w, row); }

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void conv_row_sse2(const ConvWeights& w, const ConvRow& row) { conv_row_ref(w, row); }
}  // namespace fsrcnn::kernels

#endif
