// AVX2 planes -> interleaved uint8 row, 16 pixels at a time (compiled with -mavx2 -mfma; called only
// when CPUID says so). Same arithmetic as ref/pack_u8_row.cpp, in the same order and without fused
// multiply-adds, so the bytes are identical; packs saturate where the reference clamps.
#include <cstddef>

#include "../registry.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

namespace fsrcnn::kernels {
namespace {

// Byte shuffles that interleave 16 R, G, B bytes into 48: block k of the output, source channel c.
// kRgbShuffle[k][c][p] = (16k + p) % 3 == c ? (16k + p) / 3 : 0x80 (0x80: pshufb writes zero).
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

// 16 floats (two vectors) -> 16 bytes, as ref's to_u8.
inline __m128i to_u8x16(__m256 a, __m256 b) {
  const __m256 lo = _mm256_set1_ps(-1.0f), hi = _mm256_set1_ps(2.0f);
  const __m256 k255 = _mm256_set1_ps(255.0f), half = _mm256_set1_ps(0.5f);
  a = _mm256_min_ps(_mm256_max_ps(a, lo), hi);
  b = _mm256_min_ps(_mm256_max_ps(b, lo), hi);
  const __m256i ia = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(a, k255), half));
  const __m256i ib = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(b, k255), half));
  const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(ia, ib), 0xD8);  // 16 int16 in pixel order
  const __m256i bytes = _mm256_packus_epi16(w, w);                                   // saturates to [0, 255]
  return _mm_unpacklo_epi64(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
}

// sum_k m[k] * v[k], in ref's order: (m0 v0 + m1 v1) + m2 v2.
inline __m256 dot3(const float* m, __m256 v0, __m256 v1, __m256 v2) {
  const __m256 s = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(m[0]), v0), _mm256_mul_ps(_mm256_set1_ps(m[1]), v1));
  return _mm256_add_ps(s, _mm256_mul_ps(_mm256_set1_ps(m[2]), v2));
}

void store_rgb(std::uint8_t* out, __m128i c0, __m128i c1, __m128i c2) {
  const __m128i ch[3] = {c0, c1, c2};
  for (int k = 0; k < 3; ++k) {
    __m128i block = _mm_setzero_si128();
    for (int c = 0; c < 3; ++c)
      block = _mm_or_si128(block, _mm_shuffle_epi8(ch[c], _mm_loadu_si128(
                                                         reinterpret_cast<const __m128i*>(kRgbShuffle.mask[k][c]))));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * k), block);
  }
}

void store_rgba(std::uint8_t* out, __m128i c0, __m128i c1, __m128i c2, __m128i c3) {
  const __m128i lo01 = _mm_unpacklo_epi8(c0, c1), hi01 = _mm_unpackhi_epi8(c0, c1);
  const __m128i lo23 = _mm_unpacklo_epi8(c2, c3), hi23 = _mm_unpackhi_epi8(c2, c3);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm_unpacklo_epi16(lo01, lo23));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16), _mm_unpackhi_epi16(lo01, lo23));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 32), _mm_unpacklo_epi16(hi01, hi23));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 48), _mm_unpackhi_epi16(hi01, hi23));
}

}  // namespace

void pack_u8_row_avx2(const PackRow& r) {
  const int channels = r.channels;
  int x = 0;
  for (; x + 16 <= r.cols; x += 16) {
    __m128i dest[4];  // by destination channel
    __m256 v[3][2];
    for (int k = 0; k < 3; ++k)
      for (int h = 0; h < 2; ++h)
        v[k][h] = _mm256_sub_ps(_mm256_loadu_ps(r.planes[k] + x + 8 * h), _mm256_set1_ps(r.offset[k]));
    for (int c = 0; c < 3; ++c)
      dest[r.order[c]] = to_u8x16(dot3(r.matrix[c], v[0][0], v[1][0], v[2][0]),
                                  dot3(r.matrix[c], v[0][1], v[1][1], v[2][1]));
    std::uint8_t* out = r.out + static_cast<std::ptrdiff_t>(x) * channels;
    if (channels == 4) {
      dest[r.order[3]] = to_u8x16(_mm256_loadu_ps(r.planes[3] + x), _mm256_loadu_ps(r.planes[3] + x + 8));
      store_rgba(out, dest[0], dest[1], dest[2], dest[3]);
    } else {
      store_rgb(out, dest[0], dest[1], dest[2]);
    }
  }
  if (x < r.cols) {  // the last pixels through the reference
    PackRow tail = r;
    for (int k = 0; k < channels; ++k) tail.planes[k] = r.planes[k] + x;
    tail.out = r.out + static_cast<std::ptrdiff_t>(x) * channels;
    tail.cols = r.cols - x;
    pack_u8_row_ref(tail);
  }
}

}  // namespace fsrcnn::kernels

#else  // not x86-64: never selected (dispatch checks CPUID), but the symbol must exist

namespace fsrcnn::kernels {
void pack_u8_row_avx2(const PackRow& r) { pack_u8_row_ref(r); }
}  // namespace fsrcnn::kernels

#endif
