// What the Winograd kernels (simd/conv3x3_wino2x2.h, simd/conv3x3_wino4x4.h) share: the chunk loop,
// and its GEMM step: for each of the points xi of the transform, mbuf[xi][co][t] = sum_ci U[xi][co][ci] *
// vbuf[xi][ci][t] over a chunk of kWinoChunk blocks, register-tiled like the direct conv (CB channels x
// up to 3 vectors of blocks; the sum over ci runs in order, so every lane computes the same way).
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


// The whole row group for tile size M: per chunk of blocks, input transform into vbuf, one GEMM per
// channel block, output transform from mbuf.
template <class V, int M, class Input, class Output>
inline void wino_rows(const ConvWeights& w, const ConvRowGroup& p, Input input, Output output) {
  static_assert(kWinoChunk % V::N == 0, "a chunk must hold whole vectors of blocks");
  constexpr int kPoints = (M + 2) * (M + 2);
  float* vbuf = p.scratch;
  float* mbuf = p.scratch + static_cast<std::ptrdiff_t>(kPoints) * w.cin * kWinoChunk;
  const int tiles = (p.cols + M - 1) / M;
  for (int t0 = 0; t0 < tiles; t0 += kWinoChunk) {
    const int nvec = (std::min(kWinoChunk, tiles - t0) + V::N - 1) / V::N;
    input(p, w.cin, M * t0, nvec, vbuf);
    for (int i = 0; i < w.nblocks; ++i) {
      const ConvBlock& b = w.blocks[i];
      switch (b.channels) {
        case 1: wino_gemm<V, 1>(w, b, kPoints, vbuf, mbuf, nvec); break;
        case 2: wino_gemm<V, 2>(w, b, kPoints, vbuf, mbuf, nvec); break;
        case 3: wino_gemm<V, 3>(w, b, kPoints, vbuf, mbuf, nvec); break;
        default: wino_gemm<V, 4>(w, b, kPoints, vbuf, mbuf, nvec); break;
      }
    }
    output(w, p, mbuf, M * t0, nvec);
  }
}
