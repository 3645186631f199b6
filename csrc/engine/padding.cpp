#include "padding.h"

#include <algorithm>
#include <cstddef>

namespace fsrcnn {

std::vector<float> pad_planes(const float* in, int channels, int rows, int cols, int top, int bottom,
                              int left, int right, Border border) {
  const int prow = rows + top + bottom, pcol = cols + left + right;
  std::vector<float> out(static_cast<std::size_t>(channels) * prow * pcol, 0.0f);
  for (int c = 0; c < channels; ++c) {
    const float* src = in + static_cast<std::size_t>(c) * rows * cols;
    float* dst = out.data() + static_cast<std::size_t>(c) * prow * pcol;
    for (int y = 0; y < prow; ++y) {
      const int sy = y - top;
      float* drow = dst + static_cast<std::size_t>(y) * pcol;
      if (border == Border::Zero && (sy < 0 || sy >= rows)) continue;
      const float* srow = src + static_cast<std::size_t>(std::clamp(sy, 0, rows - 1)) * cols;
      std::copy(srow, srow + cols, drow + left);
      if (border == Border::Replicate) {
        std::fill(drow, drow + left, srow[0]);
        std::fill(drow + left + cols, drow + pcol, srow[cols - 1]);
      }
    }
  }
  return out;
}

}  // namespace fsrcnn
