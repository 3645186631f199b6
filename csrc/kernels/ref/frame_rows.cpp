// Portable frame kernels (see kernels.h for the exact arithmetic): the fallback, and the reference
// every SIMD version must match bit for bit.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "../kernels.h"

namespace fsrcnn::kernels {
namespace {

template <class T>
inline T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // strides may leave samples unaligned
  return v;
}

template <class T>
inline void put(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

inline float unit(const unsigned char* p, Sample type) {
  switch (type) {
    case Sample::U8: return static_cast<float>(*p) * (1.0f / 255.0f);
    case Sample::U16: return static_cast<float>(load<std::uint16_t>(p)) * (1.0f / 65535.0f);
    case Sample::F32: return load<float>(p);
    case Sample::F64: return static_cast<float>(load<double>(p));
  }
  return 0.0f;
}

// Clip to [0, 1] as max_ps(v, 0) then min_ps(., 1) do: NaN -> 0.
inline float clip01(float v) {
  v = v > 0.0f ? v : 0.0f;
  return v < 1.0f ? v : 1.0f;
}

// MATLAB's uint8() / uint16() of t in [0, max]: round half away from zero. t - floor(t) is exact.
inline int round_half_away(float t) {
  const float f = std::floor(t);
  return static_cast<int>(f) + (t - f >= 0.5f ? 1 : 0);
}

inline void store(unsigned char* p, Sample type, float v) {
  v = clip01(v);
  switch (type) {
    case Sample::U8: *p = static_cast<std::uint8_t>(round_half_away(v * 255.0f)); break;
    case Sample::U16: put(p, static_cast<std::uint16_t>(round_half_away(v * 65535.0f))); break;
    case Sample::F32: put(p, v); break;
    case Sample::F64: put(p, static_cast<double>(v)); break;
  }
}

}  // namespace

void unpack_ycbcr_row_ref(const UnpackRow& r) {
  const Sample type = r.type;
  const unsigned char* px = r.src;
  if (r.channels == 1) {
    for (int x = 0; x < r.cols; ++x, px += r.col_stride) r.y[x] = unit(px, type);
    return;
  }
  const std::ptrdiff_t cs = r.chan_stride;
  const std::ptrdiff_t o0 = r.rgb[0] * cs, o1 = r.rgb[1] * cs, o2 = r.rgb[2] * cs;
  float* planes[3] = {r.y, r.cb, r.cr};
  for (int x = 0; x < r.cols; ++x, px += r.col_stride) {
    const float red = unit(px + o0, type), green = unit(px + o1, type), blue = unit(px + o2, type);
    for (int c = 0; c < 3; ++c)
      if (planes[c])
        planes[c][x] = ((r.matrix[c][0] * red + r.matrix[c][1] * green) + r.matrix[c][2] * blue) + r.offset[c];
    if (r.alpha) r.alpha[x] = unit(px + 3 * cs, type);
  }
}

void bicubic_cols_row_ref(const BicubicColsRow& r) {
  for (int p = 0; p < r.planes; ++p) {
    const float* src = r.src[p];
    float* dst = r.dst[p];
    for (int x = 0; x < r.cols; ++x) {
      float acc = 0.0f;
      for (int t = 0; t < r.taps; ++t) {
        const std::ptrdiff_t i = t * r.tap_stride + x;
        acc += r.weight[i] * src[r.index[i]];
      }
      dst[x] = acc;
    }
  }
}

void bicubic_rows_row_ref(const BicubicRowsRow& r) {
  for (int x = 0; x < r.cols; ++x) {
    float acc = 0.0f;
    for (int t = 0; t < r.taps; ++t) acc += r.weight[t] * r.rows[t][x];
    r.dst[x] = acc;
  }
}

void pack_row_ref(const PackRow& r) {
  const Sample type = r.type;
  unsigned char* px = r.dst;
  if (r.channels == 1) {
    for (int x = 0; x < r.cols; ++x, px += r.col_stride) store(px, type, r.y[x]);
    return;
  }
  const std::ptrdiff_t cs = r.chan_stride;
  for (int x = 0; x < r.cols; ++x, px += r.col_stride) {
    const float v0 = r.y[x] - r.offset[0], v1 = r.cb[x] - r.offset[1], v2 = r.cr[x] - r.offset[2];
    for (int c = 0; c < 3; ++c)
      store(px + r.rgb[c] * cs, type, (r.matrix[c][0] * v0 + r.matrix[c][1] * v1) + r.matrix[c][2] * v2);
    if (r.channels == 4) store(px + 3 * cs, type, r.alpha[x]);
  }
}

}  // namespace fsrcnn::kernels
