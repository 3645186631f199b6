// The SIMD convolution row, written once over a vector type V and compiled per ISA (the wrappers
// CMake generates from simd/wrapper.cpp.in, one per ISA of kernels/isas.inc). Include it only
// inside an ISA-specific namespace: the same inline code compiled with different -m flags must never be merged by the linker.
//
// Register tile: CB output channels (one ConvBlock) x XV vectors of V::N pixels. Per (ci, ky, kx)
// of the block's sub-window it loads XV input vectors once and broadcasts CB weights, for CB * XV
// multiply-adds. Per pixel the accumulation order is bias, then ci, ky, kx, whatever the tile:
// results never depend on tiling.
//
// Reads w.packed: src = OIHW / dst = per block [cin][kh][kw][CB] (see kernels.h).

#include "unroll.h"

template <class V, int KW, int CB, int XV>
inline void conv_tile(const ConvWeights& w, const ConvBlock& b, const ConvRow& row, int x) {
  const int kw = KW > 0 ? KW : b.kw;
  // The accumulators must live in registers: the constant-trip loops below are unrolled
  // explicitly (GCC does not fully unroll nests this size by itself and spills acc to the stack).
  typename V::T acc[CB][XV];
  FSRCNN_UNROLL
  for (int j = 0; j < CB; ++j) {
    const typename V::T bias = V::set1(w.bias[b.co_first + j]);
    FSRCNN_UNROLL
    for (int v = 0; v < XV; ++v) acc[j][v] = bias;
  }
  const float* wp = w.packed + b.packed;
  for (int ci = 0; ci < w.cin; ++ci) {
    for (int ky = 0; ky < b.kh; ++ky) {
      const float* src = row.in_rows[b.ky0 + ky] + ci * row.in_cstride + x + b.kx0;
      for (int kx = 0; kx < kw; ++kx, wp += CB) {
        typename V::T in[XV];
        FSRCNN_UNROLL
        for (int v = 0; v < XV; ++v) in[v] = V::loadu(src + kx + v * V::N);
        FSRCNN_UNROLL
        for (int j = 0; j < CB; ++j) {
          const typename V::T wv = V::set1(wp[j]);
          FSRCNN_UNROLL
          for (int v = 0; v < XV; ++v) acc[j][v] = V::fmadd(wv, in[v], acc[j][v]);
        }
      }
    }
  }
  const typename V::T zero = V::zero();
  FSRCNN_UNROLL
  for (int j = 0; j < CB; ++j) {
    float* dst = row.out + (b.co_first + j) * row.out_cstride + x;
    const typename V::T slope = V::set1(w.act == Activation::PReLU ? w.slope[b.co_first + j] : 0.0f);
    FSRCNN_UNROLL
    for (int v = 0; v < XV; ++v) {
      typename V::T r = acc[j][v];
      if (w.act != Activation::None) r = V::fmadd(slope, V::min(r, zero), V::max(r, zero));
      V::storeu(dst + v * V::N, r);
    }
  }
}

template <class V, int KW, int CB>
inline void conv_block_row(const ConvWeights& w, const ConvBlock& b, const ConvRow& row) {
  // CB * XV accumulators, as many as the ISA's register tile holds (V::kTileAccumulators: 12 of
  // x86's 16 registers keep the two FMA pipes busy without spilling), at most 8 vectors wide.
  constexpr int kWide = V::kTileAccumulators / CB < 8 ? V::kTileAccumulators / CB : 8;
  int x = 0;
  for (; x + kWide * V::N <= row.cols; x += kWide * V::N) conv_tile<V, KW, CB, kWide>(w, b, row, x);
  // The remainder in one narrower tile: one accumulator per channel would stall on FMA latency.
  switch ((row.cols - x + V::N - 1) / V::N) {
    case 0: break;
    case 1: conv_tile<V, KW, CB, 1>(w, b, row, x); break;
    case 2: conv_tile<V, KW, CB, 2>(w, b, row, x); break;
    case 3: conv_tile<V, KW, CB, (kWide >= 3 ? 3 : 1)>(w, b, row, x); break;
    case 4: conv_tile<V, KW, CB, (kWide >= 4 ? 4 : 1)>(w, b, row, x); break;
    case 5: conv_tile<V, KW, CB, (kWide >= 5 ? 5 : 1)>(w, b, row, x); break;
    case 6: conv_tile<V, KW, CB, (kWide >= 6 ? 6 : 1)>(w, b, row, x); break;
    case 7: conv_tile<V, KW, CB, (kWide >= 7 ? 7 : 1)>(w, b, row, x); break;
    default: conv_tile<V, KW, CB, (kWide >= 8 ? 8 : 1)>(w, b, row, x); break;
  }
}

template <class V, int KW>
inline void conv_block_kw(const ConvWeights& w, const ConvBlock& b, const ConvRow& row) {
  switch (b.channels) {
    case 1: conv_block_row<V, KW, 1>(w, b, row); break;
    case 2: conv_block_row<V, KW, 2>(w, b, row); break;
    case 3: conv_block_row<V, KW, 3>(w, b, row); break;
    default: conv_block_row<V, KW, 4>(w, b, row); break;
  }
}

template <class V>
inline void conv_row_simd(const ConvWeights& w, const ConvRow& row) {
  for (int i = 0; i < w.nblocks; ++i) {
    const ConvBlock& b = w.blocks[i];
    switch (b.kw) {
      case 1: conv_block_kw<V, 1>(w, b, row); break;
      case 2: conv_block_kw<V, 2>(w, b, row); break;
      case 3: conv_block_kw<V, 3>(w, b, row); break;
      case 4: conv_block_kw<V, 4>(w, b, row); break;
      case 5: conv_block_kw<V, 5>(w, b, row); break;
      case 9: conv_block_kw<V, 9>(w, b, row); break;
      default: conv_block_kw<V, 0>(w, b, row); break;
    }
  }
}
