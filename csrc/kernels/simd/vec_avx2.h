// The AVX2 + FMA vector type the SIMD templates are written over. Used by the wrappers
// CMake generates from simd/wrapper.cpp.in, compiled with -mavx2 -mfma.
#pragma once

#include <immintrin.h>

namespace fsrcnn::kernels::avx2_impl {

struct V {
  using T = __m256;
  static constexpr int N = 8;
  // The register tile: accumulators a conv tile may keep (simd/conv_row.h): 12 of the 16 vector
  // registers, the rest hold inputs and a broadcast weight.
  static constexpr int kTileAccumulators = 12;
  static T loadu(const float* p) { return _mm256_loadu_ps(p); }
  static void storeu(float* p, T v) { _mm256_storeu_ps(p, v); }
  static T set1(float f) { return _mm256_set1_ps(f); }
  static T zero() { return _mm256_setzero_ps(); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
  static T sub(T a, T b) { return _mm256_sub_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static T min(T a, T b) { return _mm256_min_ps(a, b); }
  static T max(T a, T b) { return _mm256_max_ps(a, b); }
  // Even / odd elements of the 16 floats a:b, in the order (0 1 4 5 2 3 6 7) of their pairs: in-lane
  // shuffles only. interleave_lo/hi undo exactly that order, so no lane-crossing permute is needed.
  static T even(T a, T b) { return _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); }
  static T odd(T a, T b) { return _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)); }
  static T interleave_lo(T e, T o) { return _mm256_unpacklo_ps(e, o); }
  static T interleave_hi(T e, T o) { return _mm256_unpackhi_ps(e, o); }
  // 4 x 4 transpose within each 128-bit lane: gathers element c of four 4-float groups (a group per
  // lane of each input) into vector c, and back: F(4x4) blocks in the order (0 2 4 6 1 3 5 7).
  static void transpose4(T& a, T& b, T& c, T& d) {
    const T t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    const T t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    a = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    b = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    c = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    d = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  }
};

}  // namespace fsrcnn::kernels::avx2_impl
