// upscale() as one engine call: the caller's image in, the caller's output array out, tile by tile.
// Per tile the image's rows are unpacked to Y (the network's input, see pipeline.cpp) and, for colour,
// to Cb / Cr / alpha, which are upscaled with MATLAB's bicubic (imresize) separably: the column pass
// at the image's height into a small ring of rows, the row pass per output row. Each output row is
// then converted back and written straight into the caller's array. Extra memory is a few rows per
// thread: no full-size plane of any kind exists, whatever the layout and sample type. A network on a
// pre-upsampled plane (SRCNN) runs at the output's size: its input rows are Y upscaled with the same
// bicubic (and kernels) as the chroma, a few rows at a time (FrameJob::pre_upsampled).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory_resource>
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
  std::vector<int> scales;           // per tail: output size / image size
  std::vector<BicubicTaps> row_taps, col_taps;  // per wanted tail (empty otherwise)
  int planes = 0;                    // bicubic planes: 0 (gray), 2 (Cb, Cr) or 3 (and alpha)
  // A network that runs on a pre-upsampled plane (SRCNN, one tail of scale 1): its input is Y
  // bicubic-upscaled by scales[0] (row_taps[0] / col_taps[0], the chroma's taps), so the tiles and
  // rows the pipeline hands FrameTile are in output pixels. Otherwise in image (LR) pixels.
  bool pre_upsampled = false;
  kernels::UnpackRow unpack{};       // everything but the row, columns and destinations
  kernels::PackRow pack{};

  FrameJob(const FrameImage& image, const std::vector<FrameOutput>& outputs, const std::vector<int>& scales,
           bool pre_upsampled = false);
  // Output pixels per pipeline pixel of tail t: its scale, or 1 when pre-upsampled.
  int grid(int t) const { return pre_upsampled ? 1 : scales[t]; }
};

// One thread's frame scratch and the per-tile work. Allocates only in its constructor.
class FrameTile {
 public:
  // tile_cols: the widest tile; input_cols: the most network input columns load_y is asked for; mem:
  // where the scratch comes from.
  FrameTile(const FrameJob& job, const KernelTable& table, int tile_cols, int input_cols,
            std::pmr::memory_resource* mem);

  void start(int col0, int width);  // a new tile: pipeline columns [col0, col0 + width)
  // The network's input row y, columns [col_first, col_first + n), into dst: Y of image row y, or
  // when pre-upsampled Y bicubic-upscaled (output row y, output columns). Rows in increasing order
  // within a tile, the same columns for every row of it.
  void load_y(int y, int col_first, int n, float* dst);
  // Where the network's output row a (of scale(t)) of the current LR row goes before emit().
  float* y_row(int a) { return y_rows_.data() + static_cast<std::size_t>(a) * hr_stride_; }
  // Writes output rows y * s .. y * s + s - 1 of tail t (columns of the current tile).
  void emit(int t, int y);

 private:
  static constexpr int kRingSlots = 8;  // > the rows any output row's taps span
  struct TailState {
    explicit TailState(std::pmr::memory_resource* mem) : index(mem), weight(mem), ring(mem) {}
    std::pmr::vector<std::int32_t> index;  // [taps][tile's output width]: col_taps relative to lr_first
    std::pmr::vector<float> weight;        // [taps][tile's output width]
    int lr_first = 0, lr_count = 0;        // image columns the tile's chroma reads
    std::pmr::vector<float> ring;          // [kRingSlots][planes][hr_stride]: column-resized rows
    int tag[kRingSlots];                   // image row held by each slot, -1: none
  };
  const float* chroma_row(int t, int r, int plane);
  const float* upscaled_y_row(int r);  // pre-upsampled: image row r's Y, column-resized

  // Pre-upsampled: Y's column pass, as TailState's for the chroma, over the columns load_y is asked for.
  struct UpscaledY {
    explicit UpscaledY(std::pmr::memory_resource* mem) : index(mem), weight(mem), lr(mem), ring(mem) {}
    std::pmr::vector<std::int32_t> index;  // [taps][hr_count]: col_taps relative to lr_first
    std::pmr::vector<float> weight;        // [taps][hr_count]
    int hr_first = -1, hr_count = 0;  // the output columns of the current tile's input rows
    int lr_first = 0, lr_count = 0;   // the image columns they read
    std::pmr::vector<float> lr;       // one image row's Y, [lr_first, lr_first + lr_count) (+ padding)
    std::pmr::vector<float> ring;     // [kRingSlots][stride]: column-resized rows
    int stride = 0;
    int tag[kRingSlots];
  };
  void plan_upscaled_y(int col_first, int n);

  const FrameJob& job_;
  const KernelTable& kt_;
  int col0_ = 0, width_ = 0, hr_stride_ = 0;
  std::vector<TailState> tails_;
  std::pmr::vector<float> y_rows_;  // [max scale][hr_stride]
  std::pmr::vector<float> lr_;      // [3][lr_stride]: unpacked Cb, Cr, alpha of one image row
  int lr_stride_ = 0;
  std::pmr::vector<float> hr_;      // [3][hr_stride]: one output row of Cb, Cr, alpha
  UpscaledY up_;
};

}  // namespace fsrcnn
