// The fused, tiled pipeline. The image is cut into tiles of LR output (a band of rows x a strip of
// columns); each tile streams through the whole layer chain row by row, every layer keeping only
// the rows its consumers' windows need in a small ring. So no full-size feature map is ever
// allocated: extra memory is O(threads x tile width x channels). Border modes are applied where a
// row or column falls outside the real image, never at a tile edge, and every output pixel is
// computed by the same arithmetic whatever the tiling: results are bitwise identical for any tile
// size and thread count. A Winograd F(m x m) layer computes blocks of m x m pixels at image rows and
// columns that are multiples of m (tiles start at multiples of 4, and its halos are multiples of m),
// so its blocks too are the same whatever the tiling.
//
// Levels: L = -1 is the input, L = 0 .. n-1 the shared layers; the last level feeds every tail
// (one per output: a deconvolution as phase conv, a sub-pixel conv, or SRCNN's last layer), so a
// multi-scale model computes its shared layers once for all its scales.
#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <stdexcept>
#include <vector>

#include "executor.h"
#include "frame.h"
#include "network.h"
#include "round_up.h"

namespace fsrcnn {
namespace {

constexpr int kVec = 8;     // widest SIMD vector (floats)
constexpr int kSlack = 48;  // floats past a row's width that kernels may read or write (kernels.h)
constexpr int kAlign = 4;   // tiles start at multiples of the largest Winograd tile

// Rows a consumer reads around the row (or Winograd row group) it computes: [y - behind, y + ahead].
struct Reach {
  int behind, ahead;
};
Reach reach(const PreparedConv& c) { return c.wino ? Reach{1, c.wino} : Reach{c.k / 2, c.k / 2}; }

struct Geometry {
  int rows, cols;               // image (network input) size
  int tile_cols;                // LR output tile width
  std::vector<int> band_start;  // LR output rows of the tiles' bands: [band_start[i], band_start[i + 1])
  std::vector<int> halo;        // [L + 1]: columns/rows level L reaches beyond a tile
  std::vector<int> channels;    // [L + 1]
  std::vector<int> ring;        // [L + 1]: rows kept of level L
  std::vector<int> skip;        // [L]: columns of layer L's input rows left of what its output needs
  std::vector<int> tail_skip;   // [t]: the same for tail t (which reads level n - 1)
  std::vector<int> tail_ring;   // [t]: rows kept of tail t's output (a Winograd group)
};

Geometry make_geometry(const std::vector<PreparedConv>& convs, const std::vector<PreparedConv>& tails, int rows,
                       int cols) {
  const int n = static_cast<int>(convs.size()), nt = static_cast<int>(tails.size());
  Geometry g{rows, cols, 0, {}, std::vector<int>(n + 1, 0), std::vector<int>(n + 1, 1), std::vector<int>(n + 1, 1),
             std::vector<int>(n, 0), std::vector<int>(nt, 0), std::vector<int>(nt, 1)};
  const auto aligned = [&](int L, int need) { return L >= 0 && convs[L].wino ? round_up(need, convs[L].wino) : need; };
  const auto extra = [&](int L) { return L >= 0 && convs[L].wino ? convs[L].wino - 1 : 0; };  // producer runs ahead
  Reach last{0, 0};
  for (const PreparedConv& t : tails) last = {std::max(last.behind, reach(t).behind), std::max(last.ahead, reach(t).ahead)};
  int need = 0;
  for (const PreparedConv& t : tails) need = std::max(need, t.k / 2);
  g.halo[n] = aligned(n - 1, need);
  for (int t = 0; t < nt; ++t) {
    g.tail_skip[t] = g.halo[n] - tails[t].k / 2;
    g.tail_ring[t] = tails[t].wino ? tails[t].wino : 1;
  }
  g.ring[n] = last.behind + last.ahead + 1 + extra(n - 1);
  for (int L = n - 2; L >= -1; --L) {
    need = g.halo[L + 2] + convs[L + 1].k / 2;
    g.halo[L + 1] = aligned(L, need);
    g.skip[L + 1] = g.halo[L + 1] - need;
    const Reach r = reach(convs[L + 1]);
    g.ring[L + 1] = r.behind + r.ahead + 1 + extra(L);
  }
  for (int L = 0; L < n; ++L) g.channels[L + 1] = convs[L].cout;
  return g;
}

// Tile shape: strips wide enough that halos cost little, narrow enough that the rings of all
// layers stay in cache; bands so that every thread gets a tile.
// area: the LR rows and columns to compute (the whole image, or a region's).
void plan_tiles(Geometry& g, const std::vector<PreparedConv>& tails, int threads, int tile_rows, int tile_cols,
                const Box& area) {
  const int area_rows = area.row1 - area.row0, area_cols = area.col1 - area.col0;
  constexpr std::size_t kCacheBudget = 2048 * 1024;
  std::size_t floats_per_col = 0;
  for (std::size_t i = 0; i < g.channels.size(); ++i) floats_per_col += static_cast<std::size_t>(g.channels[i]) * g.ring[i];
  for (std::size_t t = 0; t < tails.size(); ++t) floats_per_col += static_cast<std::size_t>(tails[t].cout) * g.tail_ring[t];
  if (tile_cols <= 0) {
    const int fit = static_cast<int>(kCacheBudget / (floats_per_col * sizeof(float))) - 2 * g.halo[0];
    tile_cols = std::max(64, fit);
    const int strips = (area_cols + tile_cols - 1) / tile_cols;
    tile_cols = round_up((area_cols + strips - 1) / strips, kVec);  // equal strips
  }
  g.tile_cols = std::min(round_up(tile_cols, kAlign), area_cols);
  g.band_start.clear();
  // One band per thread (fewest halo rows recomputed: every band recomputes its halo in every layer).
  // Balance under contention is not left to more, smaller tiles: see ContentionGate (executor.cpp).
  const int strips = (area_cols + g.tile_cols - 1) / g.tile_cols;
  const int bands = std::clamp((threads + strips - 1) / strips, 1, std::max(1, area_rows / 16));
  const int step = tile_rows > 0 ? tile_rows : (area_rows + bands - 1) / bands;
  for (int r = area.row0, h = std::min(round_up(step, kAlign), area_rows); r < area.row1; r += h)
    g.band_start.push_back(r);
  g.band_start.push_back(area.row1);
}

// A ring of row slots: rows of `channels` channel rows of `cstride` floats each.
struct Ring {
  std::pmr::vector<float> data;
  std::ptrdiff_t cstride = 0;
  int channels = 0, rows = 1;

  Ring(int channels_, int rows_, int width, std::pmr::memory_resource* mem)
      : data(mem), cstride(round_up(width + kSlack, kVec)), channels(channels_), rows(rows_) {
    data.assign(slot_floats() * rows, 0.0f);
  }
  std::size_t slot_floats() const { return static_cast<std::size_t>(channels) * cstride; }
  float* slot(int y) { return data.data() + static_cast<std::size_t>(y % rows) * slot_floats(); }
};

// Per-thread scratch: the rings of every level and tail, zero slots (zero border beyond the image),
// a slot for Winograd rows past the image's last row, and the Winograd transform buffers.
struct Scratch {
  std::vector<Ring> levels, zeros, tails;
  std::pmr::vector<float> discard, winograd;
  std::vector<int> next;       // [L + 1]: next row of level L to produce in this tile
  std::vector<int> tail_next;  // [t]
  std::vector<const float*> window;
  std::vector<float*> out_rows;
  std::vector<const float*> phases;
  std::unique_ptr<FrameTile> frame;  // run_frame: the image's rows in, the caller's output rows out

  Scratch(const Geometry& g, const std::vector<PreparedConv>& convs, const std::vector<PreparedConv>& tail_convs,
          int max_scale, const FrameJob* job, const KernelTable& kt, std::pmr::memory_resource* mem)
      : discard(mem), winograd(mem), next(g.channels.size()), tail_next(tail_convs.size()), window(32), out_rows(max_scale),
        phases(static_cast<std::size_t>(max_scale) * max_scale),
        frame(job ? std::make_unique<FrameTile>(*job, kt, g.tile_cols, g.tile_cols + 2 * g.halo[0], mem) : nullptr) {
    std::size_t discard_floats = 0, wino_floats = 0;
    const auto winograd_needs = [&](const PreparedConv& c, const Ring& out) {
      if (!c.wino) return;
      discard_floats = std::max(discard_floats, out.slot_floats());
      wino_floats = std::max(wino_floats, kernels::wino_scratch_floats(c.wino, c.cin, c.cout));
    };
    for (std::size_t i = 0; i < g.channels.size(); ++i) {
      const int width = g.tile_cols + 2 * g.halo[i];
      levels.emplace_back(g.channels[i], g.ring[i], width, mem);
      zeros.emplace_back(g.channels[i], 1, width, mem);
      if (i > 0) winograd_needs(convs[i - 1], levels.back());
    }
    for (std::size_t t = 0; t < tail_convs.size(); ++t) {
      tails.emplace_back(tail_convs[t].cout, g.tail_ring[t], g.tile_cols, mem);
      winograd_needs(tail_convs[t], tails.back());
    }
    discard.assign(discard_floats, 0.0f);
    winograd.assign(wino_floats, 0.0f);
  }
};

class TileRunner {
 public:
  // region: what input holds and where outputs go (the whole image when no region is asked).
  TileRunner(const Network& net, const Geometry& g, const KernelTable& kt, const float* input,
             const std::vector<float*>& outputs, Scratch& s, const CancelFlag* cancel, const Region& region)
      : convs_(net.convs()), tails_(net.tail_convs()), net_(net), g_(g), kt_(kt), input_(input), outputs_(outputs),
        s_(s), n_(static_cast<int>(convs_.size())), cancel_(cancel), region_(region) {}

  void run(int row0, int row1, int col0) {
    col0_ = col0;
    width_ = std::min(g_.tile_cols, region_.col1 - col0);
    if (s_.frame) s_.frame->start(col0_, width_);
    for (int L = -1; L < n_; ++L) s_.next[L + 1] = std::max(0, row0 - g_.halo[L + 1]);
    for (std::size_t t = 0; t < tails_.size(); ++t) s_.tail_next[t] = row0;
    // A stop request is honoured between output rows: a row of a tile takes well under a millisecond.
    for (int y = row0; y < row1 && !stop_requested(cancel_); ++y)
      for (int t = 0; t < static_cast<int>(tails_.size()); ++t) {
        if (!outputs_[t]) continue;
        ensure_tail(t, y);
        emit(t, y);
      }
  }

 private:
  // Columns [lo, hi) of a level's row (of `width` columns, `halo` beyond the tile) lie inside the image:
  // only those are computed.
  struct Span {
    int lo, hi, width;
  };
  Span inside(int halo) const {
    const int first = col0_ - halo;  // global column of row[0]
    const int width = width_ + 2 * halo;
    return {std::max(0, -first), std::min(width, g_.cols - first), width};
  }

  float* slot(int L, int y) { return s_.levels[L + 1].slot(y); }

  // Row y of level L as its consumers see it: the border mode decides rows outside the image.
  const float* row_of(int L, int y) {
    if (y >= 0 && y < g_.rows) return slot(L, y);
    if (consumer_border(L) == Border::Zero) return s_.zeros[L + 1].data.data();
    return slot(L, std::clamp(y, 0, g_.rows - 1));
  }

  // Border of the consumers of level L (tails share one: the Network checks it).
  Border consumer_border(int L) const { return L + 1 < n_ ? convs_[L + 1].border : tails_[0].border; }

  void ensure(int L, int target) {
    target = std::min(target, g_.rows - 1);
    while (s_.next[L + 1] <= target) {
      const int y = s_.next[L + 1];
      if (L < 0) {
        load_input_row(y);
        ++s_.next[0];
        continue;
      }
      const PreparedConv& conv = convs_[L];
      const int group = conv.wino ? conv.wino : 1;  // Winograd: rows y .. y + m - 1 (y is a multiple of m)
      ensure(L - 1, y + reach(conv).ahead);
      float* outs[4];
      for (int i = 0; i < group; ++i) outs[i] = y + i < g_.rows ? slot(L, y + i) : s_.discard.data();
      compute(conv, L - 1, g_.skip[L], y, outs, inside(g_.halo[L + 1]), s_.levels[L + 1].cstride);
      for (int i = 0; i < group && y + i < g_.rows; ++i) fill_columns(L, outs[i]);
      s_.next[L + 1] += group;
    }
  }

  void ensure_tail(int t, int y) {
    const PreparedConv& conv = tails_[t];
    const int group = conv.wino ? conv.wino : 1;
    while (s_.tail_next[t] <= y) {
      const int yy = s_.tail_next[t];
      ensure(n_ - 1, yy + reach(conv).ahead);
      float* outs[4];
      for (int i = 0; i < group; ++i) outs[i] = yy + i < g_.rows ? s_.tails[t].slot(yy + i) : s_.discard.data();
      compute(conv, n_ - 1, g_.tail_skip[t], yy, outs, inside(0), s_.tails[t].cstride);
      s_.tail_next[t] += group;
    }
  }

  // One row (direct) or one Winograd row group of conv's output, from level `in`, columns span.
  void compute(const PreparedConv& conv, int in, int skip, int y, float* const* outs, Span span,
               std::ptrdiff_t out_cstride) {
    const Reach r = reach(conv);
    const int window = r.behind + r.ahead + 1;
    for (int i = 0; i < window; ++i) s_.window[i] = row_of(in, y - r.behind + i) + skip + span.lo;
    const std::ptrdiff_t in_cstride = s_.levels[in + 1].cstride;
    if (conv.wino) {  // span.lo is a multiple of m: so are tile columns and the halo
      kernels::ConvRowGroup group{s_.window.data(), in_cstride, {}, out_cstride, span.hi - span.lo, s_.winograd.data()};
      for (int i = 0; i < conv.wino; ++i) group.out[i] = outs[i] + span.lo;
      (conv.wino == 2 ? kt_.conv3x3_wino2x2 : kt_.conv3x3_wino4x4)(conv.winograd_view(), group);
    } else {
      kt_.conv_row(conv.view(), {s_.window.data(), in_cstride, outs[0] + span.lo, out_cstride, span.hi - span.lo});
    }
  }

  // Columns outside the image get the consumer's border mode. Past the image's right edge that goes
  // kOverhang columns beyond the row: a Winograd consumer's last block may overhang the edge, and
  // although its outputs there are discarded, every input of a block enters every output of it
  // through the transforms (exactly cancelled in real arithmetic, not in rounding), so those inputs
  // must be the same whatever the tiling.
  void fill_columns(int L, float* row) {
    constexpr int kOverhang = 8;  // >= (m - 1) + 2 + skip for m <= 4 (kSlack leaves room)
    const auto [lo, hi, width] = inside(g_.halo[L + 1]);
    if (lo == 0 && hi == width) return;
    const int end = hi < width ? width + kOverhang : width;
    const bool zero = consumer_border(L) == Border::Zero;
    for (int c = 0; c < g_.channels[L + 1]; ++c) {
      float* r = row + c * s_.levels[L + 1].cstride;
      std::fill(r, r + lo, zero ? 0.0f : r[lo]);
      std::fill(r + hi, r + end, zero ? 0.0f : r[hi - 1]);
    }
  }

  void load_input_row(int y) {
    float* dst = slot(-1, y);
    const auto [lo, hi, width] = inside(g_.halo[0]);
    const int first = col0_ - g_.halo[0];
    // needed_input() was checked against the input given before the run: this only guards that.
    if (y < region_.in_row0 || y >= region_.in_row0 + region_.in_rows || first + lo < region_.in_col0 ||
        first + hi > region_.in_col0 + region_.in_cols)
      throw std::logic_error("a region run reads input outside what was given");
    if (s_.frame) {
      s_.frame->load_y(y, first + lo, hi - lo, dst + lo);
    } else {
      const float* src = input_ + static_cast<std::size_t>(y - region_.in_row0) * region_.in_cols - region_.in_col0;
      std::copy(src + first + lo, src + first + hi, dst + lo);
    }
    fill_columns(-1, dst);
  }

  void emit(int t, int y) {
    const int s = net_.scale(t);
    const std::size_t out_cols = static_cast<std::size_t>(region_.col1 - region_.col0) * s;
    for (int a = 0; a < s; ++a)
      s_.out_rows[a] = s_.frame ? s_.frame->y_row(a)
                                : outputs_[t] + (static_cast<std::size_t>(y - region_.row0) * s + a) * out_cols +
                                      static_cast<std::size_t>(col0_ - region_.col0) * s;
    const float* row = s_.tails[t].slot(y);
    for (int p = 0; p < s * s; ++p) s_.phases[p] = row + tails_[t].position[p] * s_.tails[t].cstride;
    kt_.shuffle_row({s_.phases.data(), s_.out_rows.data(), s, width_});
    if (s_.frame) s_.frame->emit(t, y);
  }

  const std::vector<PreparedConv>& convs_;
  const std::vector<PreparedConv>& tails_;
  const Network& net_;
  const Geometry& g_;
  const KernelTable& kt_;
  const float* input_;
  const std::vector<float*>& outputs_;
  Scratch& s_;
  const int n_;
  const CancelFlag* cancel_;
  const Region& region_;
  int col0_ = 0, width_ = 0;
};

// The last input row a band of LR output rows [row0, row1) loads: TileRunner's ensure() chain, rows only.
int last_input_row(const std::vector<PreparedConv>& convs, const std::vector<PreparedConv>& tails, const Geometry& g,
                   int row0, int row1) {
  const int n = static_cast<int>(convs.size());
  std::vector<int> next(n + 1);
  for (int L = -1; L < n; ++L) next[L + 1] = std::max(0, row0 - g.halo[L + 1]);
  int last = -1;
  std::function<void(int, int)> ensure = [&](int L, int target) {
    target = std::min(target, g.rows - 1);
    while (next[L + 1] <= target) {
      const int y = next[L + 1];
      if (L < 0) {
        last = y;
        ++next[0];
        continue;
      }
      ensure(L - 1, y + reach(convs[L]).ahead);
      next[L + 1] += convs[L].wino ? convs[L].wino : 1;
    }
  };
  for (const PreparedConv& tail : tails) {
    const int group = tail.wino ? tail.wino : 1;
    for (int y = row0; y < row1; y += group) ensure(n - 1, y + reach(tail).ahead);
  }
  return last;
}

// The image rows (or columns) [lo, hi] the bicubic of output pixels [first, last) of one axis reads.
std::pair<int, int> bicubic_reach(int in_len, int scale, int first, int last) {
  const BicubicTaps taps = bicubic_taps(in_len, scale);
  int lo = in_len, hi = -1;
  for (int k = 0; k < taps.taps; ++k)
    for (int x = first; x < last; ++x) {
      const int i = taps.index[static_cast<std::size_t>(k) * taps.out_len + x];
      lo = std::min(lo, i);
      hi = std::max(hi, i);
    }
  return {lo, hi};
}

}  // namespace

Box Network::needed_input(int rows, int cols, const Box& r, bool colour, int pre_upsample) const {
  if (pre_upsample) {  // the network's input at the output's size, then what its bicubic reads
    const int s = pre_upsample;
    const Box hr = needed_input(rows * s, cols * s, Box{r.row0 * s, r.row1 * s, r.col0 * s, r.col1 * s}, false);
    const auto [r_lo, r_hi] = bicubic_reach(rows, s, hr.row0, hr.row1);
    const auto [c_lo, c_hi] = bicubic_reach(cols, s, hr.col0, hr.col1);
    Box need{r_lo, r_hi + 1, c_lo, c_hi + 1};
    if (colour) {  // the chroma's reach (within Y's: the network's input holds the region)
      const auto [cr_lo, cr_hi] = bicubic_reach(rows, s, r.row0 * s, r.row1 * s);
      const auto [cc_lo, cc_hi] = bicubic_reach(cols, s, r.col0 * s, r.col1 * s);
      need = {std::min(need.row0, cr_lo), std::max(need.row1, cr_hi + 1), std::min(need.col0, cc_lo),
              std::max(need.col1, cc_hi + 1)};
    }
    return need;
  }
  const Geometry g = make_geometry(convs_, tails_, rows, cols);
  Box need{std::max(0, r.row0 - g.halo[0]), last_input_row(convs_, tails_, g, r.row0, r.row1) + 1,
           std::max(0, r.col0 - g.halo[0]), std::min(cols, r.col1 + g.halo[0])};
  if (colour)
    for (int s : scales_) {
      const auto [r_lo, r_hi] = bicubic_reach(rows, s, r.row0 * s, r.row1 * s);
      const auto [c_lo, c_hi] = bicubic_reach(cols, s, r.col0 * s, r.col1 * s);
      need = {std::min(need.row0, r_lo), std::max(need.row1, r_hi + 1), std::min(need.col0, c_lo),
              std::max(need.col1, c_hi + 1)};
    }
  return need;
}

int Network::halo(int pre_upsample) const {
  // A region well inside a large image, aligned as regions are: every reach is at its widest there.
  constexpr int kSide = 1024, kFirst = 256, kLast = 512;
  const Box need = needed_input(kSide, kSide, Box{kFirst, kLast, kFirst, kLast}, true, pre_upsample);
  return std::max({kFirst - need.row0, need.row1 - kLast, kFirst - need.col0, need.col1 - kLast});
}

void Network::run(const float* input, int rows, int cols, const std::vector<float*>& outputs,
                  const RunOptions& options) const {
  if (outputs.size() != tails_.size()) throw std::invalid_argument("one output (or nullptr) per tail");
  if (std::none_of(outputs.begin(), outputs.end(), [](float* p) { return p != nullptr; }))
    throw std::invalid_argument("no output requested");
  run_tiled(input, nullptr, rows, cols, outputs, options);
}

void Network::run_frame(const FrameImage& image, const std::vector<FrameOutput>& outputs, const RunOptions& options,
                        int pre_upsample) const {
  if (outputs.size() != tails_.size()) throw std::invalid_argument("one output (or nullptr) per tail");
  if (std::none_of(outputs.begin(), outputs.end(), [](const FrameOutput& o) { return o.data != nullptr; }))
    throw std::invalid_argument("no output requested");
  if (!image.data) throw std::invalid_argument("no image");
  const bool pre = pre_upsample != 0;
  if (pre) {
    if (pre_upsample < 2) throw std::invalid_argument("pre_upsample must be >= 2 (or 0: none)");
    if (tails_.size() != 1 || scales_[0] != 1)
      throw std::invalid_argument("pre_upsample needs a network that keeps its input's size (SRCNN)");
    if (image.rows > kMaxSide / pre_upsample || image.cols > kMaxSide / pre_upsample)
      throw std::invalid_argument("image is too large");
  } else {
    for (int s : scales_)
      if (s < 2) throw std::invalid_argument("run_frame needs an upscaling network (scale >= 2) or pre_upsample");
  }
  const std::vector<int> scales = pre ? std::vector<int>{pre_upsample} : scales_;
  FrameImage img = image;
  std::vector<FrameOutput> outs = outputs;
  if (options.region) {  // the given part of the image and of each output
    img.origin_row = options.region->in_row0;
    img.origin_col = options.region->in_col0;
    for (std::size_t t = 0; t < outs.size(); ++t) {
      outs[t].origin_row = options.region->row0 * scales[t];
      outs[t].origin_col = options.region->col0 * scales[t];
    }
  }
  const FrameJob job(img, outs, scales, pre);
  const std::vector<float*> none(tails_.size(), nullptr);
  // Pre-upsampled, the network runs at the output's size: FrameTile makes its input rows.
  const int grid = pre ? pre_upsample : 1;
  if (pre && options.region) {
    // The pipeline's region is in output pixels, its input (FrameTile's upscaled Y) the whole upscaled
    // plane: what that reads of the image is checked here, against the part given.
    const Region& r = *options.region;
    if (!(0 <= r.row0 && r.row0 < r.row1 && r.row1 <= image.rows && 0 <= r.col0 && r.col0 < r.col1 &&
          r.col1 <= image.cols))
      throw std::invalid_argument("region must be a non-empty part of the image");
    const Box need = needed_input(image.rows, image.cols, Box{r.row0, r.row1, r.col0, r.col1}, job.planes > 0,
                                  pre_upsample);
    if (r.in_row0 > need.row0 || r.in_row0 + r.in_rows < need.row1 || r.in_col0 > need.col0 ||
        r.in_col0 + r.in_cols < need.col1)
      throw std::invalid_argument("the input given does not hold what the region needs (see needed_input)");
    const int hr_rows = image.rows * grid, hr_cols = image.cols * grid;
    const Region hr{r.row0 * grid, r.row1 * grid, r.col0 * grid, r.col1 * grid, 0, 0, hr_rows, hr_cols};
    RunOptions hr_options = options;
    hr_options.region = &hr;
    run_tiled(nullptr, &job, hr_rows, hr_cols, none, hr_options);
    return;
  }
  run_tiled(nullptr, &job, image.rows * grid, image.cols * grid, none, options);
}

void Network::run_tiled(const float* input, const FrameJob* job, int rows, int cols,
                        const std::vector<float*>& outputs, const RunOptions& options) const {
  if (rows < 1 || cols < 1) throw std::invalid_argument("image must not be empty");
  const int max_scale = *std::max_element(scales_.begin(), scales_.end());
  if (rows > kMaxSide / max_scale || cols > kMaxSide / max_scale) throw std::invalid_argument("image is too large");
  const KernelTable& kt = options.table ? *options.table : default_table();
  // Results are bitwise identical for any tiling and thread count, so neither the thread budget nor
  // the contention gate can change them, only the time they take.
  const int threads = Team::parallel_allowed() ? std::max(1, options.threads) : 1;

  Geometry g = make_geometry(convs_, tails_, rows, cols);
  const Region region = options.region ? *options.region : Region{0, rows, 0, cols, 0, 0, rows, cols};
  if (options.region) {
    const Region& r = region;
    if (!(0 <= r.row0 && r.row0 < r.row1 && r.row1 <= rows && 0 <= r.col0 && r.col0 < r.col1 && r.col1 <= cols))
      throw std::invalid_argument("region must be a non-empty part of the image");
    const auto aligned = [](int v, int edge) { return v % kRegionAlign == 0 || v == edge; };
    if (!aligned(r.row0, rows) || !aligned(r.row1, rows) || !aligned(r.col0, cols) || !aligned(r.col1, cols))
      throw std::invalid_argument("region sides must be multiples of " + std::to_string(kRegionAlign) +
                                  " or the image's edges");
    const Box need = needed_input(rows, cols, Box{r.row0, r.row1, r.col0, r.col1},
                                  job && job->planes && !job->pre_upsampled);  // pre-upsampled: run_frame checks
    if (r.in_row0 > need.row0 || r.in_row0 + r.in_rows < need.row1 || r.in_col0 > need.col0 ||
        r.in_col0 + r.in_cols < need.col1)
      throw std::invalid_argument("the input given does not hold what the region needs (see needed_input)");
  }
  plan_tiles(g, tails_, threads, options.tile_rows, options.tile_cols,
             Box{region.row0, region.row1, region.col0, region.col1});
  const int strips = (region.col1 - region.col0 + g.tile_cols - 1) / g.tile_cols;
  const int bands = static_cast<int>(g.band_start.size()) - 1;
  const int tiles = strips * bands;
  Team team(std::min(threads, tiles));

  // Scratch is allocated before the team starts so that an allocation failure surfaces as
  // MemoryError here, with no worker running; from memory kept between calls (scratch_memory.h),
  // which the lease (declared first, so destroyed last) returns when the call ends.
  ScratchMemory::Lease memory(*scratch_memory_);
  std::vector<Scratch> scratch;
  scratch.reserve(team.size());
  for (int t = 0; t < team.size(); ++t) scratch.emplace_back(g, convs_, tails_, max_scale, job, kt, &memory);
  // Which tails to produce: the non-null planes, or the frame's wanted outputs (then only a marker:
  // TileRunner never writes through it, FrameTile writes the caller's array).
  std::vector<float*> wanted = outputs;
  if (job)
    for (std::size_t t = 0; t < wanted.size(); ++t)
      wanted[t] = job->outputs[t].data ? reinterpret_cast<float*>(job->outputs[t].data) : nullptr;

  // The one parallel loop over tiles, for planes and frames alike.
  team.run(
      tiles,
      [&](int t, int worker) {
        const int band = t / strips, strip = t % strips;
        TileRunner runner(*this, g, kt, input, wanted, scratch[worker], options.cancel, region);
        runner.run(g.band_start[band], g.band_start[band + 1], region.col0 + strip * g.tile_cols);
      },
      options.cancel);
}

}  // namespace fsrcnn
