// The SIMD Winograd F(2x2, 3x3) row pair, written once over a vector type V and compiled per ISA
// (simd/wrapper.cpp.in). Include it only inside an ISA-specific
// namespace. The algorithm is ref/conv3x3_wino2x2.cpp's, one vector lane per 2 x 2 output block:
//   1. input transform of a chunk of kWinoChunk blocks into vbuf [16][cin][tiles],
//   2. 16 small GEMMs mbuf[xi][co][t] = sum_ci U[xi][co][ci] * vbuf[xi][ci][t] (simd/wino_gemm.h),
//   3. output transform of mbuf, bias and activation, stored as two rows of pixels.
// The blocks of a vector are gathered with in-lane shuffles (V::even/odd) in an order that
// V::interleave_lo/hi undo on the way out. Per block the arithmetic is the same in every lane and
// chunk, and the sum over ci runs in order, so results do not depend on tiling.
//
// Reads w.packed: src = OIHW / dst = U [16][cout][cin], block slices [cin][CB] (see kernels.h).

#include "unroll.h"
#include "wino_gemm.h"

template <class V>
inline void wino2x2_input(const ConvRowGroup& p, int cin, int x0, int nvec, float* vbuf) {
  using T = typename V::T;
  constexpr int kT = kWinoChunk;
  for (int ci = 0; ci < cin; ++ci) {
    for (int v = 0; v < nvec; ++v) {
      const int x = x0 + 2 * V::N * v;
      T e[4][4];
      FSRCNN_UNROLL
      for (int r = 0; r < 4; ++r) {
        const float* src = p.in_rows[r] + ci * p.in_cstride + x;
        const T a = V::loadu(src), b = V::loadu(src + V::N);
        const T c = V::loadu(src + 2), d = V::loadu(src + 2 + V::N);
        const T d0 = V::even(a, b), d1 = V::odd(a, b), d2 = V::even(c, d), d3 = V::odd(c, d);
        e[r][0] = V::sub(d0, d2);
        e[r][1] = V::add(d1, d2);
        e[r][2] = V::sub(d2, d1);
        e[r][3] = V::sub(d1, d3);
      }
      float* dst = vbuf + static_cast<std::ptrdiff_t>(ci) * kT + v * V::N;
      const std::ptrdiff_t xi_stride = static_cast<std::ptrdiff_t>(cin) * kT;
      FSRCNN_UNROLL
      for (int j = 0; j < 4; ++j) {
        V::storeu(dst + (0 * 4 + j) * xi_stride, V::sub(e[0][j], e[2][j]));
        V::storeu(dst + (1 * 4 + j) * xi_stride, V::add(e[1][j], e[2][j]));
        V::storeu(dst + (2 * 4 + j) * xi_stride, V::sub(e[2][j], e[1][j]));
        V::storeu(dst + (3 * 4 + j) * xi_stride, V::sub(e[1][j], e[3][j]));
      }
    }
  }
}

template <class V>
inline void wino2x2_output(const ConvWeights& w, const ConvRowGroup& p, const float* mbuf, int x0, int nvec) {
  using T = typename V::T;
  constexpr int kT = kWinoChunk;
  const T zero = V::zero();
  for (int co = 0; co < w.cout; ++co) {
    const T bias = V::set1(w.bias[co]);
    const T slope = V::set1(w.act == Activation::PReLU ? w.slope[co] : 0.0f);
    float* out0 = p.out[0] + co * p.out_cstride + x0;
    float* out1 = p.out[1] + co * p.out_cstride + x0;
    for (int v = 0; v < nvec; ++v) {
      T m[16];
      FSRCNN_UNROLL
      for (int xi = 0; xi < 16; ++xi)
        m[xi] = V::loadu(mbuf + (static_cast<std::ptrdiff_t>(xi) * w.cout + co) * kT + v * V::N);
      T r0[4], r1[4];
      FSRCNN_UNROLL
      for (int c = 0; c < 4; ++c) {
        r0[c] = V::add(V::add(m[c], m[4 + c]), m[8 + c]);
        r1[c] = V::sub(V::sub(m[4 + c], m[8 + c]), m[12 + c]);
      }
      T y[4] = {V::add(bias, V::add(V::add(r0[0], r0[1]), r0[2])), V::add(bias, V::sub(V::sub(r0[1], r0[2]), r0[3])),
                V::add(bias, V::add(V::add(r1[0], r1[1]), r1[2])), V::add(bias, V::sub(V::sub(r1[1], r1[2]), r1[3]))};
      if (w.act != Activation::None) {
        FSRCNN_UNROLL
        for (int i = 0; i < 4; ++i) y[i] = V::fmadd(slope, V::min(y[i], zero), V::max(y[i], zero));
      }
      V::storeu(out0 + 2 * V::N * v, V::interleave_lo(y[0], y[1]));
      V::storeu(out0 + 2 * V::N * v + V::N, V::interleave_hi(y[0], y[1]));
      V::storeu(out1 + 2 * V::N * v, V::interleave_lo(y[2], y[3]));
      V::storeu(out1 + 2 * V::N * v + V::N, V::interleave_hi(y[2], y[3]));
    }
  }
}

template <class V>
inline void conv3x3_wino2x2_simd(const ConvWeights& w, const ConvRowGroup& p) {
  wino_rows<V, 2>(w, p, wino2x2_input<V>, wino2x2_output<V>);
}
