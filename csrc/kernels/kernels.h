// Kernel signatures shared by every ISA. Kernels are pure functions over one output row:
// pointers, sizes, packed weights and a params struct; they never allocate, spawn threads
// or throw. The pipeline (engine/pipeline.cpp) owns memory, borders, tiles and threads.
#pragma once

#include <cstddef>

namespace fsrcnn::kernels {

enum class Activation { None, ReLU, PReLU };

// Output channels are computed in blocks of 1 to kMaxConvBlock channels (the register tile of the
// SIMD kernels). Each block also names the taps of the k x k window it uses: taps outside that
// sub-window have zero weight for all of the block's channels and are skipped. That is how the
// deconvolution's output phases (a 3x3 footprint each, at different places of the 5x5 union
// window at x3) cost no more than their real taps.
constexpr int kMaxConvBlock = 4;

struct ConvBlock {
  int co_first, channels;  // output channels [co_first, co_first + channels), channels <= 4
  int ky0, kh, kx0, kw;    // sub-window: rows [ky0, ky0 + kh), columns [kx0, kx0 + kw) of the k x k window
  std::ptrdiff_t packed;   // offset of the block's weights in ConvWeights::packed
};

// The weights of one k x k convolution as the kernels read them:
//   packed: src = PyTorch Conv2d OIHW [cout][cin][k][k] / dst = per block, [cin][kh][kw][channels]
//           of its sub-window, so one broadcast per (ci, ky, kx) feeds every channel of the block.
struct ConvWeights {
  int cin, cout, k;
  int nblocks;
  const ConvBlock* blocks;
  const float* packed;
  const float* bias;   // [cout]
  const float* slope;  // [cout] (PReLU; a shared slope arrives broadcast)
  Activation act;
};

// One output row of a "valid" k x k correlation with bias and activation fused:
//   out[co][x] = act(bias[co] + sum_ci sum_ky sum_kx w[co][ci][ky][kx] * in_rows[ky][ci * in_cstride + x + kx])
// for x in [0, cols). in_rows holds k row pointers (row ky of the window, channel 0). Kernels may
// compute (and store) whole SIMD vectors past cols, up to round_up(cols, 8): callers give every row
// room for round_up(cols, 8) + k - 1 readable floats per input channel and round_up(cols, 8) writable
// floats per output channel.
struct ConvRow {
  const float* const* in_rows;
  std::ptrdiff_t in_cstride;
  float* out;
  std::ptrdiff_t out_cstride;
  int cols;
};

// Depth-to-space of one LR row (DCR order): s*s phase rows -> s output rows.
//   out_rows[a][s*j + b] = phases[a*s + b][j] for j in [0, cols).
struct ShuffleRow {
  const float* const* phases;  // s*s pointers
  float* const* out_rows;      // s pointers
  int scale, cols;
};

}  // namespace fsrcnn::kernels
