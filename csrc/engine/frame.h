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

// Slots of a ring that holds source row r in slot r % slots, read in output row order through these
// taps: the fewest with which no row is evicted between its first and its last use, so each row is
// computed once per tile and the rows one output row reads never share a slot. 4 for MATLAB's bicubic
// at x2 .. x4 (a row is in use while rows r - 3 .. r + 3 are read).
int ring_slots_for(const BicubicTaps& taps);

// The YCbCr <-> RGB matrices (BT.601 studio range, MATLAB's rgb2ycbcr; python/fsrcnn_fast/color.py).
void ycbcr_matrices(float to_ycbcr[3][3], float offset[3], float to_rgb[3][3]);

// What every thread of one run_frame call shares.
struct FrameJob {
  FrameImage image;
  std::vector<FrameOutput> outputs;  // one per tail
  std::vector<int> scales;           // per tail
  std::vector<BicubicTaps> row_taps, col_taps;  // per wanted tail (empty otherwise)
  std::vector<int> ring_slots;       // per wanted tail: column-resized rows FrameTile keeps (ring_slots_for)
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
  // The row pass and the packing go through the output row in chunks of this many columns, so that
  // the chroma row they hand over (hr_) stays in L1 instead of making a round trip through L2.
  static constexpr int kChunk = 512;
  // The column pass goes through the tile's output columns in pieces of kColsPiece (a multiple of the
  // scale) or fewer: away from the image's edges the pieces' taps are the same up to a shift of the
  // source, so pieces share one table of taps, read from L1, instead of a table as wide as the tile
  // (61 KB for a 640-wide tile at x3) refetched for every image row.
  struct ColsPiece {
    int x0, cols;          // output columns [x0, x0 + cols) of the tile
    int src_offset;        // the piece's source columns start here, relative to lr_first
    std::size_t table;     // offset of its taps in index / weight: [taps][piece_stride]
    bool made_table;       // the first piece to use that table
  };
  struct TailState {
    std::vector<std::int32_t> index;    // distinct tables of taps: relative to lr_first + src_offset
    std::vector<float> weight;
    int piece_stride = 0;               // the tables' tap stride (the widest piece)
    std::vector<ColsPiece> pieces;
    int lr_first = 0, lr_count = 0;     // image columns the tile's chroma reads
    int slots = 0;                      // job's ring_slots
    std::vector<float> ring;            // [slots][planes][hr_stride]: column-resized rows
    std::vector<int> tag;               // [slots]: image row held by each slot, -1: none
  };
  const float* chroma_row(int t, int r, int plane);

  const FrameJob& job_;
  const KernelTable& kt_;
  int col0_ = 0, width_ = 0, hr_stride_ = 0;
  std::vector<TailState> tails_;
  std::vector<std::vector<float>> y_rows_;  // [max scale][hr_stride]
  std::vector<float> lr_;                   // [3][lr_stride]: unpacked Cb, Cr, alpha of one image row
  int lr_stride_ = 0;
  std::vector<float> hr_;                   // [3][kChunk + 8]: a chunk of one output row of Cb, Cr, alpha
};

}  // namespace fsrcnn
