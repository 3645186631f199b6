// The GEMM step of the Winograd kernels (simd/conv3x3_wino2x2.h, simd/conv3x3_wino4x4.h): for each
// of the points xi of the transform, mbuf[xi][co][t] = sum_ci U[xi][co][ci] * vbuf[xi][ci][t] over a
// chunk of kWinoChunk blocks, register-tiled like the direct conv (CB channels x up to 3 vectors of
// blocks; the sum over ci runs in order, so every lane computes the same way).
#pragma once
#include "unroll.h"

template <class V, int CB, int XV>
inline void wino_gemm_tile(const float* u, const float* vx, float* mx, int cin, int v0) {
  using T = typename V::T;
  constexpr int kT = kWinoChunk;
  T acc[CB][XV];
  FSRCNN_UNROLL
  for (int j = 0; j < CB; ++j) {
    FSRCNN_UNROLL
    for (int v = 0; v < XV; ++v) acc[j][v] = V::zero();
  }
  const float* src = vx + v0 * V::N;
  for (int ci = 0; ci < cin; ++ci, src += kT, u += CB) {
    T in[XV];
    FSRCNN_UNROLL
    for (int v = 0; v < XV; ++v) in[v] = V::loadu(src + v * V::N);
    FSRCNN_UNROLL
    for (int j = 0; j < CB; ++j) {
      const T wv = V::set1(u[j]);
      FSRCNN_UNROLL
      for (int v = 0; v < XV; ++v) acc[j][v] = V::fmadd(wv, in[v], acc[j][v]);
    }
  }
  FSRCNN_UNROLL
  for (int j = 0; j < CB; ++j) {
    FSRCNN_UNROLL
    for (int v = 0; v < XV; ++v) V::storeu(mx + j * kT + (v0 + v) * V::N, acc[j][v]);
  }
}

template <class V, int CB>
inline void wino_gemm(const ConvWeights& w, const ConvBlock& b, int points, const float* vbuf, float* mbuf, int nvec) {
  constexpr int kT = kWinoChunk;
  for (int xi = 0; xi < points; ++xi) {
    const float* u = w.packed + (static_cast<std::ptrdiff_t>(xi) * w.cout + b.co_first) * w.cin;
    const float* vx = vbuf + static_cast<std::ptrdiff_t>(xi) * w.cin * kT;
    float* mx = mbuf + (static_cast<std::ptrdiff_t>(xi) * w.cout + b.co_first) * kT;
    int v0 = 0;
    for (; v0 + 3 <= nvec; v0 += 3) wino_gemm_tile<V, CB, 3>(u, vx, mx, w.cin, v0);
    if (nvec - v0 == 2) wino_gemm_tile<V, CB, 2>(u, vx, mx, w.cin, v0);
    if (nvec - v0 == 1) wino_gemm_tile<V, CB, 1>(u, vx, mx, w.cin, v0);
  }
}

