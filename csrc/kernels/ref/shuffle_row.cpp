// Portable depth-to-space of one row: the pixel shuffle that interleaves the s*s phases.
#include "../kernels.h"

namespace fsrcnn::kernels {

void shuffle_row_ref(const ShuffleRow& row) {
  const int s = row.scale;
  for (int a = 0; a < s; ++a) {
    float* dst = row.out_rows[a];
    for (int b = 0; b < s; ++b) {
      const float* src = row.phases[a * s + b];
      for (int j = 0; j < row.cols; ++j) dst[s * j + b] = src[j];
    }
  }
}

}  // namespace fsrcnn::kernels
