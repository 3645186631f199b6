#include "pack.h"

#include <cmath>
#include <cstddef>

#include "thread_budget.h"

namespace fsrcnn {
namespace {

template <class T>
inline T store(float v) {
  v = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
  if constexpr (sizeof(T) == 1) return static_cast<T>(std::nearbyint(v * 255.0f));
  else if constexpr (sizeof(T) == 2) return static_cast<T>(std::nearbyint(v * 65535.0f));
  else return static_cast<T>(v);
}

template <class T>
void pack_rows(const PackArgs& a, int y0, int y1) {
  const std::size_t plane = static_cast<std::size_t>(a.rows) * a.cols;
  T* out = static_cast<T*>(a.out);
  for (int y = y0; y < y1; ++y) {
    const std::size_t row = static_cast<std::size_t>(y) * a.cols;
    T* dst = out + row * a.channels;
    for (int x = 0; x < a.cols; ++x) {
      float v[4];
      for (int k = 0; k < 3; ++k) v[k] = a.planes[k * plane + row + x] - a.offset[k];
      for (int c = 0; c < 3; ++c)
        dst[x * a.channels + a.order[c]] = store<T>(a.matrix[c][0] * v[0] + a.matrix[c][1] * v[1] + a.matrix[c][2] * v[2]);
      if (a.channels == 4) dst[x * 4 + a.order[3]] = store<T>(a.planes[3 * plane + row + x]);
    }
  }
}

}  // namespace

void pack_planes(const PackArgs& a, int threads) {
  const ThreadLease lease(threads);
  const int team = lease.threads();
  constexpr int kBand = 16;
  const int bands = (a.rows + kBand - 1) / kBand;
#ifdef _OPENMP
#pragma omp parallel for num_threads(team) schedule(static) if (team > 1)
#endif
  for (int b = 0; b < bands; ++b) {
    const int y0 = b * kBand, y1 = y0 + kBand < a.rows ? y0 + kBand : a.rows;
    switch (a.type) {
      case SampleType::U8: pack_rows<std::uint8_t>(a, y0, y1); break;
      case SampleType::U16: pack_rows<std::uint16_t>(a, y0, y1); break;
      case SampleType::F32: pack_rows<float>(a, y0, y1); break;
      case SampleType::F64: pack_rows<double>(a, y0, y1); break;
    }
  }
}

}  // namespace fsrcnn
