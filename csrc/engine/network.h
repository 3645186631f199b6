// The network as the engine runs it: validated once at construction, then
// immutable, so one Network may be run from several threads at once.
#pragma once

#include <vector>

#include "../kernels/kernels.h"

namespace fsrcnn {

enum class Border { Zero, Replicate };

struct ConvLayer {
  int k = 0, cin = 0, cout = 0;
  Border border = Border::Zero;
  kernels::Activation act = kernels::Activation::None;
  std::vector<float> weight;  // OIHW [cout][cin][k][k]
  std::vector<float> bias;    // [cout]
  std::vector<float> slope;   // [cout] for PReLU (a shared slope arrives broadcast)
};

enum class TailKind { None, Deconv, Subpixel };

// The upscaling layer. Deconv: weight [cin][k][k] (ConvTranspose2d with one output channel),
// one bias, integer offset. Subpixel: a k x k conv to scale^2 channels (weight OIHW, bias per
// channel) followed by depth-to-space.
struct Tail {
  TailKind kind = TailKind::None;
  int k = 0, cin = 0, scale = 1, offset = 0;
  Border border = Border::Zero;
  std::vector<float> weight;
  std::vector<float> bias;
};

class Network {
 public:
  Network(std::vector<ConvLayer> layers, Tail tail);

  // Runs the whole network on one single-channel float image [rows][cols], writing
  // [rows * scale()][cols * scale()] floats to output.
  void run(const float* input, int rows, int cols, float* output, int threads) const;

  int scale() const { return tail_.kind == TailKind::None ? 1 : tail_.scale; }

 private:
  std::vector<ConvLayer> layers_;
  Tail tail_;
  ConvLayer subpixel_conv_;  // the conv half of a sub-pixel tail
};

}  // namespace fsrcnn
