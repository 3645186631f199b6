// Portable planes -> interleaved uint8 row (see kernels.h for the exact arithmetic): the fallback
// and the reference the AVX2 version must match byte for byte.
#include <algorithm>

#include "../kernels.h"

namespace fsrcnn::kernels {

static inline std::uint8_t to_u8(float v) {
  v = std::min(std::max(v, -1.0f), 2.0f);  // keeps the conversion defined for any finite input
  const int i = static_cast<int>(v * 255.0f + 0.5f);
  return static_cast<std::uint8_t>(std::min(std::max(i, 0), 255));
}

void pack_u8_row_ref(const PackRow& r) {
  // Locals, not r.*: stores through uint8_t* may alias anything and would force reloads.
  float m[3][3], off[3];
  int order[4];
  for (int c = 0; c < 3; ++c) {
    off[c] = r.offset[c];
    for (int k = 0; k < 3; ++k) m[c][k] = r.matrix[c][k];
  }
  for (int c = 0; c < 4; ++c) order[c] = r.order[c];
  const int channels = r.channels;
  for (int x = 0; x < r.cols; ++x) {
    const float v0 = r.planes[0][x] - off[0], v1 = r.planes[1][x] - off[1], v2 = r.planes[2][x] - off[2];
    std::uint8_t* px = r.out + static_cast<std::ptrdiff_t>(x) * channels;
    for (int c = 0; c < 3; ++c) px[order[c]] = to_u8(m[c][0] * v0 + m[c][1] * v1 + m[c][2] * v2);
    if (channels == 4) px[order[3]] = to_u8(r.planes[3][x]);
  }
}

}  // namespace fsrcnn::kernels
