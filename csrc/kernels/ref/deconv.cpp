// Portable strided transposed convolution, computed per output pixel straight from its definition.
#include "../kernels.h"

namespace fsrcnn::kernels {

// Smallest LR index p whose tap o + offset - scale*p is still < k.
static inline int first_tap_source(int o, int offset, int k, int scale) {
  const int num = o + offset - (k - 1);
  return num >= 0 ? (num + scale - 1) / scale : -((-num) / scale);
}

static inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

void deconv_ref(const DeconvShape& s, const float* in, const float* weight, float bias, float* out) {
  const int in_rows = s.lr_rows + s.pad_lo + s.pad_hi;
  const int in_cols = s.lr_cols + s.pad_lo + s.pad_hi;
  const int out_cols = s.lr_cols * s.scale;
  const std::size_t plane = static_cast<std::size_t>(in_rows) * in_cols;
  for (int oy = s.row_begin; oy < s.row_end; ++oy) {
    const int py0 = first_tap_source(oy, s.offset, s.k, s.scale);
    const int py1 = floor_div(oy + s.offset, s.scale);
    float* dst = out + static_cast<std::size_t>(oy) * out_cols;
    for (int ox = 0; ox < out_cols; ++ox) {
      const int px0 = first_tap_source(ox, s.offset, s.k, s.scale);
      const int px1 = floor_div(ox + s.offset, s.scale);
      float acc = 0.0f;
      for (int c = 0; c < s.cin; ++c) {
        const float* x = in + c * plane;
        const float* w = weight + static_cast<std::size_t>(c) * s.k * s.k;
        for (int py = py0; py <= py1; ++py) {
          const int ty = oy + s.offset - s.scale * py;
          const float* xrow = x + static_cast<std::size_t>(py + s.pad_lo) * in_cols + s.pad_lo;
          for (int px = px0; px <= px1; ++px) {
            const int tx = ox + s.offset - s.scale * px;
            acc += xrow[px] * w[ty * s.k + tx];
          }
        }
      }
      dst[ox] = acc + bias;
    }
  }
}

}  // namespace fsrcnn::kernels
