// The SIMD convolution row, written once over a vector type V and compiled per ISA
// (avx2/conv_row.cpp, sse/conv_row.cpp). Include it only inside an ISA-specific namespace: the
// same inline code compiled with different -m flags must never be merged by the linker.
//
// Register tile: kConvBlock (4) output channels x XV vectors of V::N pixels. Per (ci, ky, kx) it
// loads XV input vectors once and broadcasts 4 weights, for 4 * XV multiply-adds. Per pixel the
// accumulation order is bias, then ci, ky, kx, whatever the tile: results never depend on tiling.
//
// Reads w.packed: src = OIHW / dst = [ceil(cout/4)][cin][k][k][4]; bias and slope zero-padded to a
// multiple of 4 (see kernels.h).

template <class V, int K, int XV>
inline void conv_tile(const ConvWeights& w, const ConvRow& row, int cb, int x) {
  const int k = K > 0 ? K : w.k;
  typename V::T acc[kConvBlock][XV];
  for (int j = 0; j < kConvBlock; ++j) {
    const typename V::T b = V::set1(w.bias[cb * kConvBlock + j]);
    for (int v = 0; v < XV; ++v) acc[j][v] = b;
  }
  const float* wp = w.packed + static_cast<std::ptrdiff_t>(cb) * w.cin * k * k * kConvBlock;
  for (int ci = 0; ci < w.cin; ++ci) {
    for (int ky = 0; ky < k; ++ky) {
      const float* src = row.in_rows[ky] + ci * row.in_cstride + x;
      for (int kx = 0; kx < k; ++kx, wp += kConvBlock) {
        typename V::T in[XV];
        for (int v = 0; v < XV; ++v) in[v] = V::loadu(src + kx + v * V::N);
        for (int j = 0; j < kConvBlock; ++j) {
          const typename V::T wv = V::set1(wp[j]);
          for (int v = 0; v < XV; ++v) acc[j][v] = V::fmadd(wv, in[v], acc[j][v]);
        }
      }
    }
  }
  const int channels = w.cout - cb * kConvBlock;
  for (int j = 0; j < kConvBlock && j < channels; ++j) {
    float* dst = row.out + (cb * kConvBlock + j) * row.out_cstride + x;
    const typename V::T zero = V::zero();
    const typename V::T slope = V::set1(w.act == Activation::PReLU ? w.slope[cb * kConvBlock + j] : 0.0f);
    for (int v = 0; v < XV; ++v) {
      typename V::T r = acc[j][v];
      if (w.act != Activation::None) r = V::fmadd(slope, V::min(r, zero), V::max(r, zero));
      V::storeu(dst + v * V::N, r);
    }
  }
}

template <class V, int K>
inline void conv_row_k(const ConvWeights& w, const ConvRow& row) {
  constexpr int kWide = 3;
  const int blocks = (w.cout + kConvBlock - 1) / kConvBlock;
  for (int cb = 0; cb < blocks; ++cb) {
    int x = 0;
    for (; x + kWide * V::N <= row.cols; x += kWide * V::N) conv_tile<V, K, kWide>(w, row, cb, x);
    for (; x < row.cols; x += V::N) conv_tile<V, K, 1>(w, row, cb, x);
  }
}


template <class V>
inline void conv_row_simd(const ConvWeights& w, const ConvRow& row) {
  switch (w.k) {
    case 1: conv_row_k<V, 1>(w, row); break;
    case 3: conv_row_k<V, 3>(w, row); break;
    case 5: conv_row_k<V, 5>(w, row); break;
    case 9: conv_row_k<V, 9>(w, row); break;
    default: conv_row_k<V, 0>(w, row); break;
  }
}
