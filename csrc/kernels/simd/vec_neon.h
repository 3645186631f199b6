// The NEON (AArch64 Advanced SIMD) vector type the SIMD templates are written over: 4 floats, a fused
// multiply-add (vfmaq_f32) as AVX2's. Used by the wrappers CMake generates from simd/wrapper.cpp.in.
#pragma once

#include <arm_neon.h>

namespace fsrcnn::kernels::neon_impl {

struct V {
  using T = float32x4_t;
  static constexpr int N = 4;
  // The register tile: AArch64 has 32 vector registers, so a conv tile keeps 24 accumulators (e.g.
  // 4 channels x 6 vectors) and still has room for the inputs and a broadcast weight.
  static constexpr int kTileAccumulators = 24;
  static T loadu(const float* p) { return vld1q_f32(p); }
  static void storeu(float* p, T v) { vst1q_f32(p, v); }
  static T set1(float f) { return vdupq_n_f32(f); }
  static T zero() { return vdupq_n_f32(0.0f); }
  static T add(T a, T b) { return vaddq_f32(a, b); }
  static T sub(T a, T b) { return vsubq_f32(a, b); }
  static T fmadd(T a, T b, T c) { return vfmaq_f32(c, a, b); }
  static T min(T a, T b) { return vminq_f32(a, b); }
  static T max(T a, T b) { return vmaxq_f32(a, b); }
  // Even / odd elements of the 8 floats a:b, in order; interleave_lo/hi are their inverse.
  static T even(T a, T b) { return vuzp1q_f32(a, b); }
  static T odd(T a, T b) { return vuzp2q_f32(a, b); }
  static T interleave_lo(T e, T o) { return vzip1q_f32(e, o); }
  static T interleave_hi(T e, T o) { return vzip2q_f32(e, o); }
  // 4 x 4 transpose: vector c gets element c of a, b, c, d.
  static void transpose4(T& a, T& b, T& c, T& d) {
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(a, b)), t1 = vreinterpretq_f64_f32(vtrn2q_f32(a, b));
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(c, d)), t3 = vreinterpretq_f64_f32(vtrn2q_f32(c, d));
    a = vreinterpretq_f32_f64(vtrn1q_f64(t0, t2));
    b = vreinterpretq_f32_f64(vtrn1q_f64(t1, t3));
    c = vreinterpretq_f32_f64(vtrn2q_f64(t0, t2));
    d = vreinterpretq_f32_f64(vtrn2q_f64(t1, t3));
  }
};

}  // namespace fsrcnn::kernels::neon_impl
