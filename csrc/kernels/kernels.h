// Kernel signatures shared by every ISA. Kernels are pure functions over one output row:
// pointers, sizes, packed weights and a params struct; they never allocate, spawn threads
// or throw. The pipeline (engine/pipeline.cpp) owns memory, borders, tiles and threads.
#pragma once

#include <cstddef>

namespace fsrcnn::kernels {

enum class Activation { None, ReLU, PReLU };

// Output channels are computed in blocks of kConvBlock (a register tile of the SIMD kernels).
constexpr int kConvBlock = 4;

// The weights of one k x k convolution in the two layouts the kernels read.
//   oihw:   src = PyTorch Conv2d [cout][cin][k][k] / dst = same (the reference kernel reads it as is)
//   packed: src = oihw / dst = [ceil(cout/4)][cin][k][k][4], output channels zero-padded to a multiple of 4,
//           so one broadcast per (ci, ky, kx) feeds four output channels.
struct ConvWeights {
  int cin, cout, k;
  const float* oihw;
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

// Depth-to-space of one LR row (DCR order): s*s phase channels -> s output rows.
//   out_rows[a][s*j + b] = in[(a*s + b) * in_cstride + j] for j in [0, cols).
struct ShuffleRow {
  const float* in;
  std::ptrdiff_t in_cstride;
  float* const* out_rows;  // s pointers
  int scale, cols;
};

}  // namespace fsrcnn::kernels
