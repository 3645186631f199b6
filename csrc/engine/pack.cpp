#include "pack.h"

#include <algorithm>
#include <cstddef>

#include "executor.h"

namespace fsrcnn {
namespace {

template <class T>
inline T store(float v) {
  v = std::min(std::max(v, -1.0f), 2.0f);  // keeps the integer conversion defined for any finite input
  if constexpr (sizeof(T) <= 2) {
    // Round first, clamp the integer after: the clamp compiles to cmov, where a float clip
    // compiled to branches that mispredict on real images.
    constexpr int kMax = sizeof(T) == 1 ? 255 : 65535;
    const int i = static_cast<int>(v * static_cast<float>(kMax) + 0.5f);  // toward zero: fine for v < 0
    return static_cast<T>(std::min(std::max(i, 0), kMax));
  } else {
    return static_cast<T>(std::min(std::max(v, 0.0f), 1.0f));
  }
}

// Everything the loop reads is copied to locals first: stores through uint8_t* may alias anything,
// which would make the compiler reload the matrix after every store.
template <class T, int C>
void pack_rows(const PackArgs& a, int y0, int y1) {
  const std::size_t plane = static_cast<std::size_t>(a.rows) * a.cols;
  const int cols = a.cols;
  float m[3][3], off[3];
  int order[4];
  for (int c = 0; c < 3; ++c) {
    off[c] = a.offset[c];
    for (int k = 0; k < 3; ++k) m[c][k] = a.matrix[c][k];
  }
  for (int c = 0; c < C; ++c) order[c] = a.order[c];
  const float* p0 = a.planes;
  const float* p1 = p0 + plane;
  const float* p2 = p1 + plane;
  const float* p3 = C == 4 ? p2 + plane : nullptr;
  T* out = static_cast<T*>(a.out);
  for (int y = y0; y < y1; ++y) {
    const std::size_t row = static_cast<std::size_t>(y) * cols;
    T* dst = out + row * C;
    for (int x = 0; x < cols; ++x) {
      const float v0 = p0[row + x] - off[0], v1 = p1[row + x] - off[1], v2 = p2[row + x] - off[2];
      T px[4];
      for (int c = 0; c < 3; ++c) px[order[c]] = store<T>(m[c][0] * v0 + m[c][1] * v1 + m[c][2] * v2);
      if constexpr (C == 4) px[order[3]] = store<T>(p3[row + x]);
      for (int c = 0; c < C; ++c) dst[x * C + c] = px[c];
    }
  }
}

template <class T>
void pack_rows(const PackArgs& a, int y0, int y1) {
  if (a.channels == 4) pack_rows<T, 4>(a, y0, y1);
  else pack_rows<T, 3>(a, y0, y1);
}

void pack_u8_rows(const PackArgs& a, int y0, int y1, const KernelTable& table) {
  const std::size_t plane = static_cast<std::size_t>(a.rows) * a.cols;
  kernels::PackRow r{};
  r.cols = a.cols;
  r.channels = a.channels;
  for (int c = 0; c < 3; ++c) {
    r.offset[c] = a.offset[c];
    for (int k = 0; k < 3; ++k) r.matrix[c][k] = a.matrix[c][k];
  }
  for (int c = 0; c < a.channels; ++c) r.order[c] = a.order[c];
  for (int y = y0; y < y1; ++y) {
    const std::size_t row = static_cast<std::size_t>(y) * a.cols;
    for (int c = 0; c < a.channels; ++c) r.planes[c] = a.planes + c * plane + row;
    r.out = static_cast<std::uint8_t*>(a.out) + row * a.channels;
    table.pack_u8_row(r);
  }
}

}  // namespace

void pack_planes(const PackArgs& a, int threads, const KernelTable& table, const CancelFlag* cancel) {
  constexpr int kBand = 16;
  const int bands = (a.rows + kBand - 1) / kBand;
  Team team(threads);
  team.run(bands, [&](int b, int) {
    const int y0 = b * kBand, y1 = y0 + kBand < a.rows ? y0 + kBand : a.rows;
    switch (a.type) {
      case SampleType::U8: pack_u8_rows(a, y0, y1, table); break;
      case SampleType::U16: pack_rows<std::uint16_t>(a, y0, y1); break;
      case SampleType::F32: pack_rows<float>(a, y0, y1); break;
      case SampleType::F64: pack_rows<double>(a, y0, y1); break;
    }
  }, cancel);
}

}  // namespace fsrcnn
