// upscale() as one engine call: the caller's image in, the caller's output array out, tile by tile.
// Per tile the image's rows are unpacked to Y (the network's input, see pipeline.cpp) and, for colour,
// to Cb / Cr / alpha, which are upscaled with MATLAB's bicubic (imresize) separably: the column pass
// at the image's height into a small ring of rows, the row pass per output row. Each output row is
// then converted back and written straight into the caller's array. Extra memory is a few rows per
// thread: no full-size plane of any kind exists, whatever the layout and sample type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../dispatch/dispatch.h"
#include "../kernels/kernels.h"

namespace fsrcnn {

// The caller's image: pixel (y, x), channel c at data + y * row_stride + x * col_stride + c * chan_stride
// (byte strides, any sign). channels: 1 (H x W or H x W x 1), 3 (RGB or BGR) or 4 (RGBA or BGRA).
struct FrameImage {
  const unsigned char* data = nullptr;
  kernels::Sample type = kernels::Sample::U8;
  int rows = 0, cols = 0, channels = 1;
  std::ptrdiff_t row_stride = 0, col_stride = 0, chan_stride = 0;
  bool bgr = false;
  // A region run (RunOptions::region): rows x cols is the whole image and data holds only a part of
  // it, whose first pixel is image pixel (origin_row, origin_col).
  int origin_row = 0, origin_col = 0;
};

// An output array: same sample type and channels as the image, scale x its rows and columns.
struct FrameOutput {
  unsigned char* data = nullptr;  // nullptr: this output is not wanted
  std::ptrdiff_t row_stride = 0, col_stride = 0, chan_stride = 0;
  int origin_row = 0, origin_col = 0;  // output pixel held at data (a region run: the region's first)
};

// MATLAB imresize's bicubic taps for upscaling one axis by an integer scale (resize.py's
// _contributions, the same float64 arithmetic, weights then rounded to float): output pixel x reads
// source pixels index[t][x] (mirrored into range) with weights weight[t][x], t < taps. Taps whose
// weight is zero for every output pixel are dropped, as MATLAB does.
struct BicubicTaps {
  int out_len = 0, taps = 0;
  std::vector<std::int32_t> index;  // [taps][out_len]
  std::vector<float> weight;        // [taps][out_len]
};
BicubicTaps bicubic_taps(int in_len, int scale);

// The YCbCr <-> RGB matrices (BT.601 studio range, MATLAB's rgb2ycbcr; python/fsrcnn_fast/color.py).
void ycbcr_matrices(float to_ycbcr[3][3], float offset[3], float to_rgb[3][3]);

// What every thread of one run_frame call shares.
struct FrameJob {
  FrameImage image;
  std::vector<FrameOutput> outputs;  // one per tail
  std::vector<int> scales;           // per tail
  std::vector<BicubicTaps> row_taps, col_taps;  // per wanted tail (empty otherwise)
  int planes = 0;                    // bicubic planes: 0 (gray), 2 (Cb, Cr) or 3 (and alpha)
  kernels::UnpackRow unpack{};       // everything but the row, columns and destinations
  kernels::PackRow pack{};

  FrameJob(const FrameImage& image, const std::vector<FrameOutput>& outputs, const std::vector<int>& scales);
};

// One thread's frame scratch and the per-tile work. Allocates only in its constructor.
class FrameTile {
 public:
  FrameTile(const FrameJob& job, const KernelTable& table, int tile_cols);

  void start(int col0, int width);  // a new tile: LR columns [col0, col0 + width)
  // Y of image row y, columns [col_first, col_first + n), into dst.
  void load_y(int y, int col_first, int n, float* dst) const;
  // Where the network's output row a (of scale(t)) of the current LR row goes before emit().
  float* y_row(int a) { return y_rows_[a].data(); }
  // Writes output rows y * s .. y * s + s - 1 of tail t (columns of the current tile).
  void emit(int t, int y);

 private:
  static constexpr int kRingSlots = 8;  // > the rows any output row's taps span
  struct TailState {
    std::vector<std::int32_t> index;    // [taps][tile's output width]: col_taps relative to lr_first
    std::vector<float> weight;          // [taps][tile's output width]
    int lr_first = 0, lr_count = 0;     // image columns the tile's chroma reads
    std::vector<float> ring;            // [kRingSlots][planes][hr_stride]: column-resized rows
    int tag[kRingSlots];                // image row held by each slot, -1: none
  };
  const float* chroma_row(int t, int r, int plane);

  const FrameJob& job_;
  const KernelTable& kt_;
  int col0_ = 0, width_ = 0, hr_stride_ = 0;
  std::vector<TailState> tails_;
  std::vector<std::vector<float>> y_rows_;  // [max scale][hr_stride]
  std::vector<float> lr_;                   // [3][lr_stride]: unpacked Cb, Cr, alpha of one image row
  int lr_stride_ = 0;
  std::vector<float> hr_;                   // [3][hr_stride]: one output row of Cb, Cr, alpha
};

}  // namespace fsrcnn
