// The SSE2 vector type the SIMD templates are written over (no FMA: multiply, then add). Used by the
// wrappers CMake generates from simd/wrapper.cpp.in.
#pragma once

#include <emmintrin.h>

namespace fsrcnn::kernels::sse2_impl {

struct V {
  using T = __m128;
  static constexpr int N = 4;
  // The register tile: accumulators a conv tile may keep (simd/conv_row.h): 12 of the 16 vector
  // registers, the rest hold inputs and a broadcast weight.
  static constexpr int kTileAccumulators = 12;
  static T loadu(const float* p) { return _mm_loadu_ps(p); }
  static void storeu(float* p, T v) { _mm_storeu_ps(p, v); }
  static T set1(float f) { return _mm_set1_ps(f); }
  static T zero() { return _mm_setzero_ps(); }
  static T add(T a, T b) { return _mm_add_ps(a, b); }
  static T sub(T a, T b) { return _mm_sub_ps(a, b); }
  static T fmadd(T a, T b, T c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
  static T min(T a, T b) { return _mm_min_ps(a, b); }
  static T max(T a, T b) { return _mm_max_ps(a, b); }
  // Even / odd elements of the 8 floats a:b, in order; interleave_lo/hi are their inverse.
  static T even(T a, T b) { return _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); }
  static T odd(T a, T b) { return _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)); }
  static T interleave_lo(T e, T o) { return _mm_unpacklo_ps(e, o); }
  static T interleave_hi(T e, T o) { return _mm_unpackhi_ps(e, o); }
  static void transpose4(T& a, T& b, T& c, T& d) {
    const T t0 = _mm_unpacklo_ps(a, b), t1 = _mm_unpackhi_ps(a, b);
    const T t2 = _mm_unpacklo_ps(c, d), t3 = _mm_unpackhi_ps(c, d);
    a = _mm_movelh_ps(t0, t2);
    b = _mm_movehl_ps(t2, t0);
    c = _mm_movelh_ps(t1, t3);
    d = _mm_movehl_ps(t3, t1);
  }
};

}  // namespace fsrcnn::kernels::sse2_impl
