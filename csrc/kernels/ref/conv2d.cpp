// Portable k x k convolution: the fallback path and the reference every SIMD kernel is tested against.
#include "../kernels.h"

namespace fsrcnn::kernels {

static inline float activate(float v, Activation act, float slope) {
  switch (act) {
    case Activation::ReLU: return v > 0.0f ? v : 0.0f;
    case Activation::PReLU: return v > 0.0f ? v : v * slope;
    default: return v;
  }
}

void conv2d_ref(const ConvShape& s, const float* in, const float* weight, const Epilogue& epi, float* out) {
  const int in_cols = s.cols + s.k - 1;
  const int in_rows = s.rows + s.k - 1;
  const std::size_t in_plane = static_cast<std::size_t>(in_rows) * in_cols;
  for (int co = 0; co < s.cout; ++co) {
    const float* w_co = weight + static_cast<std::size_t>(co) * s.cin * s.k * s.k;
    const float slope = epi.act == Activation::PReLU ? epi.slope[co] : 0.0f;
    for (int y = s.row_begin; y < s.row_end; ++y) {
      float* dst = out + (static_cast<std::size_t>(co) * s.rows + y) * s.cols;
      for (int x = 0; x < s.cols; ++x) dst[x] = epi.bias[co];
      for (int ci = 0; ci < s.cin; ++ci) {
        const float* w = w_co + static_cast<std::size_t>(ci) * s.k * s.k;
        for (int ky = 0; ky < s.k; ++ky) {
          const float* src = in + ci * in_plane + static_cast<std::size_t>(y + ky) * in_cols;
          for (int kx = 0; kx < s.k; ++kx) {
            const float wv = w[ky * s.k + kx];
            const float* row = src + kx;
            for (int x = 0; x < s.cols; ++x) dst[x] += wv * row[x];
          }
        }
      }
      for (int x = 0; x < s.cols; ++x) dst[x] = activate(dst[x], epi.act, slope);
    }
  }
}

}  // namespace fsrcnn::kernels
