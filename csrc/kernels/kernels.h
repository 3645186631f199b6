// Kernel signatures shared by every ISA. Kernels are pure functions: sizes,
// pointers, packed weights and a params struct; they never allocate, spawn
// threads or throw. The engine owns memory, padding and threads.
#pragma once

#include <cstddef>

namespace fsrcnn::kernels {

enum class Activation { None, ReLU, PReLU };

// Bias + activation applied to each output channel as it is written.
struct Epilogue {
  const float* bias;   // [cout]
  Activation act;
  const float* slope;  // [cout] (a shared slope is broadcast by the engine)
};

// "Valid" k x k correlation over a pre-padded input.
//   in:  [cin][in_rows][in_cols], in_rows >= rows + k - 1, in_cols = cols + k - 1
//   weight: src = PyTorch OIHW [cout][cin][k][k] / dst = same (the reference reads it as is)
//   out: [cout][rows][cols]; only output rows [row_begin, row_end) are written.
struct ConvShape {
  int cin, cout, k;
  int rows, cols;        // output plane size
  int row_begin, row_end;
};
void conv2d_ref(const ConvShape& shape, const float* in, const float* weight, const Epilogue& epi, float* out);

// Strided transposed convolution to one channel, read from a pre-padded input:
//   out[o] = bias + sum_c sum_p x_c[p] * w_c[o + offset - scale * p], over taps inside the kernel,
// in both axes. p indexes the unpadded LR grid; the input buffer holds LR rows/cols
// [-pad_lo, lr + pad_hi) so that every p the formula touches is present.
//   in: [cin][lr_rows + pad_lo + pad_hi][lr_cols + pad_lo + pad_hi]
//   weight: src = PyTorch ConvTranspose2d (in, out=1, kH, kW) / dst = same, [cin][k][k]
//   out: [lr_rows * scale][lr_cols * scale]; rows [row_begin, row_end) are written.
struct DeconvShape {
  int cin, k, scale, offset;
  int lr_rows, lr_cols, pad_lo, pad_hi;
  int row_begin, row_end;
};
void deconv_ref(const DeconvShape& shape, const float* in, const float* weight, float bias, float* out);

// Depth-to-space (DCR order, TF DepthToSpace / PyTorch PixelShuffle with one output channel):
//   out[scale*i + a][scale*j + b] = in[a*scale + b][i][j], rows [row_begin, row_end) of out.
void depth_to_space_ref(const float* in, int scale, int rows, int cols, int row_begin, int row_end, float* out);

}  // namespace fsrcnn::kernels
