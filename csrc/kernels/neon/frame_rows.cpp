// NEON frame kernels, 8 pixels at a time (built for aarch64 only; see kernels/isas.inc). Every product
// and sum is a separate vmulq / vaddq, rounded as in ref/frame_rows.cpp, and the build passes
// -ffp-contract=off so the compiler fuses none of them: the results are the reference's bit for bit
// (tests/test_kernels.py checks it). As on AVX2, layouts other than contiguous uint8 gray / RGB / RGBA
// pixels, and the last cols % 8 pixels, go through the reference.
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "../registry.h"

namespace fsrcnn::kernels {
namespace {

struct F8 {  // 8 floats
  float32x4_t lo, hi;
};

// 8 bytes -> 8 floats in [0, 1], as ref's unit(): float(v) * (1 / 255.f).
inline F8 unit_u8(uint8x8_t bytes) {
  const uint16x8_t w = vmovl_u8(bytes);
  const float32x4_t scale = vdupq_n_f32(1.0f / 255.0f);
  return {vmulq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), scale),
          vmulq_f32(vcvtq_f32_u32(vmovl_u16(vget_high_u16(w))), scale)};
}

// ((m0 a + m1 b) + m2 c) + off, as ref (off = 0 for pack_row's form).
inline float32x4_t mix(const float m[3], float32x4_t a, float32x4_t b, float32x4_t c) {
  const float32x4_t sum = vaddq_f32(vmulq_n_f32(a, m[0]), vmulq_n_f32(b, m[1]));
  return vaddq_f32(sum, vmulq_n_f32(c, m[2]));
}

// ref's store() for uint8: clip to [0, 1] with NaN -> 0 (compare and select, as ref's ternaries:
// vmaxq would keep a NaN), t = v * 255, rounded half away from zero (vcvtaq; t >= 0, so this is ref's
// floor(t) + (t - floor(t) >= 0.5)).
inline uint32x4_t to_u8_int(float32x4_t v) {
  const float32x4_t zero = vdupq_n_f32(0.0f), one = vdupq_n_f32(1.0f);
  v = vbslq_f32(vcgtq_f32(v, zero), v, zero);
  v = vbslq_f32(vcltq_f32(v, one), v, one);
  return vcvtaq_u32_f32(vmulq_f32(v, vdupq_n_f32(255.0f)));
}

inline uint8x8_t narrow(uint32x4_t lo, uint32x4_t hi) { return vmovn_u16(vcombine_u16(vmovn_u32(lo), vmovn_u32(hi))); }

}  // namespace

void unpack_ycbcr_row_neon(const UnpackRow& r) {
  const bool u8 = r.type == Sample::U8 && r.chan_stride == 1;
  const bool gray = r.type == Sample::U8 && r.channels == 1 && r.col_stride == 1;
  const bool rgb = u8 && r.channels == 3 && r.col_stride == 3;
  const bool rgba = u8 && r.channels == 4 && r.col_stride == 4;
  if (!gray && !rgb && !rgba) return unpack_ycbcr_row_ref(r);
  // Locals: stores through float* may alias r's matrix and offset, which would force reloads.
  float* const planes[3] = {r.y, r.cb, r.cr};
  float* const alpha = rgba ? r.alpha : nullptr;
  float m[3][3], off[3];
  for (int c = 0; c < 3; ++c) {
    off[c] = r.offset[c];
    for (int k = 0; k < 3; ++k) m[c][k] = r.matrix[c][k];
  }
  const int src_of[3] = {r.rgb[0], r.rgb[1], r.rgb[2]};
  const int cols = r.cols;
  const unsigned char* px = r.src;
  int x = 0;
  for (; x + 8 <= cols; x += 8) {
    if (gray) {
      const F8 v = unit_u8(vld1_u8(px + x));
      vst1q_f32(planes[0] + x, v.lo);
      vst1q_f32(planes[0] + x + 4, v.hi);
      continue;
    }
    F8 ch[4];
    if (rgb) {
      const uint8x8x3_t p = vld3_u8(px + 3 * x);
      for (int c = 0; c < 3; ++c) ch[c] = unit_u8(p.val[c]);
    } else {
      const uint8x8x4_t p = vld4_u8(px + 4 * x);
      for (int c = 0; c < 4; ++c) ch[c] = unit_u8(p.val[c]);
    }
    const F8 &red = ch[src_of[0]], &green = ch[src_of[1]], &blue = ch[src_of[2]];
    for (int c = 0; c < 3; ++c)
      if (planes[c]) {
        const float32x4_t o = vdupq_n_f32(off[c]);
        vst1q_f32(planes[c] + x, vaddq_f32(mix(m[c], red.lo, green.lo, blue.lo), o));
        vst1q_f32(planes[c] + x + 4, vaddq_f32(mix(m[c], red.hi, green.hi, blue.hi), o));
      }
    if (alpha) {
      vst1q_f32(alpha + x, ch[3].lo);
      vst1q_f32(alpha + x + 4, ch[3].hi);
    }
  }
  if (x < cols) {
    UnpackRow tail = r;
    tail.src = r.src + x * r.col_stride;
    tail.cols = cols - x;
    tail.y = r.y ? r.y + x : nullptr;
    tail.cb = r.cb ? r.cb + x : nullptr;
    tail.cr = r.cr ? r.cr + x : nullptr;
    tail.alpha = r.alpha ? r.alpha + x : nullptr;
    unpack_ycbcr_row_ref(tail);
  }
}

void bicubic_cols_row_neon(const BicubicColsRow& r) {
  // No gather on NEON: each tap's 4 sources are loaded lane by lane; the sums are vector ones, in tap
  // order from 0 as ref.
  const int planes = r.planes, cols = r.cols, taps = r.taps;
  const float* src[3] = {r.src[0], r.src[1], r.src[2]};
  float* dst[3] = {r.dst[0], r.dst[1], r.dst[2]};
  int x = 0;
  for (; x + 4 <= cols; x += 4) {
    float32x4_t acc[3] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    for (int t = 0; t < taps; ++t) {
      const std::ptrdiff_t i = t * r.tap_stride + x;
      const std::int32_t* idx = r.index + i;
      const float32x4_t w = vld1q_f32(r.weight + i);
      for (int p = 0; p < planes; ++p) {
        const float* s = src[p];
        const float lanes[4] = {s[idx[0]], s[idx[1]], s[idx[2]], s[idx[3]]};
        acc[p] = vaddq_f32(acc[p], vmulq_f32(w, vld1q_f32(lanes)));
      }
    }
    for (int p = 0; p < planes; ++p) vst1q_f32(dst[p] + x, acc[p]);
  }
  for (; x < cols; ++x)
    for (int p = 0; p < planes; ++p) {
      float acc = 0.0f;
      for (int t = 0; t < taps; ++t) {
        const std::ptrdiff_t i = t * r.tap_stride + x;
        acc += r.weight[i] * src[p][r.index[i]];
      }
      dst[p][x] = acc;
    }
}

void bicubic_rows_row_neon(const BicubicRowsRow& r) {
  int x = 0;
  for (; x + 8 <= r.cols; x += 8) {
    float32x4_t lo = vdupq_n_f32(0.0f), hi = vdupq_n_f32(0.0f);
    for (int t = 0; t < r.taps; ++t) {
      lo = vaddq_f32(lo, vmulq_n_f32(vld1q_f32(r.rows[t] + x), r.weight[t]));
      hi = vaddq_f32(hi, vmulq_n_f32(vld1q_f32(r.rows[t] + x + 4), r.weight[t]));
    }
    vst1q_f32(r.dst + x, lo);
    vst1q_f32(r.dst + x + 4, hi);
  }
  for (; x < r.cols; ++x) {
    float acc = 0.0f;
    for (int t = 0; t < r.taps; ++t) acc += r.weight[t] * r.rows[t][x];
    r.dst[x] = acc;
  }
}

void pack_row_neon(const PackRow& r) {
  const bool u8 = r.type == Sample::U8 && r.chan_stride == 1;
  const bool gray = r.type == Sample::U8 && r.channels == 1 && r.col_stride == 1;
  const bool rgb = u8 && r.channels == 3 && r.col_stride == 3;
  const bool rgba = u8 && r.channels == 4 && r.col_stride == 4;
  if (!gray && !rgb && !rgba) return pack_row_ref(r);
  // Everything the loop reads in locals: stores through unsigned char* may alias r's fields.
  float m[3][3], off[3];
  for (int c = 0; c < 3; ++c) {
    off[c] = r.offset[c];
    for (int k = 0; k < 3; ++k) m[c][k] = r.matrix[c][k];
  }
  const float *yp = r.y, *cbp = r.cb, *crp = r.cr, *ap = r.alpha;
  const int dst_of[3] = {r.rgb[0], r.rgb[1], r.rgb[2]};
  const int cols = r.cols;
  unsigned char* const out = r.dst;
  int x = 0;
  for (; x + 8 <= cols; x += 8) {
    if (gray) {
      vst1_u8(out + x, narrow(to_u8_int(vld1q_f32(yp + x)), to_u8_int(vld1q_f32(yp + x + 4))));
      continue;
    }
    uint8x8_t dest[4];  // by destination channel
    float32x4_t v[2][3];
    for (int h = 0; h < 2; ++h) {
      v[h][0] = vsubq_f32(vld1q_f32(yp + x + 4 * h), vdupq_n_f32(off[0]));
      v[h][1] = vsubq_f32(vld1q_f32(cbp + x + 4 * h), vdupq_n_f32(off[1]));
      v[h][2] = vsubq_f32(vld1q_f32(crp + x + 4 * h), vdupq_n_f32(off[2]));
    }
    for (int c = 0; c < 3; ++c)
      dest[dst_of[c]] = narrow(to_u8_int(mix(m[c], v[0][0], v[0][1], v[0][2])),
                               to_u8_int(mix(m[c], v[1][0], v[1][1], v[1][2])));
    if (rgba) {
      dest[3] = narrow(to_u8_int(vld1q_f32(ap + x)), to_u8_int(vld1q_f32(ap + x + 4)));
      vst4_u8(out + 4 * x, (uint8x8x4_t{{dest[0], dest[1], dest[2], dest[3]}}));
    } else {
      vst3_u8(out + 3 * x, (uint8x8x3_t{{dest[0], dest[1], dest[2]}}));
    }
  }
  if (x < cols) {
    PackRow tail = r;
    tail.y = r.y + x;
    tail.cb = r.cb ? r.cb + x : nullptr;
    tail.cr = r.cr ? r.cr + x : nullptr;
    tail.alpha = r.alpha ? r.alpha + x : nullptr;
    tail.dst = r.dst + x * r.col_stride;
    tail.cols = cols - x;
    pack_row_ref(tail);
  }
}

}  // namespace fsrcnn::kernels
