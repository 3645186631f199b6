// Kernel signatures shared by every ISA. Kernels are pure functions over one output row:
// pointers, sizes, packed weights and a params struct; they never allocate, spawn threads
// or throw. The pipeline (engine/pipeline.cpp) owns memory, borders, tiles and threads.
#pragma once

#include <cstddef>
#include <cstdint>

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

// The frame kernels: upscale() reads the caller's image and writes the caller's output array a row
// at a time through these four, so no full-size plane is ever needed (engine/frame.cpp).
// Sample types of the caller's arrays. Integer samples map to [0, 1] by 1 / 255 or 1 / 65535.
enum class Sample : int { U8 = 0, U16 = 1, F32 = 2, F64 = 3 };

// One row of the caller's image -> unit-float planes. Pixel x, channel c is at
// src + x * col_stride + c * chan_stride (byte strides, either sign).
//   gray (channels 1):  y[x] = unit(px[0])
//   colour (3 or 4):    r, g, b = unit(px[rgb[0]]), unit(px[rgb[1]]), unit(px[rgb[2]]),
//                       Y = ((m[0][0] r + m[0][1] g) + m[0][2] b) + offset[0], Cb, Cr alike;
//                       alpha[x] = unit(px[3]) when channels is 4.
// unit(v) = float(v) * (1 / 255.f) for uint8, * (1 / 65535.f) for uint16, float(v) for floats.
// Any of y, cb, cr, alpha may be nullptr (not wanted). Products and sums in exactly this order,
// without fused multiply-adds, so every ISA gives the same bits.
struct UnpackRow {
  const unsigned char* src;
  std::ptrdiff_t col_stride, chan_stride;
  Sample type;
  int channels;
  int rgb[3];
  float matrix[3][3];
  float offset[3];
  float *y, *cb, *cr, *alpha;
  int cols;
};

// The column pass of a separable resize, for 1 to 3 planes of one row:
//   dst[p][x] = sum_t weight[t * tap_stride + x] * src[p][index[t * tap_stride + x]]
// summed from 0 in tap order (0 + w0 s0 + w1 s1 + ...), no fused multiply-adds. Indices are relative
// to src[p] and >= 0; kernels may read up to 8 floats past the largest index (callers pad src rows).
struct BicubicColsRow {
  const float* src[3];
  float* dst[3];
  int planes, cols, taps;
  const std::int32_t* index;
  const float* weight;
  std::ptrdiff_t tap_stride;
};

// The row pass of a separable resize, one plane: dst[x] = sum_t weight[t] * rows[t][x], summed from 0
// in tap order, no fused multiply-adds. taps <= kMaxTaps.
constexpr int kMaxTaps = 8;
struct BicubicRowsRow {
  const float* rows[kMaxTaps];
  float weight[kMaxTaps];
  float* dst;
  int taps, cols;
};

// One row of planes -> the caller's output row (strides as UnpackRow's, into dst).
//   gray (channels 1):  px[0] = store(y[x])
//   colour (3 or 4):    v0, v1, v2 = y[x] - offset[0], cb[x] - offset[1], cr[x] - offset[2];
//                       px[rgb[c]] = store((m[c][0] v0 + m[c][1] v1) + m[c][2] v2); px[3] = store(alpha[x]).
// store(v): clip to [0, 1] (NaN -> 0); floats are stored as they are, integers as MATLAB's uint8() /
// uint16() do: t = v * 255 (or 65535), rounded half away from zero (floor(t) + (t - floor(t) >= 0.5),
// exact for every float t), so exact k + 0.5 ties go up on every path and ISA.
struct PackRow {
  const float *y, *cb, *cr, *alpha;
  unsigned char* dst;
  std::ptrdiff_t col_stride, chan_stride;
  Sample type;
  int channels;
  int rgb[3];
  float matrix[3][3];
  float offset[3];
  int cols;
};

// Winograd F(mxm, 3x3) (Lavin & Gray, 2016) for 3 x 3 convs, m = 2 or 4: every m x m block of outputs
// is A^T [sum_ci U ⊙ V] A, with V = B^T d B the transform of its (m+2) x (m+2) input patch d and
// U = G g G^T that of the weights: (m+2)^2 multiplies per input channel for m^2 outputs, where the
// direct conv needs 9 m^2 (F(2x2): 16 for 4 outputs; F(4x4): 36 for 16, with larger transforms and
// a little more rounding). Blocks sit at rows and columns that are multiples of m in the image; the
// arithmetic of one block never depends on which chunk or vector lane it lands in, so results stay
// bitwise identical whatever the tiling.
// The weights: ConvWeights with k = 3, blocks as for the direct conv (their sub-windows unused), and
//   packed: src = OIHW [cout][cin][3][3] / dst = U as [(m+2)^2 (row-major)][cout][cin], where each
//           block's slice [co_first .. + channels) is stored [cin][channels].
// Blocks are processed in chunks of kWinoChunk, whose transforms go through the scratch buffer.
constexpr int kWinoChunk = 24;
inline std::size_t wino_scratch_floats(int m, int cin, int cout) {
  return static_cast<std::size_t>(m + 2) * (m + 2) * (cin + cout) * kWinoChunk;
}

// m output rows (y .. y + m - 1) of a "valid" 3 x 3 correlation, bias and activation fused, from the
// m + 2 input rows y .. y + m + 1 (channel 0 pointers). Columns are computed in blocks of m: kernels
// may compute (and store) up to 32 floats past cols per output channel row and read up to 40 floats
// past cols per input channel row; callers give every row that much room.
struct ConvRowGroup {
  const float* const* in_rows;  // m + 2 pointers
  std::ptrdiff_t in_cstride;
  float* out[4];                // m pointers
  std::ptrdiff_t out_cstride;
  int cols;
  float* scratch;  // wino_scratch_floats(m, cin, cout) floats
};

}  // namespace fsrcnn::kernels
