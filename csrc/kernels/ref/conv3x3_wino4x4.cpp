// Portable Winograd F(4x4, 3x3) row group: the reference the SIMD versions are tested against (all of
// them are also checked against the float64 oracle). One 4 x 4 output block at a time, in plain
// scalar loops: V = B^T d B per input channel, M = sum_ci U ⊙ V per output channel, Y = A^T M A,
// with the interpolation points 0, 1, -1, 2, -2 and infinity.
#include "../kernels.h"

namespace fsrcnn::kernels {

static inline float activate(float v, Activation act, float slope) {
  if (act == Activation::ReLU) return v > 0.0f ? v : 0.0f;
  if (act == Activation::PReLU) return v > 0.0f ? v : v * slope;
  return v;
}

// v = B^T d, B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
static void bt6(const float d[6], float v[6]) {
  v[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  v[1] = (d[3] + d[4]) - 4.0f * (d[1] + d[2]);
  v[2] = (d[4] - d[3]) + 4.0f * (d[1] - d[2]);
  v[3] = (d[4] - d[2]) + 2.0f * (d[3] - d[1]);
  v[4] = (d[4] - d[2]) - 2.0f * (d[3] - d[1]);
  v[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

// y = A^T m, A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
static void at6(const float m[6], float y[4]) {
  const float s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  y[0] = m[0] + s12 + s34;
  y[1] = d12 + 2.0f * d34;
  y[2] = s12 + 4.0f * s34;
  y[3] = d12 + 8.0f * d34 + m[5];
}

void conv3x3_wino4x4_ref(const ConvWeights& w, const ConvRowGroup& p) {
  float* v = p.scratch;  // [cin][36] for the current block
  for (int x = 0; x < p.cols; x += 4) {
    for (int ci = 0; ci < w.cin; ++ci) {
      float e[6][6];  // rows of the patch, transformed along x
      for (int r = 0; r < 6; ++r) bt6(p.in_rows[r] + ci * p.in_cstride + x, e[r]);
      for (int j = 0; j < 6; ++j) {
        const float col[6] = {e[0][j], e[1][j], e[2][j], e[3][j], e[4][j], e[5][j]};
        float t[6];
        bt6(col, t);
        for (int i = 0; i < 6; ++i) v[36 * ci + 6 * i + j] = t[i];
      }
    }
    for (int b = 0; b < w.nblocks; ++b) {
      const ConvBlock& blk = w.blocks[b];
      for (int jb = 0; jb < blk.channels; ++jb) {
        const int co = blk.co_first + jb;
        float m[36];
        for (int xi = 0; xi < 36; ++xi) {
          const float* u = w.packed + (static_cast<std::ptrdiff_t>(xi) * w.cout + blk.co_first) * w.cin;
          float acc = 0.0f;
          for (int ci = 0; ci < w.cin; ++ci) acc += u[ci * blk.channels + jb] * v[36 * ci + xi];
          m[xi] = acc;
        }
        float c[4][6];  // A^T M: columns first
        for (int j = 0; j < 6; ++j) {
          const float col[6] = {m[j], m[6 + j], m[12 + j], m[18 + j], m[24 + j], m[30 + j]};
          float y[4];
          at6(col, y);
          for (int i = 0; i < 4; ++i) c[i][j] = y[i];
        }
        const float bias = w.bias[co], slope = w.act == Activation::PReLU ? w.slope[co] : 0.0f;
        for (int i = 0; i < 4; ++i) {
          float y[4];
          at6(c[i], y);
          float* o = p.out[i] + co * p.out_cstride + x;
          for (int jx = 0; jx < 4; ++jx) o[jx] = activate(bias + y[jx], w.act, slope);
        }
      }
    }
  }
}

}  // namespace fsrcnn::kernels
