// The network as the engine runs it: validated and repacked once at construction, then
// immutable, so one Network may be run from several threads at once.
#pragma once

#include <vector>

#include "../dispatch/dispatch.h"
#include "../kernels/kernels.h"
#include "frame.h"
#include "executor.h"
#include "scratch_memory.h"

namespace fsrcnn {

enum class Border { Zero, Replicate };

// A layer as described by the caller (weights in PyTorch layouts).
struct ConvLayer {
  int k = 0, cin = 0, cout = 0;
  Border border = Border::Zero;
  kernels::Activation act = kernels::Activation::None;
  std::vector<float> weight;  // OIHW [cout][cin][k][k]
  std::vector<float> bias;    // [cout]
  std::vector<float> slope;   // [cout] for PReLU (a shared slope arrives broadcast)
};

enum class TailKind { None, Deconv, Subpixel };

// The upscaling layer. Deconv: weight [cin][k][k] (ConvTranspose2d with one output channel), one
// bias, integer offset. Subpixel: a k x k conv to scale^2 channels (weight OIHW, bias per channel)
// followed by depth-to-space.
struct Tail {
  TailKind kind = TailKind::None;
  int k = 0, cin = 0, scale = 1, offset = 0;
  Border border = Border::Zero;
  std::vector<float> weight;
  std::vector<float> bias;
};

// A conv layer in the form the kernels read (see kernels.h for both layouts).
struct PreparedConv {
  int k = 0, cin = 0, cout = 0;
  Border border = Border::Zero;
  kernels::Activation act = kernels::Activation::None;
  std::vector<kernels::ConvBlock> blocks;
  std::vector<float> packed, bias, slope;  // channels in `position` order
  std::vector<int> position;  // position[c]: where original output channel c is computed
  int wino = 0;               // 2 or 4: run as Winograd F(wino x wino, 3x3) row groups; 0: direct
  std::vector<float> winograd_packed;
  kernels::ConvWeights view() const;
  kernels::ConvWeights winograd_view() const;
};

// The largest image side the engine accepts, input or output (Python reads it from _core.limits).
constexpr int kMaxSide = 1 << 20;

// Part of a larger image (Network::run / run_frame with RunOptions::region): the output of LR rows
// [row0, row1) x columns [col0, col1) of the whole image, computed exactly as the whole-image call
// computes it there. The region's sides are multiples of kRegionAlign or the image's edges (the
// Winograd blocks sit at image-aligned positions); the input given holds image rows
// [in_row0, in_row0 + in_rows) x columns [in_col0, in_col0 + in_cols), at least needed_input().
// Which sides are real image edges follows from the positions: border modes apply only there.
struct Region {
  int row0 = 0, row1 = 0, col0 = 0, col1 = 0;
  int in_row0 = 0, in_col0 = 0, in_rows = 0, in_cols = 0;
};
constexpr int kRegionAlign = 4;

// A box of image pixels: rows [row0, row1) x columns [col0, col1).
struct Box {
  int row0 = 0, row1 = 0, col0 = 0, col1 = 0;
};

struct RunOptions {
  int threads = 1;
  int tile_rows = 0, tile_cols = 0;  // 0: chosen by the planner
  const KernelTable* table = nullptr;  // nullptr: the default (import-time) table
  const CancelFlag* cancel = nullptr;  // set: stop early, leaving the outputs incomplete
  const Region* region = nullptr;      // set: compute that region only (rows, cols: the whole image)
};

class Network {
 public:
  // tails: one upscaling tail, or none (kind None, or an empty list: the last layer then has one
  // channel and the image keeps its size), or several Deconv / Subpixel tails that share every other
  // layer (a multi-scale model: run() computes the shared layers once for all of them).
  // winograd: the Winograd tile for 3 x 3 layers where Winograd is cheaper: 2 (F(2x2, 3x3)), 4
  // (F(4x4, 3x3)), 0 (direct only, for comparisons and tests) or -1 (the engine's choice).
  Network(std::vector<ConvLayer> layers, std::vector<Tail> tails, int winograd = -1);

  // Runs the network on one single-channel float image [rows][cols]. outputs[t] receives tail t's
  // [rows * scale(t)][cols * scale(t)] floats, or is nullptr to skip that tail.
  void run(const float* input, int rows, int cols, const std::vector<float*>& outputs,
           const RunOptions& options) const;

  // upscale() in one call (frame.h): the caller's image in, outputs[t] (data nullptr: skipped) written
  // with tail t's result converted back to the image's layout and sample type, rounded as MATLAB.
  // pre_upsample (>= 2; 0: none): the network keeps its input's size (SRCNN) and runs on the image's Y
  // bicubic-upscaled by pre_upsample, tile by tile (the output is pre_upsample x the image).
  void run_frame(const FrameImage& image, const std::vector<FrameOutput>& outputs, const RunOptions& options,
                 int pre_upsample = 0) const;

  // The input pixels a region run of `region` (aligned, see Region) reads, in an image of rows x cols
  // (colour: also what the chroma bicubic of every tail reads). pre_upsample: of run_frame's
  // pre-upsampling run (image pixels, through the bicubic of Y).
  Box needed_input(int rows, int cols, const Box& region, bool colour, int pre_upsample = 0) const;
  // The most input pixels needed_input() reaches beyond an aligned region on any side, anywhere in
  // any image: the receptive field as the engine computes it (Winograd groups included).
  int halo(int pre_upsample = 0) const;

  int tails() const { return static_cast<int>(tails_.size()); }
  int scale(int tail) const { return scales_.at(tail); }
  const std::vector<PreparedConv>& convs() const { return convs_; }       // the shared layers
  const std::vector<PreparedConv>& tail_convs() const { return tails_; }  // each output's last conv
  std::size_t scratch_cached_bytes() const { return scratch_memory_->cached_bytes(); }

 private:
  // input (a float plane) or job (an image), never both.
  void run_tiled(const float* input, const FrameJob* job, int rows, int cols, const std::vector<float*>& outputs,
                 const RunOptions& options) const;

  std::vector<PreparedConv> convs_;
  std::vector<PreparedConv> tails_;  // deconv as phase conv, sub-pixel conv, or SRCNN's last layer
  std::vector<int> scales_;          // > 1: the tail has scale^2 phase channels to shuffle
  std::unique_ptr<ScratchMemory> scratch_memory_ = std::make_unique<ScratchMemory>();  // between calls
};

// Repacks one layer for the kernels. Output channels are cut into blocks, each with the sub-window
// of taps its channels really use. With reorder, channels that use the same sub-window are first
// gathered next to each other (for a tail, whose consumer is the pixel shuffle, which can read the
// phases in any order); without it, channel order is kept.
PreparedConv prepare_conv(const ConvLayer& layer, bool reorder = false);

// Adds the Winograd F(m x m, 3x3) weights (m = 2 or 4) to a prepared 3 x 3 layer (same blocks and
// channel order).
void add_winograd(PreparedConv& p, const ConvLayer& layer, int m);

// Whether a prepared 3 x 3 layer is cheaper as Winograd than as the direct conv of its used taps.
bool winograd_pays(const PreparedConv& p);

// The strided transposed conv rewritten as a "same" conv on the LR grid with one output channel
// per output phase (DCR order), so the pixel shuffle of its output is the deconv's output.
ConvLayer deconv_as_phase_conv(const Tail& deconv);

}  // namespace fsrcnn
