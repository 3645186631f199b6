// The SIMD Winograd F(4x4, 3x3) row group, written once over a vector type V and compiled per ISA
// (simd/wrapper.cpp.in). Include it only inside an ISA-specific
// namespace. The algorithm is ref/conv3x3_wino4x4.cpp's, one vector lane per 4 x 4 output block:
//   1. input transform of a chunk of kWinoChunk blocks into vbuf [36][cin][blocks],
//   2. 36 small GEMMs mbuf[xi][co][t] = sum_ci U[xi][co][ci] * vbuf[xi][ci][t] (simd/wino_gemm.h),
//   3. output transform of mbuf, bias and activation, stored as four rows of pixels.
// The blocks of a vector are gathered with in-lane 4 x 4 transposes (V::transpose4), whose block
// order the same transpose undoes on the way out. Per block the arithmetic is the same in every lane
// and chunk, so results do not depend on tiling.
//
// Reads w.packed: src = OIHW / dst = U [36][cout][cin], block slices [cin][CB] (see kernels.h).

#include "unroll.h"
#include "wino_gemm.h"

// v = B^T d (see ref/conv3x3_wino4x4.cpp for B^T).
template <class V>
inline void wino4x4_bt6(const typename V::T d[6], typename V::T v[6]) {
  using T = typename V::T;
  const T four = V::set1(4.0f), minus_four = V::set1(-4.0f), minus_five = V::set1(-5.0f);
  const T two = V::set1(2.0f), minus_two = V::set1(-2.0f);
  v[0] = V::fmadd(four, d[0], V::fmadd(minus_five, d[2], d[4]));
  v[1] = V::fmadd(minus_four, V::add(d[1], d[2]), V::add(d[3], d[4]));
  v[2] = V::fmadd(four, V::sub(d[1], d[2]), V::sub(d[4], d[3]));
  const T d31 = V::sub(d[3], d[1]), d42 = V::sub(d[4], d[2]);
  v[3] = V::fmadd(two, d31, d42);
  v[4] = V::fmadd(minus_two, d31, d42);
  v[5] = V::fmadd(four, d[1], V::fmadd(minus_five, d[3], d[5]));
}

// y = A^T m (see ref/conv3x3_wino4x4.cpp for A^T).
template <class V>
inline void wino4x4_at6(const typename V::T m[6], typename V::T y[4]) {
  using T = typename V::T;
  const T s12 = V::add(m[1], m[2]), d12 = V::sub(m[1], m[2]);
  const T s34 = V::add(m[3], m[4]), d34 = V::sub(m[3], m[4]);
  y[0] = V::add(V::add(m[0], s12), s34);
  y[1] = V::fmadd(V::set1(2.0f), d34, d12);
  y[2] = V::fmadd(V::set1(4.0f), s34, s12);
  y[3] = V::add(V::fmadd(V::set1(8.0f), d34, d12), m[5]);
}

template <class V>
inline void wino4x4_input(const ConvRowGroup& p, int cin, int x0, int nvec, float* vbuf) {
  using T = typename V::T;
  constexpr int kT = kWinoChunk;
  const std::ptrdiff_t xi_stride = static_cast<std::ptrdiff_t>(cin) * kT;
  for (int ci = 0; ci < cin; ++ci) {
    for (int v = 0; v < nvec; ++v) {
      const int x = x0 + 4 * V::N * v;
      T e[6][6];
      FSRCNN_UNROLL
      for (int r = 0; r < 6; ++r) {
        const float* src = p.in_rows[r] + ci * p.in_cstride + x;
        T d[6];
        d[0] = V::loadu(src), d[1] = V::loadu(src + V::N), d[2] = V::loadu(src + 2 * V::N), d[3] = V::loadu(src + 3 * V::N);
        V::transpose4(d[0], d[1], d[2], d[3]);
        T g0 = V::loadu(src + 4), g1 = V::loadu(src + 4 + V::N), g2 = V::loadu(src + 4 + 2 * V::N),
          g3 = V::loadu(src + 4 + 3 * V::N);
        V::transpose4(g0, g1, g2, g3);
        d[4] = g0, d[5] = g1;
        wino4x4_bt6<V>(d, e[r]);
      }
      float* dst = vbuf + static_cast<std::ptrdiff_t>(ci) * kT + v * V::N;
      FSRCNN_UNROLL
      for (int j = 0; j < 6; ++j) {
        const T col[6] = {e[0][j], e[1][j], e[2][j], e[3][j], e[4][j], e[5][j]};
        T t[6];
        wino4x4_bt6<V>(col, t);
        FSRCNN_UNROLL
        for (int i = 0; i < 6; ++i) V::storeu(dst + (6 * i + j) * xi_stride, t[i]);
      }
    }
  }
}

template <class V>
inline void wino4x4_output(const ConvWeights& w, const ConvRowGroup& p, const float* mbuf, int x0, int nvec) {
  using T = typename V::T;
  constexpr int kT = kWinoChunk;
  const T zero = V::zero();
  for (int co = 0; co < w.cout; ++co) {
    const T bias = V::set1(w.bias[co]);
    const T slope = V::set1(w.act == Activation::PReLU ? w.slope[co] : 0.0f);
    for (int v = 0; v < nvec; ++v) {
      T c[4][6];  // A^T M: columns first
      FSRCNN_UNROLL
      for (int j = 0; j < 6; ++j) {
        T col[6];
        FSRCNN_UNROLL
        for (int i = 0; i < 6; ++i)
          col[i] = V::loadu(mbuf + (static_cast<std::ptrdiff_t>(6 * i + j) * w.cout + co) * kT + v * V::N);
        T y[4];
        wino4x4_at6<V>(col, y);
        FSRCNN_UNROLL
        for (int i = 0; i < 4; ++i) c[i][j] = y[i];
      }
      FSRCNN_UNROLL
      for (int i = 0; i < 4; ++i) {
        T y[4];
        wino4x4_at6<V>(c[i], y);
        FSRCNN_UNROLL
        for (int k = 0; k < 4; ++k) {
          y[k] = V::add(bias, y[k]);
          if (w.act != Activation::None) y[k] = V::fmadd(slope, V::min(y[k], zero), V::max(y[k], zero));
        }
        V::transpose4(y[0], y[1], y[2], y[3]);
        float* dst = p.out[i] + co * p.out_cstride + x0 + 4 * V::N * v;
        FSRCNN_UNROLL
        for (int k = 0; k < 4; ++k) V::storeu(dst + k * V::N, y[k]);
      }
    }
  }
}

template <class V>
inline void conv3x3_wino4x4_simd(const ConvWeights& w, const ConvRowGroup& p) {
  wino_rows<V, 4>(w, p, wino4x4_input<V>, wino4x4_output<V>);
}
