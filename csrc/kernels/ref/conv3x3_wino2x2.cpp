// Portable Winograd F(2x2, 3x3) row pair: the reference the SIMD versions are tested against (all of
// them are also checked against the float64 oracle). One 2 x 2 output block at a time, in plain
// scalar loops: V = B^T d B per input channel, M = sum_ci U ⊙ V per output channel, Y = A^T M A.
#include "../kernels.h"

namespace fsrcnn::kernels {

static inline float activate(float v, Activation act, float slope) {
  if (act == Activation::ReLU) return v > 0.0f ? v : 0.0f;
  if (act == Activation::PReLU) return v > 0.0f ? v : v * slope;
  return v;
}

// V = B^T d B with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]; d[r] points at row r of the patch.
static void input_transform(const float* const d[4], float v[16]) {
  float e[4][4];
  for (int r = 0; r < 4; ++r) {
    e[r][0] = d[r][0] - d[r][2];
    e[r][1] = d[r][1] + d[r][2];
    e[r][2] = d[r][2] - d[r][1];
    e[r][3] = d[r][1] - d[r][3];
  }
  for (int j = 0; j < 4; ++j) {
    v[0 * 4 + j] = e[0][j] - e[2][j];
    v[1 * 4 + j] = e[1][j] + e[2][j];
    v[2 * 4 + j] = e[2][j] - e[1][j];
    v[3 * 4 + j] = e[1][j] - e[3][j];
  }
}

void conv3x3_wino2x2_ref(const ConvWeights& w, const ConvRowGroup& p) {
  float* v = p.scratch;  // [cin][16] for the current block
  for (int x = 0; x < p.cols; x += 2) {
    for (int ci = 0; ci < w.cin; ++ci) {
      const float* d[4];
      for (int r = 0; r < 4; ++r) d[r] = p.in_rows[r] + ci * p.in_cstride + x;
      input_transform(d, v + 16 * ci);
    }
    for (int i = 0; i < w.nblocks; ++i) {
      const ConvBlock& b = w.blocks[i];
      for (int j = 0; j < b.channels; ++j) {
        const int co = b.co_first + j;
        float m[16];
        for (int xi = 0; xi < 16; ++xi) {
          const float* u = w.packed + (static_cast<std::ptrdiff_t>(xi) * w.cout + b.co_first) * w.cin;
          float acc = 0.0f;
          for (int ci = 0; ci < w.cin; ++ci) acc += u[ci * b.channels + j] * v[16 * ci + xi];
          m[xi] = acc;
        }
        // Y = A^T M A with A^T = [1 1 1 0; 0 1 -1 -1].
        float r0[4], r1[4];
        for (int c = 0; c < 4; ++c) {
          r0[c] = m[c] + m[4 + c] + m[8 + c];
          r1[c] = m[4 + c] - m[8 + c] - m[12 + c];
        }
        const float bias = w.bias[co], slope = w.act == Activation::PReLU ? w.slope[co] : 0.0f;
        float* o0 = p.out[0] + co * p.out_cstride + x;
        float* o1 = p.out[1] + co * p.out_cstride + x;
        o0[0] = activate(bias + (r0[0] + r0[1] + r0[2]), w.act, slope);
        o0[1] = activate(bias + (r0[1] - r0[2] - r0[3]), w.act, slope);
        o1[0] = activate(bias + (r1[0] + r1[1] + r1[2]), w.act, slope);
        o1[1] = activate(bias + (r1[1] - r1[2] - r1[3]), w.act, slope);
      }
    }
  }
}

}  // namespace fsrcnn::kernels
