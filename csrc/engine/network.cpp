#include "network.h"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <tuple>

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

namespace {

struct Window {
  int ky0 = 0, ky1 = 0, kx0 = 0, kx1 = 0;  // half-open; empty when ky0 == ky1
  bool operator<(const Window& o) const {
    return std::tie(ky0, ky1, kx0, kx1) < std::tie(o.ky0, o.ky1, o.kx0, o.kx1);
  }
  bool operator==(const Window& o) const { return !(*this < o) && !(o < *this); }
  Window merged(const Window& o) const {
    if (ky0 == ky1) return o;
    if (o.ky0 == o.ky1) return *this;
    return {std::min(ky0, o.ky0), std::max(ky1, o.ky1), std::min(kx0, o.kx0), std::max(kx1, o.kx1)};
  }
};

// Bounding box of the taps with a non-zero weight for output channel co (over every input channel).
Window used_window(const ConvLayer& l, int co) {
  Window w{l.k, 0, l.k, 0};
  for (int ci = 0; ci < l.cin; ++ci)
    for (int ky = 0; ky < l.k; ++ky)
      for (int kx = 0; kx < l.k; ++kx)
        if (l.weight[((static_cast<std::size_t>(co) * l.cin + ci) * l.k + ky) * l.k + kx] != 0.0f) {
          w.ky0 = std::min(w.ky0, ky);
          w.ky1 = std::max(w.ky1, ky + 1);
          w.kx0 = std::min(w.kx0, kx);
          w.kx1 = std::max(w.kx1, kx + 1);
        }
  if (w.ky1 == 0) return Window{};  // all zero: the channel is its bias
  return w;
}

// Register-tile cost of one block of c channels, per tap and vector (AVX2 model: two FMA and two
// load pipes; c * XV accumulators with XV = 12 / c vectors).
double block_cost(int c) {
  static const double cost[] = {0.0, 0.75, 1.0, 1.5, 2.0};  // 1 channel: load-bound
  return cost[c];
}

// Splits n channels into blocks of one size plus a smaller remainder, the cheapest way.
int block_size_for(int n) {
  int best = kernels::kMaxConvBlock;
  double best_cost = 1e30;
  for (int b = kernels::kMaxConvBlock; b >= 1; --b) {
    const double c = (n / b) * block_cost(b) + (n % b ? block_cost(n % b) : 0.0);
    if (c < best_cost - 1e-9) best = b, best_cost = c;
  }
  return best;
}

}  // namespace

kernels::ConvWeights PreparedConv::view() const {
  return {cin, cout, k, static_cast<int>(blocks.size()), blocks.data(), packed.data(), bias.data(), slope.data(),
          act};
}

// Cuts positions [0, cout) into blocks: runs that share a window (grouped) or the whole layer,
// each run into blocks of one size. Returns the model cost; fills blocks (packed offsets unset).
double plan_blocks(const std::vector<Window>& window, const std::vector<int>& order, bool grouped,
                   std::vector<kernels::ConvBlock>& blocks) {
  const int cout = static_cast<int>(order.size());
  double cost = 0.0;
  blocks.clear();
  for (int run = 0; run < cout;) {
    int end = run + 1;
    while (end < cout && (!grouped || window[order[end]] == window[order[run]])) ++end;
    const int size = block_size_for(end - run);
    for (int first = run; first < end; first += size) {
      kernels::ConvBlock b{first, std::min(size, end - first), 0, 0, 0, 0, 0};
      Window w;
      for (int i = first; i < first + b.channels; ++i) w = w.merged(window[order[i]]);
      b.ky0 = w.ky0, b.kh = w.ky1 - w.ky0, b.kx0 = w.kx0, b.kw = w.kx1 - w.kx0;
      cost += block_cost(b.channels) * b.kh * b.kw;
      blocks.push_back(b);
    }
    run = end;
  }
  return cost;
}

PreparedConv prepare_conv(const ConvLayer& l, bool reorder) {
  std::vector<Window> window(l.cout);
  for (int co = 0; co < l.cout; ++co) window[co] = used_window(l, co);
  std::vector<int> order(l.cout);  // order[i]: original channel computed at position i
  for (int co = 0; co < l.cout; ++co) order[co] = co;

  PreparedConv p;
  plan_blocks(window, order, false, p.blocks);
  if (reorder) {  // gather channels by window when that is cheaper than one shared window
    std::vector<int> sorted = order;
    std::stable_sort(sorted.begin(), sorted.end(), [&](int a, int b) { return window[a] < window[b]; });
    std::vector<kernels::ConvBlock> grouped;
    if (plan_blocks(window, sorted, true, grouped) < plan_blocks(window, order, false, p.blocks)) {
      order = sorted;
      p.blocks = grouped;
    }
  }
  p.k = l.k;
  p.cin = l.cin;
  p.cout = l.cout;
  p.border = l.border;
  p.act = l.act;
  p.position.assign(l.cout, 0);
  for (int i = 0; i < l.cout; ++i) p.position[order[i]] = i;
  for (kernels::ConvBlock& b : p.blocks) {
    b.packed = static_cast<std::ptrdiff_t>(p.packed.size());
    // src = OIHW [cout][cin][k][k] / dst = [cin][kh][kw][channels] of this block's sub-window
    for (int ci = 0; ci < l.cin; ++ci)
      for (int ky = b.ky0; ky < b.ky0 + b.kh; ++ky)
        for (int kx = b.kx0; kx < b.kx0 + b.kw; ++kx)
          for (int j = 0; j < b.channels; ++j)
            p.packed.push_back(
                l.weight[((static_cast<std::size_t>(order[b.co_first + j]) * l.cin + ci) * l.k + ky) * l.k + kx]);
  }
  p.bias.resize(l.cout);
  p.slope.assign(l.cout, 0.0f);
  for (int i = 0; i < l.cout; ++i) {
    p.bias[i] = l.bias[order[i]];
    if (l.act == kernels::Activation::PReLU) p.slope[i] = l.slope[order[i]];
  }
  return p;
}

kernels::ConvWeights PreparedConv::winograd_view() const {
  return {cin, cout, k, static_cast<int>(blocks.size()), blocks.data(), winograd_packed.data(), bias.data(),
          slope.data(), act};
}

void add_winograd(PreparedConv& p, const ConvLayer& l, int m) {
  require(l.k == 3, "Winograd F(m x m, 3x3) needs a 3 x 3 kernel");
  require(m == 2 || m == 4, "Winograd tile must be 2 or 4");
  std::vector<int> order(l.cout);
  for (int c = 0; c < l.cout; ++c) order[p.position[c]] = c;
  // U = G g G^T in double, G of the points 0, 1, -1 (and 2, -2 for m = 4) and infinity.
  static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  static const double G4[6][3] = {{1.0 / 4, 0, 0},          {-1.0 / 6, -1.0 / 6, -1.0 / 6}, {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                  {1.0 / 24, 1.0 / 12, 1.0 / 6}, {1.0 / 24, -1.0 / 12, 1.0 / 6}, {0, 0, 1}};
  const int n = m + 2;
  auto G = [&](int i, int c) { return m == 2 ? G2[i][c] : G4[i][c]; };
  // src = OIHW [cout][cin][3][3] / dst = [n*n (n i + j)][cout (position order)][cin], block slices [cin][channels]
  p.winograd_packed.assign(static_cast<std::size_t>(n) * n * l.cout * l.cin, 0.0f);
  for (const kernels::ConvBlock& b : p.blocks)
    for (int jb = 0; jb < b.channels; ++jb)
      for (int ci = 0; ci < l.cin; ++ci) {
        const float* g = &l.weight[(static_cast<std::size_t>(order[b.co_first + jb]) * l.cin + ci) * 9];
        double gg[6][3];  // G g
        for (int i = 0; i < n; ++i)
          for (int c = 0; c < 3; ++c) gg[i][c] = G(i, 0) * g[c] + G(i, 1) * g[3 + c] + G(i, 2) * g[6 + c];
        for (int i = 0; i < n; ++i)
          for (int j = 0; j < n; ++j) {
            const double u = gg[i][0] * G(j, 0) + gg[i][1] * G(j, 1) + gg[i][2] * G(j, 2);
            const std::size_t dst = (static_cast<std::size_t>(n * i + j) * l.cout + b.co_first) * l.cin +
                                    static_cast<std::size_t>(ci) * b.channels + jb;
            p.winograd_packed[dst] = static_cast<float>(u);
          }
      }
  p.wino = m;
}

bool winograd_pays(const PreparedConv& p) {
  if (p.k != 3) return false;
  // Direct: used taps per output pixel. Winograd: 16 multiplies per 4 pixels, plus transforms that cost
  // about as much again when channels are few.
  double taps = 0.0;
  for (const kernels::ConvBlock& b : p.blocks) taps += static_cast<double>(b.kh) * b.kw * b.channels;
  return taps / p.cout >= 6.0 && p.cin * p.cout >= 64;
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

namespace {

// The tail's conv on the LR grid: the deconvolution as a phase conv, or the sub-pixel conv.
ConvLayer tail_conv(const Tail& tail, int channels, const std::string& name) {
  require(tail.scale >= 1 && tail.scale <= 16, name + ": scale must be in [1, 16]");
  require(tail.cin == channels, name + ": expects " + std::to_string(tail.cin) +
                                    " input channels but the last layer gives " + std::to_string(channels));
  require(tail.k >= 1 && tail.k <= 31, name + ": kernel size must be in [1, 31]");
  if (tail.kind == TailKind::Deconv) {
    require(tail.weight.size() == static_cast<std::size_t>(tail.cin) * tail.k * tail.k,
            name + ": deconv weight has the wrong number of elements");
    require(tail.bias.size() == 1, name + ": deconv has exactly one bias");
    require(tail.offset >= -32 && tail.offset <= 32, name + ": deconv offset must be in [-32, 32]");
    // An offset far from k / 2 widens the phase conv beyond what the kernels' halos hold: refuse it
    // here rather than trust every caller's offset (weight files are untrusted input).
    ConvLayer c = deconv_as_phase_conv(tail);
    check_conv(c, name + " (deconvolution of " + std::to_string(tail.k) + " taps, offset " +
                      std::to_string(tail.offset) + ", as a phase conv)");
    return c;
  }
  require(tail.kind == TailKind::Subpixel, name + ": a network with several tails needs an upscaling tail in each");
  ConvLayer c{tail.k, tail.cin, tail.scale * tail.scale, tail.border, kernels::Activation::None,
              tail.weight, tail.bias, {}};
  check_conv(c, name + " (sub-pixel conv)");
  return c;
}

}  // namespace

Network::Network(std::vector<ConvLayer> layers, std::vector<Tail> tails, int winograd) {
  require(winograd == -1 || winograd == 0 || winograd == 2 || winograd == 4, "winograd must be -1, 0, 2 or 4");
  int channels = 1;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string name = "layer " + std::to_string(i);
    check_conv(layers[i], name);
    require(layers[i].cin == channels, name + ": expects " + std::to_string(layers[i].cin) +
                                           " input channels but the previous layer gives " + std::to_string(channels));
    channels = layers[i].cout;
  }
  std::vector<ConvLayer> tail_layers;
  if (tails.empty() || (tails.size() == 1 && tails[0].kind == TailKind::None)) {
    require(!layers.empty(), "network has no layers");
    require(channels == 1, "a network without an upscaling tail must end with one channel");
    tail_layers.push_back(std::move(layers.back()));  // the last layer is the output (scale 1)
    layers.pop_back();
    scales_.push_back(1);
  } else {
    for (std::size_t t = 0; t < tails.size(); ++t) {
      const std::string name = tails.size() == 1 ? "tail" : "tail " + std::to_string(t);
      tail_layers.push_back(tail_conv(tails[t], channels, name));
      require(tails[t].border == tails[0].border, name + ": every tail must use the same border mode");
      scales_.push_back(tails[t].scale);
    }
  }
  const auto prepared = [&](const ConvLayer& layer, bool reorder) {
    PreparedConv p = prepare_conv(layer, reorder);
    if (winograd != 0 && winograd_pays(p)) add_winograd(p, layer, winograd == -1 ? 4 : winograd);
    return p;
  };
  for (const ConvLayer& layer : layers) convs_.push_back(prepared(layer, false));
  // A tail's consumer is the pixel shuffle, which reads the phases in any order.
  for (const ConvLayer& layer : tail_layers) tails_.push_back(prepared(layer, true));
}

}  // namespace fsrcnn
