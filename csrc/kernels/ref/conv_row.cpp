// Portable k x k convolution row: the fallback path and the reference every SIMD kernel is tested
// against (both are also checked against the float64 oracle). It walks the same blocks and
// sub-windows as the SIMD kernels, in plain scalar loops; per pixel the accumulation order is
// bias, then ci, ky, kx, so results never depend on how the image was tiled.
#include "../kernels.h"

namespace fsrcnn::kernels {

static inline float activate(float v, Activation act, float slope) {
  if (act == Activation::ReLU) return v > 0.0f ? v : 0.0f;
  if (act == Activation::PReLU) return v > 0.0f ? v : v * slope;
  return v;
}

void conv_row_ref(const ConvWeights& w, const ConvRow& row) {
  for (int i = 0; i < w.nblocks; ++i) {
    const ConvBlock& b = w.blocks[i];
    for (int j = 0; j < b.channels; ++j) {
      const int co = b.co_first + j;
      float* dst = row.out + co * row.out_cstride;
      for (int x = 0; x < row.cols; ++x) dst[x] = w.bias[co];
      const float* wp = w.packed + b.packed;  // [cin][kh][kw][channels]
      for (int ci = 0; ci < w.cin; ++ci)
        for (int ky = 0; ky < b.kh; ++ky) {
          const float* src = row.in_rows[b.ky0 + ky] + ci * row.in_cstride + b.kx0;
          for (int kx = 0; kx < b.kw; ++kx, wp += b.channels) {
            const float wv = wp[j];
            for (int x = 0; x < row.cols; ++x) dst[x] += wv * src[x + kx];
          }
        }
      const float slope = w.act == Activation::PReLU ? w.slope[co] : 0.0f;
      for (int x = 0; x < row.cols; ++x) dst[x] = activate(dst[x], w.act, slope);
    }
  }
}

}  // namespace fsrcnn::kernels
