#include "network.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>

#include "padding.h"
#include "parallel.h"

namespace fsrcnn {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

void check_conv(const ConvLayer& l, const std::string& name) {
  require(l.k >= 1 && l.k % 2 == 1, name + ": kernel size must be odd, got " + std::to_string(l.k));
  require(l.cin >= 1 && l.cout >= 1, name + ": channel counts must be positive");
  require(l.weight.size() == static_cast<std::size_t>(l.cout) * l.cin * l.k * l.k,
          name + ": weight has the wrong number of elements");
  require(l.bias.size() == static_cast<std::size_t>(l.cout), name + ": bias must have cout elements");
  if (l.act == kernels::Activation::PReLU)
    require(l.slope.size() == static_cast<std::size_t>(l.cout), name + ": PReLU slope must have cout elements");
}

// Pads by k/2 on every side and runs the reference conv over row bands.
std::vector<float> run_conv(const ConvLayer& l, const float* in, int rows, int cols, int threads) {
  const int r = l.k / 2;
  const std::vector<float> padded = pad_planes(in, l.cin, rows, cols, r, r, r, r, l.border);
  std::vector<float> out(static_cast<std::size_t>(l.cout) * rows * cols);
  const kernels::Epilogue epi{l.bias.data(), l.act, l.slope.data()};
  parallel_bands(rows, threads, [&](int begin, int end) {
    const kernels::ConvShape shape{l.cin, l.cout, l.k, rows, cols, begin, end};
    kernels::conv2d_ref(shape, padded.data(), l.weight.data(), epi, out.data());
  });
  return out;
}

int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace

Network::Network(std::vector<ConvLayer> layers, Tail tail) : layers_(std::move(layers)), tail_(std::move(tail)) {
  require(!layers_.empty() || tail_.kind != TailKind::None, "network has no layers");
  int channels = 1;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const std::string name = "layer " + std::to_string(i);
    check_conv(layers_[i], name);
    require(layers_[i].cin == channels, name + ": expects " + std::to_string(layers_[i].cin) +
                                            " input channels but the previous layer gives " +
                                            std::to_string(channels));
    channels = layers_[i].cout;
  }
  if (tail_.kind == TailKind::None) {
    require(channels == 1, "a network without an upscaling tail must end with one channel");
    return;
  }
  require(tail_.scale >= 1 && tail_.scale <= 16, "tail: scale must be in [1, 16]");
  require(tail_.cin == channels, "tail: expects " + std::to_string(tail_.cin) +
                                     " input channels but the last layer gives " + std::to_string(channels));
  require(tail_.k >= 1, "tail: kernel size must be positive");
  if (tail_.kind == TailKind::Deconv) {
    require(tail_.weight.size() == static_cast<std::size_t>(tail_.cin) * tail_.k * tail_.k,
            "tail: deconv weight has the wrong number of elements");
    require(tail_.bias.size() == 1, "tail: deconv has exactly one bias");
    require(tail_.offset >= -64 && tail_.offset <= 64, "tail: deconv offset out of range");
  } else {
    const int phases = tail_.scale * tail_.scale;
    subpixel_conv_ = ConvLayer{tail_.k, tail_.cin, phases, tail_.border, kernels::Activation::None,
                               tail_.weight, tail_.bias, {}};
    check_conv(subpixel_conv_, "tail (sub-pixel conv)");
  }
}

void Network::run(const float* input, int rows, int cols, float* output, int threads) const {
  require(rows >= 1 && cols >= 1, "image must not be empty");
  const int s = scale();
  constexpr int kMaxSide = 1 << 20;
  require(rows <= kMaxSide / s && cols <= kMaxSide / s, "image is too large");
  threads = std::max(1, threads);

  std::vector<float> x(input, input + static_cast<std::size_t>(rows) * cols);
  for (const ConvLayer& l : layers_) x = run_conv(l, x.data(), rows, cols, threads);

  if (tail_.kind == TailKind::None) {
    std::copy(x.begin(), x.end(), output);
    return;
  }
  const int out_rows = rows * s;
  if (tail_.kind == TailKind::Subpixel) {
    const std::vector<float> phases = run_conv(subpixel_conv_, x.data(), rows, cols, threads);
    parallel_bands(out_rows, threads, [&](int begin, int end) {
      kernels::depth_to_space_ref(phases.data(), s, rows, cols, begin, end, output);
    });
    return;
  }
  // LR indices the deconv formula reaches beyond the image, on each side (same for rows and cols).
  const int lowest = floor_div(tail_.offset - (tail_.k - 1) + s - 1, s);
  const int pad_lo = std::max(0, -lowest);
  const int pad_hi = std::max(0, floor_div(tail_.offset - 1, s) + 1);
  const std::vector<float> padded =
      pad_planes(x.data(), tail_.cin, rows, cols, pad_lo, pad_hi, pad_lo, pad_hi, tail_.border);
  parallel_bands(out_rows, threads, [&](int begin, int end) {
    const kernels::DeconvShape shape{tail_.cin, tail_.k, s, tail_.offset, rows, cols, pad_lo, pad_hi, begin, end};
    kernels::deconv_ref(shape, padded.data(), tail_.weight.data(), tail_.bias[0], output);
  });
}

}  // namespace fsrcnn
