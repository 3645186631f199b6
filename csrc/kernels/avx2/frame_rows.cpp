// AVX2 frame kernels, 8 pixels at a time. Compiled with the avx2 flags (-mavx2 -mfma) and, as the whole
// build, -ffp-contract=off: the compiler never fuses a multiply and an add (and no FMA intrinsic is used
// here), so every product and sum is rounded as in ref/frame_rows.cpp and the results are the reference's
// bit for bit
// (tests/test_kernels.py checks it). Layouts other than contiguous uint8 gray / RGB / RGBA pixels go
// through the reference: they are rare, and the network dominates their time anyway.
#include <cstddef>
#include <cstdint>
#include <utility>

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

// store() of ref for uint8, as 8 int32 to be narrowed with unsigned saturation: t = min(2, v) * 255
// (min_ps returns its second operand, v, when v is NaN), then truncate(t + h) with h = 0.5 - 2^-25,
// the float just below 0.5. For every float t in [0, 510] that is floor(t) + (t - floor(t) >= 0.5),
// ref's rounding (checked for all 1.14e9 such floats: tools/check_u8_rounding.py): an exact tie
// k + 0.5 gives k + 1 - 2^-25, which rounds up to k + 1 (or, for k = 0, to 1 as the even neighbour),
// and no t below a tie reaches the next integer (plain t + 0.5 would, for t = 0.5 - 2^-25). NaN and
// -inf convert to INT_MIN and negatives saturate to 0, values above 1 to 255: ref's clip01.
inline __m256i to_u8_int(__m256 v) {
  const __m256 t = _mm256_mul_ps(_mm256_min_ps(_mm256_set1_ps(2.0f), v), _mm256_set1_ps(255.0f));
  return _mm256_cvttps_epi32(_mm256_add_ps(t, _mm256_set1_ps(0.49999997f)));
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

// Byte shuffles that interleave 16 R, G, B bytes into 48: block k of the output, source channel c.
// kRgbShuffle.mask[k][c][p] = (16k + p) % 3 == c ? (16k + p) / 3 : 0x80 (0x80: pshufb writes zero).
struct RgbShuffle {
  std::uint8_t mask[3][3][16];
  constexpr RgbShuffle() : mask() {
    for (int k = 0; k < 3; ++k)
      for (int c = 0; c < 3; ++c)
        for (int p = 0; p < 16; ++p)
          mask[k][c][p] = static_cast<std::uint8_t>((16 * k + p) % 3 == c ? (16 * k + p) / 3 : 0x80);
  }
};
constexpr RgbShuffle kRgbShuffle;

// 16 pixels: three 16-byte channel vectors -> 48 interleaved bytes, three full stores.
void store_rgb16(unsigned char* out, const __m128i ch[3]) {
  for (int k = 0; k < 3; ++k) {
    __m128i block = _mm_setzero_si128();
    for (int c = 0; c < 3; ++c)
      block = _mm_or_si128(block, _mm_shuffle_epi8(ch[c], _mm_loadu_si128(
                                                         reinterpret_cast<const __m128i*>(kRgbShuffle.mask[k][c]))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * k), block);
  }
}

// 16 int32 (two vectors, from to_u8_int) -> 16 bytes in pixel order, saturated to [0, 255].
inline __m128i narrow16(__m256i a, __m256i b) {
  const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);  // 16 uint16 in pixel order
  const __m256i bytes = _mm256_packus_epi16(w, w);
  return _mm_unpacklo_epi64(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
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
  // Locals: stores through float* may alias r's matrix and offset, which would force reloads.
  float* const planes[3] = {r.y, r.cb, r.cr};
  float* const alpha = rgba ? r.alpha : nullptr;
  __m256 m[3][3], off[3];
  for (int c = 0; c < 3; ++c) {
    off[c] = _mm256_set1_ps(r.offset[c]);
    for (int k = 0; k < 3; ++k) m[c][k] = _mm256_set1_ps(r.matrix[c][k]);
  }
  const int src_of[3] = {r.rgb[0], r.rgb[1], r.rgb[2]};
  const int cols = r.cols, step = 8 * static_cast<int>(r.col_stride);
  for (; x + 8 <= cols; x += 8, px += step) {
    if (gray) {
      _mm256_storeu_ps(planes[0] + x, unit_u8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(px))));
      continue;
    }
    __m128i ch[4];
    if (rgb) split_rgb8(px, ch);
    else split_rgba8(px, ch);
    const __m256 red = unit_u8(ch[src_of[0]]), green = unit_u8(ch[src_of[1]]), blue = unit_u8(ch[src_of[2]]);
    for (int c = 0; c < 3; ++c)
      if (planes[c]) {  // ((m0 r + m1 g) + m2 b) + offset, as ref
        const __m256 sum = _mm256_add_ps(_mm256_mul_ps(m[c][0], red), _mm256_mul_ps(m[c][1], green));
        _mm256_storeu_ps(planes[c] + x, _mm256_add_ps(_mm256_add_ps(sum, _mm256_mul_ps(m[c][2], blue)), off[c]));
      }
    if (alpha) _mm256_storeu_ps(alpha + x, unit_u8(ch[3]));
  }
  if (x < r.cols && r.cols >= 8) {  // the last 8 pixels again, overlapping: same values rewritten
    UnpackRow last = r;
    const int back = r.cols - 8;
    last.src = r.src + back * r.col_stride;
    last.cols = 8;
    last.y = r.y ? r.y + back : nullptr;
    last.cb = r.cb ? r.cb + back : nullptr;
    last.cr = r.cr ? r.cr + back : nullptr;
    last.alpha = r.alpha ? r.alpha + back : nullptr;
    unpack_ycbcr_row_avx2(last);
  } else if (x < r.cols) {  // a row under 8 pixels: the reference
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

namespace {

// bicubic_cols_row for a fixed tap count (kTaps > 0) or any (kTaps == 0: r.taps). Upscaling, 8
// neighbouring outputs read at most 8 / scale + 1 neighbouring sources per tap, so usually all taps
// of a block of 8 read within 8 floats of the block's first index: then one load per plane and a lane
// permute per tap replace the gathers, and the indices are checked once for all taps and planes.
// Blocks whose sources spread wider (mirrored edges, tiny images) gather.
template <int kTaps>
void bicubic_cols_block8(const BicubicColsRow& r) {
  const int planes = r.planes, cols = r.cols, taps = kTaps ? kTaps : r.taps;
  const std::ptrdiff_t tap_stride = r.tap_stride;
  const std::int32_t* const index = r.index;
  const float* const weight = r.weight;
  const float* src[3] = {r.src[0], r.src[1], r.src[2]};
  float* dst[3] = {r.dst[0], r.dst[1], r.dst[2]};
  const __m256i beyond = _mm256_set1_epi32(~7);
  int x = 0;
  for (; x + 8 <= cols; x += 8) {
    const std::int32_t base = index[x];
    const __m256i vbase = _mm256_set1_epi32(base);
    __m256i rel[kTaps ? kTaps : kMaxTaps];
    __m256i spread = _mm256_setzero_si256();
    for (int t = 0; t < taps; ++t) {
      rel[t] = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(index + t * tap_stride + x)), vbase);
      spread = _mm256_or_si256(spread, rel[t]);  // a bit above 7 (or a sign bit) set: outside [0, 7]
    }
    if (_mm256_testz_si256(spread, beyond)) {
      for (int p = 0; p < planes; ++p) {
        const __m256 v = _mm256_loadu_ps(src[p] + base);
        __m256 acc = _mm256_setzero_ps();
        for (int t = 0; t < taps; ++t)  // 0 + w0 s0 + w1 s1 + ..., as ref
          acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(weight + t * tap_stride + x),
                                                 _mm256_permutevar8x32_ps(v, rel[t])));
        _mm256_storeu_ps(dst[p] + x, acc);
      }
    } else {
      for (int p = 0; p < planes; ++p) {
        __m256 acc = _mm256_setzero_ps();
        for (int t = 0; t < taps; ++t) {
          const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(index + t * tap_stride + x));
          acc = _mm256_add_ps(acc, _mm256_mul_ps(_mm256_loadu_ps(weight + t * tap_stride + x),
                                                 _mm256_i32gather_ps(src[p], idx, 4)));
        }
        _mm256_storeu_ps(dst[p] + x, acc);
      }
    }
  }
  for (; x < cols; ++x)
    for (int p = 0; p < planes; ++p) {
      float acc = 0.0f;
      for (int t = 0; t < taps; ++t) {
        const std::ptrdiff_t i = t * tap_stride + x;
        acc += weight[i] * src[p][index[i]];
      }
      dst[p][x] = acc;
    }
}

}  // namespace

void bicubic_cols_row_avx2(const BicubicColsRow& r) {
  if (r.taps == 4) return bicubic_cols_block8<4>(r);  // MATLAB's bicubic, any integer upscale
  bicubic_cols_block8<0>(r);
}

void bicubic_rows_row_avx2(const BicubicRowsRow& r) {
  // Locals: stores through r.dst may alias r's rows and weights, which would force reloads of both
  // for every vector. Four taps (MATLAB's bicubic for any integer upscale) get their own loop.
  const int taps = r.taps, cols = r.cols;
  float* const dst = r.dst;
  const float* rows[kMaxTaps];
  __m256 w[kMaxTaps];
  for (int t = 0; t < taps; ++t) {
    rows[t] = r.rows[t];
    w[t] = _mm256_set1_ps(r.weight[t]);
  }
  int x = 0;
  if (taps == 4) {
    const float *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
    const __m256 w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    for (; x + 8 <= cols; x += 8) {  // (((0 + w0 r0) + w1 r1) + w2 r2) + w3 r3, as ref
      __m256 acc = _mm256_add_ps(_mm256_setzero_ps(), _mm256_mul_ps(w0, _mm256_loadu_ps(r0 + x)));
      acc = _mm256_add_ps(acc, _mm256_mul_ps(w1, _mm256_loadu_ps(r1 + x)));
      acc = _mm256_add_ps(acc, _mm256_mul_ps(w2, _mm256_loadu_ps(r2 + x)));
      _mm256_storeu_ps(dst + x, _mm256_add_ps(acc, _mm256_mul_ps(w3, _mm256_loadu_ps(r3 + x))));
    }
  } else {
    for (; x + 8 <= cols; x += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (int t = 0; t < taps; ++t) acc = _mm256_add_ps(acc, _mm256_mul_ps(w[t], _mm256_loadu_ps(rows[t] + x)));
      _mm256_storeu_ps(dst + x, acc);
    }
  }
  for (; x < cols; ++x) {
    float acc = 0.0f;
    for (int t = 0; t < taps; ++t) acc += r.weight[t] * rows[t][x];
    dst[x] = acc;
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
  if (rgb) {  // 16 pixels at a time: 48 bytes in three full stores
    // Everything the loop reads in locals: stores through unsigned char* may alias r's fields, which
    // would make the compiler reload them after every store.
    __m256 m[3][3], off[3];
    for (int c = 0; c < 3; ++c) {
      off[c] = _mm256_set1_ps(r.offset[c]);
      for (int k = 0; k < 3; ++k) m[c][k] = _mm256_set1_ps(r.matrix[c][k]);
    }
    const float *yp = r.y, *cbp = r.cb, *crp = r.cr;
    const bool swap = r.rgb[0] == 2;  // BGR
    const int cols = r.cols;
    unsigned char* const out = r.dst;
    for (; x + 16 <= cols; x += 16) {
      __m256i c[3][2];
      for (int h = 0; h < 2; ++h) {
        const int xh = x + 8 * h;
        const __m256 v0 = _mm256_sub_ps(_mm256_loadu_ps(yp + xh), off[0]);
        const __m256 v1 = _mm256_sub_ps(_mm256_loadu_ps(cbp + xh), off[1]);
        const __m256 v2 = _mm256_sub_ps(_mm256_loadu_ps(crp + xh), off[2]);
        for (int k = 0; k < 3; ++k) {  // (m0 v0 + m1 v1) + m2 v2, as ref
          const __m256 sum = _mm256_add_ps(_mm256_mul_ps(m[k][0], v0), _mm256_mul_ps(m[k][1], v1));
          c[k][h] = to_u8_int(_mm256_add_ps(sum, _mm256_mul_ps(m[k][2], v2)));
        }
      }
      __m128i ch[3] = {narrow16(c[0][0], c[0][1]), narrow16(c[1][0], c[1][1]), narrow16(c[2][0], c[2][1])};
      if (swap) std::swap(ch[0], ch[2]);
      store_rgb16(out + 3 * x, ch);
    }
    px = out + 3 * x;
  }
  {  // 8 pixels at a time; locals for the reason given above
    __m256 m[3][3], off[3];
    for (int c = 0; c < 3; ++c) {
      off[c] = _mm256_set1_ps(r.offset[c]);
      for (int k = 0; k < 3; ++k) m[c][k] = _mm256_set1_ps(r.matrix[c][k]);
    }
    const float *yp = r.y, *cbp = r.cb, *crp = r.cr, *ap = r.alpha;
    int dst_of[3] = {r.rgb[0], r.rgb[1], r.rgb[2]};
    const int cols = r.cols, step = 8 * static_cast<int>(r.col_stride);
    for (; x + 8 <= cols; x += 8, px += step) {
      const __m256 y = _mm256_loadu_ps(yp + x);
      if (gray) {
        _mm_storel_epi64(reinterpret_cast<__m128i*>(px), narrow(to_u8_int(y)));
        continue;
      }
      const __m256 v0 = _mm256_sub_ps(y, off[0]);
      const __m256 v1 = _mm256_sub_ps(_mm256_loadu_ps(cbp + x), off[1]);
      const __m256 v2 = _mm256_sub_ps(_mm256_loadu_ps(crp + x), off[2]);
      __m128i dest[4];  // by destination channel
      for (int c = 0; c < 3; ++c) {
        const __m256 sum = _mm256_add_ps(_mm256_mul_ps(m[c][0], v0), _mm256_mul_ps(m[c][1], v1));
        dest[dst_of[c]] = narrow(to_u8_int(_mm256_add_ps(sum, _mm256_mul_ps(m[c][2], v2))));
      }
      if (rgba) {
        dest[3] = narrow(to_u8_int(_mm256_loadu_ps(ap + x)));
        store_rgba8(px, dest[0], dest[1], dest[2], dest[3]);
      } else {
        store_rgb8(px, dest[0], dest[1], dest[2]);
      }
    }
  }
  if (x < r.cols && r.cols >= 8) {  // the last 8 pixels again, overlapping: same bytes rewritten
    PackRow last = r;
    const int back = r.cols - 8;
    last.y = r.y + back;
    last.cb = r.cb ? r.cb + back : nullptr;
    last.cr = r.cr ? r.cr + back : nullptr;
    last.alpha = r.alpha ? r.alpha + back : nullptr;
    last.dst = r.dst + back * r.col_stride;
    last.cols = 8;
    pack_row_avx2(last);
  } else if (x < r.cols) {
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
