// Portable k x k convolution row: the fallback path and the reference every SIMD kernel is tested
// against. Reads the plain OIHW weights; the accumulation order (bias, then ci, ky, kx) is fixed per
// pixel, so results never depend on how the image was tiled.
#include "../kernels.h"

namespace fsrcnn::kernels {

static inline float activate(float v, Activation act, float slope) {
  if (act == Activation::ReLU) return v > 0.0f ? v : 0.0f;
  if (act == Activation::PReLU) return v > 0.0f ? v : v * slope;
  return v;
}

void conv_row_ref(const ConvWeights& w, const ConvRow& row) {
  const int k = w.k;
  for (int co = 0; co < w.cout; ++co) {
    float* dst = row.out + co * row.out_cstride;
    const float slope = w.act == Activation::PReLU ? w.slope[co] : 0.0f;
    for (int x = 0; x < row.cols; ++x) dst[x] = w.bias[co];
    for (int ci = 0; ci < w.cin; ++ci) {
      const float* wk = w.oihw + (static_cast<std::ptrdiff_t>(co) * w.cin + ci) * k * k;
      for (int ky = 0; ky < k; ++ky) {
        const float* src = row.in_rows[ky] + ci * row.in_cstride;
        for (int kx = 0; kx < k; ++kx) {
          const float wv = wk[ky * k + kx];
          for (int x = 0; x < row.cols; ++x) dst[x] += wv * src[x + kx];
        }
      }
    }
    for (int x = 0; x < row.cols; ++x) dst[x] = activate(dst[x], w.act, slope);
  }
}

}  // namespace fsrcnn::kernels
