// AVX2 + FMA convolution row (compiled with -mavx2 -mfma; called only when CPUID says so).
#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fsrcnn::kernels {
namespace avx2_impl {

#include "../simd/vec_avx2.h"

#include "../simd/conv_row.h"

}  // namespace avx2_impl

void conv_row_avx2(const ConvWeights& w, const ConvRow& row) { avx2_impl::conv_row_simd<avx2_impl::V>(w, row); }

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void conv_row_avx2(const ConvWeights& w, const ConvRow& row) { conv_row_ref(w, row); }
}  // namespace fsrcnn::kernels

#endif
