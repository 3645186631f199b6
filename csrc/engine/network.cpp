#include "network.h"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace fsrcnn {
namespace {

void require(bool ok, const std::string& message) {
  if (!ok) throw std::invalid_argument(message);
}

void check_conv(const ConvLayer& l, const std::string& name) {
  require(l.k >= 1 && l.k % 2 == 1 && l.k <= 31, name + ": kernel size must be odd and <= 31, got " + std::to_string(l.k));
  require(l.cin >= 1 && l.cout >= 1 && l.cin <= 4096 && l.cout <= 4096, name + ": channel counts must be in [1, 4096]");
  require(l.weight.size() == static_cast<std::size_t>(l.cout) * l.cin * l.k * l.k,
          name + ": weight has the wrong number of elements");
  require(l.bias.size() == static_cast<std::size_t>(l.cout), name + ": bias must have cout elements");
  if (l.act == kernels::Activation::PReLU)
    require(l.slope.size() == static_cast<std::size_t>(l.cout), name + ": PReLU slope must have cout elements");
}

int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int ceil_div(int a, int b) { return -floor_div(-a, b); }

}  // namespace

kernels::ConvWeights PreparedConv::view() const {
  return {cin, cout, k, oihw.data(), packed.data(), bias.data(), slope.data(), act};
}

PreparedConv prepare_conv(const ConvLayer& l) {
  constexpr int B = kernels::kConvBlock;
  const int blocks = (l.cout + B - 1) / B;
  const int taps = l.k * l.k;
  PreparedConv p;
  p.k = l.k;
  p.cin = l.cin;
  p.cout = l.cout;
  p.border = l.border;
  p.act = l.act;
  p.oihw = l.weight;
  // src = OIHW [cout][cin][k][k] / dst = [cout/4][cin][k][k][4], missing output channels zero
  p.packed.assign(static_cast<std::size_t>(blocks) * l.cin * taps * B, 0.0f);
  for (int co = 0; co < l.cout; ++co)
    for (int ci = 0; ci < l.cin; ++ci)
      for (int t = 0; t < taps; ++t)
        p.packed[((static_cast<std::size_t>(co / B) * l.cin + ci) * taps + t) * B + co % B] =
            l.weight[(static_cast<std::size_t>(co) * l.cin + ci) * taps + t];
  p.bias.assign(static_cast<std::size_t>(blocks) * B, 0.0f);
  p.slope.assign(static_cast<std::size_t>(blocks) * B, 0.0f);
  std::copy(l.bias.begin(), l.bias.end(), p.bias.begin());
  if (l.act == kernels::Activation::PReLU) std::copy(l.slope.begin(), l.slope.end(), p.slope.begin());
  return p;
}

ConvLayer deconv_as_phase_conv(const Tail& t) {
  const int s = t.scale, k = t.k, off = t.offset;
  // Output phase r reads LR taps j with 0 <= s*j + r + off < k, i.e. x[q - j] * w[s*j + r + off].
  int radius = 0;
  for (int r = 0; r < s; ++r) {
    radius = std::max(radius, std::abs(ceil_div(-r - off, s)));
    radius = std::max(radius, std::abs(floor_div(k - 1 - r - off, s)));
  }
  ConvLayer c;
  c.k = 2 * radius + 1;
  c.cin = t.cin;
  c.cout = s * s;
  c.border = t.border;
  c.act = kernels::Activation::None;
  c.bias.assign(c.cout, t.bias[0]);
  // src = ConvTranspose2d [cin][k][k] / dst = OIHW [s*s phases (ry*s + rx)][cin][K][K], tap (R-jy, R-jx)
  c.weight.assign(static_cast<std::size_t>(c.cout) * c.cin * c.k * c.k, 0.0f);
  for (int ry = 0; ry < s; ++ry)
    for (int rx = 0; rx < s; ++rx)
      for (int ci = 0; ci < t.cin; ++ci)
        for (int jy = -radius; jy <= radius; ++jy)
          for (int jx = -radius; jx <= radius; ++jx) {
            const int ty = s * jy + ry + off, tx = s * jx + rx + off;
            if (ty < 0 || ty >= k || tx < 0 || tx >= k) continue;
            const std::size_t dst =
                ((static_cast<std::size_t>(ry * s + rx) * c.cin + ci) * c.k + (radius - jy)) * c.k + (radius - jx);
            c.weight[dst] = t.weight[(static_cast<std::size_t>(ci) * k + ty) * k + tx];
          }
  return c;
}

Network::Network(std::vector<ConvLayer> layers, Tail tail) {
  require(!layers.empty() || tail.kind != TailKind::None, "network has no layers");
  int channels = 1;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string name = "layer " + std::to_string(i);
    check_conv(layers[i], name);
    require(layers[i].cin == channels, name + ": expects " + std::to_string(layers[i].cin) +
                                           " input channels but the previous layer gives " + std::to_string(channels));
    channels = layers[i].cout;
  }
  if (tail.kind == TailKind::None) {
    require(channels == 1, "a network without an upscaling tail must end with one channel");
  } else {
    require(tail.scale >= 1 && tail.scale <= 16, "tail: scale must be in [1, 16]");
    require(tail.cin == channels, "tail: expects " + std::to_string(tail.cin) +
                                      " input channels but the last layer gives " + std::to_string(channels));
    require(tail.k >= 1 && tail.k <= 31, "tail: kernel size must be in [1, 31]");
    ConvLayer tail_conv;
    if (tail.kind == TailKind::Deconv) {
      require(tail.weight.size() == static_cast<std::size_t>(tail.cin) * tail.k * tail.k,
              "tail: deconv weight has the wrong number of elements");
      require(tail.bias.size() == 1, "tail: deconv has exactly one bias");
      require(tail.offset >= -32 && tail.offset <= 32, "tail: deconv offset must be in [-32, 32]");
      tail_conv = deconv_as_phase_conv(tail);
    } else {
      tail_conv = ConvLayer{tail.k, tail.cin, tail.scale * tail.scale, tail.border, kernels::Activation::None,
                            tail.weight, tail.bias, {}};
      check_conv(tail_conv, "tail (sub-pixel conv)");
    }
    layers.push_back(std::move(tail_conv));
    scale_ = tail.scale;
  }
  for (const ConvLayer& l : layers) convs_.push_back(prepare_conv(l));
}

}  // namespace fsrcnn
