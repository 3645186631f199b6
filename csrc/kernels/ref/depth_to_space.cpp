// Portable depth-to-space: the pixel shuffle of the sub-pixel tail.
#include "../kernels.h"

namespace fsrcnn::kernels {

void depth_to_space_ref(const float* in, int scale, int rows, int cols, int row_begin, int row_end, float* out) {
  const int out_cols = cols * scale;
  const std::size_t plane = static_cast<std::size_t>(rows) * cols;
  for (int oy = row_begin; oy < row_end; ++oy) {
    const int i = oy / scale, a = oy % scale;
    float* dst = out + static_cast<std::size_t>(oy) * out_cols;
    for (int ox = 0; ox < out_cols; ++ox) {
      const int j = ox / scale, b = ox % scale;
      dst[ox] = in[(a * scale + b) * plane + static_cast<std::size_t>(i) * cols + j];
    }
  }
}

}  // namespace fsrcnn::kernels
