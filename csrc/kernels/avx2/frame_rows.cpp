// AVX2 frame kernels, 8 pixels at a time. Compiled with -mavx2 only, deliberately WITHOUT -mfma: the
// compiler then cannot fuse a multiply and an add (no FMA instruction exists for it), so every product
// and sum is rounded as in ref/frame_rows.cpp and the results are the reference's bit for bit
// (tests/test_kernels.py checks it). Layouts other than contiguous uint8 gray / RGB / RGBA pixels go
// through the reference: they are rare, and the network dominates their time anyway.
#include <cstddef>
#include <cstdint>

#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fsrcnn::kernels {
namespace {

// 8 bytes -> 8 floats in [0, 1], as ref's unit().
inline __m256 unit_u8(__m128i bytes) {
  return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)), _mm256_set1_ps(1.0f / 255.0f));
}

// 8 interleaved RGB pixels (24 bytes at p) -> channel c's 8 bytes in the low half of ch[c].
// lo holds bytes 0..15, hi bytes 8..23: every byte is picked from one of them, no read past p + 24.
inline void split_rgb8(const unsigned char* p, __m128i ch[3]) {
  const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 8));
  ch[0] = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_setr_epi8(0, 3, 6, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)),
                       _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, -1, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1)));
  ch[1] = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_setr_epi8(1, 4, 7, 10, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)),
                       _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1)));
  ch[2] = _mm_or_si128(_mm_shuffle_epi8(lo, _mm_setr_epi8(2, 5, 8, 11, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1)),
                       _mm_shuffle_epi8(hi, _mm_setr_epi8(-1, -1, -1, -1, -1, 9, 12, 15, -1, -1, -1, -1, -1, -1, -1, -1)));
}

// 8 RGBA pixels (32 bytes at p) -> channel c's 8 bytes in the low half of ch[c].
inline void split_rgba8(const unsigned char* p, __m128i ch[4]) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  // Within each 128-bit lane gather bytes by channel: c0 x4, c1 x4, c2 x4, c3 x4.
  const __m256i by_channel = _mm256_shuffle_epi8(
      v, _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14,
                          3, 7, 11, 15));
  // dwords (lane0: c0 c1 c2 c3, lane1: c0 c1 c2 c3) -> c0 c0 c1 c1 c2 c2 c3 c3
  const __m256i grouped = _mm256_permutevar8x32_epi32(by_channel, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  ch[0] = _mm256_castsi256_si128(grouped);
  ch[1] = _mm_srli_si128(ch[0], 8);
  ch[2] = _mm256_extracti128_si256(grouped, 1);
  ch[3] = _mm_srli_si128(ch[2], 8);
}

// ((m0 r + m1 g) + m2 b) + k, in ref's order.
inline __m256 dot3(const float* m, float k, __m256 r, __m256 g, __m256 b) {
  const __m256 s = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(m[0]), r), _mm256_mul_ps(_mm256_set1_ps(m[1]), g));
  return _mm256_add_ps(_mm256_add_ps(s, _mm256_mul_ps(_mm256_set1_ps(m[2]), b)), _mm256_set1_ps(k));
}

// (m0 v0 + m1 v1) + m2 v2, in ref's order.
inline __m256 dot3(const float* m, __m256 v0, __m256 v1, __m256 v2) {
  const __m256 s = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(m[0]), v0), _mm256_mul_ps(_mm256_set1_ps(m[1]), v1));
  return _mm256_add_ps(s, _mm256_mul_ps(_mm256_set1_ps(m[2]), v2));
}

// store() of ref for uint8: clip (NaN -> 0: max_ps returns its second operand on NaN), scale, round
// half away from zero, as 8 int32.
inline __m256i to_u8_int(__m256 v) {
  v = _mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
  const __m256 t = _mm256_mul_ps(v, _mm256_set1_ps(255.0f));
  const __m256 f = _mm256_floor_ps(t);
  const __m256 up = _mm256_and_ps(_mm256_cmp_ps(_mm256_sub_ps(t, f), _mm256_set1_ps(0.5f), _CMP_GE_OQ),
                                  _mm256_set1_ps(1.0f));
  return _mm256_cvttps_epi32(_mm256_add_ps(f, up));
}

// 8 int32 in [0, 255] -> 8 bytes in the low half.
inline __m128i narrow(__m256i v) {
  const __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_packus_epi16(w, w);
}

void store_rgb8(unsigned char* out, __m128i c0, __m128i c1, __m128i c2) {
  // 8 pixels = 24 bytes: interleave bytes of c0, c1, c2 (low 8 bytes each).
  const __m128i c01 = _mm_unpacklo_epi8(c0, c1);  // r0 g0 r1 g1 ... r7 g7
  const __m128i m0 = _mm_setr_epi8(0, 1, -1, 2, 3, -1, 4, 5, -1, 6, 7, -1, 8, 9, -1, 10);
  const __m128i m1 = _mm_setr_epi8(-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1);
  const __m128i first = _mm_or_si128(_mm_shuffle_epi8(c01, m0), _mm_shuffle_epi8(c2, m1));
  const __m128i m2 = _mm_setr_epi8(11, -1, 12, 13, -1, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i m3 = _mm_setr_epi8(-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, -1, -1, -1, -1, -1, -1);
  const __m128i second = _mm_or_si128(_mm_shuffle_epi8(c01, m2), _mm_shuffle_epi8(c2, m3));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), first);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out + 16), second);
}

void store_rgba8(unsigned char* out, __m128i c0, __m128i c1, __m128i c2, __m128i c3) {
  const __m128i c01 = _mm_unpacklo_epi8(c0, c1), c23 = _mm_unpacklo_epi8(c2, c3);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi16(c01, c23));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_unpackhi_epi16(c01, c23));
}

}  // namespace

void unpack_ycbcr_row_avx2(const UnpackRow& r) {
  const bool u8 = r.type == Sample::U8 && r.chan_stride == 1;
  const bool gray = r.type == Sample::U8 && r.channels == 1 && r.col_stride == 1;
  const bool rgb = u8 && r.channels == 3 && r.col_stride == 3;
  const bool rgba = u8 && r.channels == 4 && r.col_stride == 4;
  if (!gray && !rgb && !rgba) return unpack_ycbcr_row_ref(r);
  int x = 0;
  const unsigned char* px = r.src;
  float* planes[3] = {r.y, r.cb, r.cr};
  for (; x + 8 <= r.cols; x += 8, px += 8 * r.col_stride) {
    if (gray) {
      _mm256_storeu_ps(r.y + x, unit_u8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(px))));
      continue;
    }
    __m128i ch[4];
    if (rgb) split_rgb8(px, ch);
    else split_rgba8(px, ch);
    const __m256 red = unit_u8(ch[r.rgb[0]]), green = unit_u8(ch[r.rgb[1]]), blue = unit_u8(ch[r.rgb[2]]);
    for (int c = 0; c < 3; ++c)
      if (planes[c]) _mm256_storeu_ps(planes[c] + x, dot3(r.matrix[c], r.offset[c], red, green, blue));
    if (rgba && r.alpha) _mm256_storeu_ps(r.alpha + x, unit_u8(ch[3]));
  }
  if (x < r.cols) {  // the last pixels through the reference
    UnpackRow tail = r;
    tail.src = px;
    tail.cols = r.cols - x;
    tail.y = r.y ? r.y + x : nullptr;
    tail.cb = r.cb ? r.cb + x : nullptr;
    tail.cr = r.cr ? r.cr + x : nullptr;
    tail.alpha = r.alpha ? r.alpha + x : nullptr;
    unpack_ycbcr_row_ref(tail);
  }
}

void bicubic_cols_row_avx2(const BicubicColsRow& r) {
  for (int p = 0; p < r.planes; ++p) {
    const float* src = r.src[p];
    float* dst = r.dst[p];
    int x = 0;
    for (; x + 8 <= r.cols; x += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (int t = 0; t < r.taps; ++t) {
        const std::ptrdiff_t i = t * r.tap_stride + x;
        const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r.index + i));
        acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(r.weight + i), _mm256_i32gather_ps(src, idx, 4)));
      }
      _mm256_storeu_ps(dst + x, acc);
    }
    for (; x < r.cols; ++x) {
      float acc = 0.0f;
      for (int t = 0; t < r.taps; ++t) {
        const std::ptrdiff_t i = t * r.tap_stride + x;
        acc += r.weight[i] * src[r.index[i]];
      }
      dst[x] = acc;
    }
  }
}

void bicubic_rows_row_avx2(const BicubicRowsRow& r) {
  int x = 0;
  for (; x + 8 <= r.cols; x += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int t = 0; t < r.taps; ++t)
      acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_set1_ps(r.weight[t]), _mm256_loadu_ps(r.rows[t] + x)));
    _mm256_storeu_ps(r.dst + x, acc);
  }
  for (; x < r.cols; ++x) {
    float acc = 0.0f;
    for (int t = 0; t < r.taps; ++t) acc += r.weight[t] * r.rows[t][x];
    r.dst[x] = acc;
  }
}

void pack_row_avx2(const PackRow& r) {
  const bool u8 = r.type == Sample::U8 && r.chan_stride == 1;
  const bool gray = r.type == Sample::U8 && r.channels == 1 && r.col_stride == 1;
  const bool rgb = u8 && r.channels == 3 && r.col_stride == 3;
  const bool rgba = u8 && r.channels == 4 && r.col_stride == 4;
  if (!gray && !rgb && !rgba) return pack_row_ref(r);
  int x = 0;
  unsigned char* px = r.dst;
  for (; x + 8 <= r.cols; x += 8, px += 8 * r.col_stride) {
    const __m256 y = _mm256_loadu_ps(r.y + x);
    if (gray) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(px), narrow(to_u8_int(y)));
      continue;
    }
    const __m256 v0 = _mm256_sub_ps(y, _mm256_set1_ps(r.offset[0]));
    const __m256 v1 = _mm256_sub_ps(_mm256_loadu_ps(r.cb + x), _mm256_set1_ps(r.offset[1]));
    const __m256 v2 = _mm256_sub_ps(_mm256_loadu_ps(r.cr + x), _mm256_set1_ps(r.offset[2]));
    __m128i dest[4];  // by destination channel
    for (int c = 0; c < 3; ++c) dest[r.rgb[c]] = narrow(to_u8_int(dot3(r.matrix[c], v0, v1, v2)));
    if (rgba) {
      dest[3] = narrow(to_u8_int(_mm256_loadu_ps(r.alpha + x)));
      store_rgba8(px, dest[0], dest[1], dest[2], dest[3]);
    } else {
      store_rgb8(px, dest[0], dest[1], dest[2]);
    }
  }
  if (x < r.cols) {
    PackRow tail = r;
    tail.y = r.y + x;
    tail.cb = r.cb ? r.cb + x : nullptr;
    tail.cr = r.cr ? r.cr + x : nullptr;
    tail.alpha = r.alpha ? r.alpha + x : nullptr;
    tail.dst = px;
    tail.cols = r.cols - x;
    pack_row_ref(tail);
  }
}

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbols must exist

namespace fsrcnn::kernels {
void unpack_ycbcr_row_avx2(const UnpackRow& r) { unpack_ycbcr_row_ref(r); }
void bicubic_cols_row_avx2(const BicubicColsRow& r) { bicubic_cols_row_ref(r); }
void bicubic_rows_row_avx2(const BicubicRowsRow& r) { bicubic_rows_row_ref(r); }
void pack_row_avx2(const PackRow& r) { pack_row_ref(r); }
}  // namespace fsrcnn::kernels

#endif
