// The fused, tiled pipeline. The image is cut into tiles of LR output (a band of rows x a strip of
// columns); each tile streams through the whole layer chain row by row, every layer keeping only
// the k rows its consumer's k x k window needs in a small ring. So no full-size feature map is ever
// allocated: extra memory is O(threads x tile width x channels). Border modes are applied where a
// row or column falls outside the real image, never at a tile edge, and every output pixel is
// computed by the same arithmetic whatever the tiling: results are bitwise identical for any tile
// size and thread count. A Winograd F(m x m) layer computes blocks of m x m pixels at image rows and
// columns that are multiples of m (tiles start at multiples of 4, and its halos are multiples of m),
// so its blocks too are the same whatever the tiling.
#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "network.h"
#include "thread_budget.h"

namespace fsrcnn {
namespace {

constexpr int kVec = 8;    // widest SIMD vector (floats)
constexpr int kSlack = 48;  // floats past a row's width that kernels may read or write (kernels.h)
constexpr int kAlign = 4;   // tiles start at multiples of the largest Winograd tile
int round_up(int v, int m) { return (v + m - 1) / m * m; }

struct Geometry {
  int rows, cols;                // image (network input) size
  int tile_cols;                 // LR output tile width
  std::vector<int> band_start;   // LR output rows of the tiles' bands: [band_start[i], band_start[i + 1])
  std::vector<int> halo;         // halo[L + 1]: columns/rows layer L's output reaches beyond a tile (L = -1: input)
  std::vector<int> channels;     // channels[L + 1]
  std::vector<int> ring;         // ring[L + 1]: rows kept of layer L's output
  std::vector<int> skip;         // skip[L]: columns of layer L's input rows left of what its output needs
};

Geometry make_geometry(const std::vector<PreparedConv>& convs, int rows, int cols) {
  const int n = static_cast<int>(convs.size());
  Geometry g{rows, cols, 0, {}, std::vector<int>(n + 1, 0), std::vector<int>(n + 1, 1), std::vector<int>(n + 1, 1),
             std::vector<int>(n, 0)};
  for (int L = n - 2; L >= -1; --L) {
    const int need = g.halo[L + 2] + convs[L + 1].k / 2;
    g.halo[L + 1] = L >= 0 && convs[L].wino ? round_up(need, convs[L].wino) : need;  // blocks at multiples of m
    g.skip[L + 1] = g.halo[L + 1] - need;
  }
  for (int L = 0; L < n; ++L) g.channels[L + 1] = convs[L].cout;
  // A consumer's window is k rows (m + 2 for a Winograd group of m rows, 1 for the output shuffle);
  // a Winograd producer may run m - 1 rows ahead of it.
  for (int L = -1; L < n; ++L) {
    const int window = L + 1 == n ? 1 : convs[L + 1].wino ? convs[L + 1].wino + 2 : convs[L + 1].k;
    g.ring[L + 1] = window + (L >= 0 && convs[L].wino ? convs[L].wino - 1 : 0);
  }
  return g;
}

// Tile shape: strips wide enough that halos cost little, narrow enough that the rings of all
// layers stay in cache; bands so that every thread gets a tile.
void plan_tiles(Geometry& g, int threads, int tile_rows, int tile_cols) {
  constexpr std::size_t kL2Budget = 2048 * 1024;
  std::size_t floats_per_col = 0;
  for (std::size_t i = 0; i < g.channels.size(); ++i) floats_per_col += static_cast<std::size_t>(g.channels[i]) * g.ring[i];
  if (tile_cols <= 0) {
    const int fit = static_cast<int>(kL2Budget / (floats_per_col * sizeof(float))) - 2 * g.halo[0];
    tile_cols = std::max(64, fit);
    const int strips = (g.cols + tile_cols - 1) / tile_cols;
    tile_cols = round_up((g.cols + strips - 1) / strips, kVec);  // equal strips
  }
  g.tile_cols = std::min(round_up(tile_cols, kAlign), g.cols);
  g.band_start.clear();
  // One band per thread (fewest halo rows recomputed: every band recomputes its halo in every layer).
  // Balance under contention is not left to more, smaller tiles: see ContentionGate.
  const int strips = (g.cols + g.tile_cols - 1) / g.tile_cols;
  const int bands = std::clamp((threads + strips - 1) / strips, 1, std::max(1, g.rows / 16));
  const int step = tile_rows > 0 ? tile_rows : (g.rows + bands - 1) / bands;
  for (int r = 0, h = std::min(round_up(step, kAlign), g.rows); r < g.rows; r += h) g.band_start.push_back(r);
  g.band_start.push_back(g.rows);
}

// Per-thread scratch: one ring of row slots per layer output (and the input), a zero slot, a slot
// for Winograd rows past the image's last row, and the Winograd transform buffers.
struct Scratch {
  std::vector<std::vector<float>> slots;  // [L + 1]: ring[L + 1] slots of channels x cstride
  std::vector<std::vector<float>> zeros;  // [L + 1]: one zero slot (zero border beyond the image)
  std::vector<std::ptrdiff_t> cstride;    // [L + 1]
  std::vector<float> discard;             // a Winograd group's rows past the image
  std::vector<float> winograd;            // transform buffers (kernels.h)
  std::vector<int> next;                  // [L + 1]: next row to produce in this tile
  std::vector<const float*> window;       // k row pointers for a kernel call
  std::vector<float*> out_rows;           // scale row pointers for the shuffle
  std::vector<const float*> phases;       // scale^2 phase row pointers for the shuffle

  Scratch(const Geometry& g, const std::vector<PreparedConv>& convs, int scale) {
    const std::size_t n = g.channels.size();
    slots.resize(n);
    zeros.resize(n);
    cstride.resize(n);
    next.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      const int width = g.tile_cols + 2 * g.halo[i];
      cstride[i] = round_up(width + kSlack, kVec);
      const std::size_t slot = static_cast<std::size_t>(g.channels[i]) * cstride[i];
      slots[i].assign(slot * g.ring[i], 0.0f);
      zeros[i].assign(slot, 0.0f);
      if (i > 0 && convs[i - 1].wino) {
        const PreparedConv& c = convs[i - 1];
        discard.resize(std::max(discard.size(), slot));
        winograd.resize(std::max(winograd.size(), kernels::wino_scratch_floats(c.wino, c.cin, c.cout)));
      }
    }
    window.resize(32);
    out_rows.resize(scale);
    phases.resize(static_cast<std::size_t>(scale) * scale);
  }
};

class TileRunner {
 public:
  TileRunner(const std::vector<PreparedConv>& convs, const Geometry& g, const KernelTable& kt, int scale,
             const float* input, float* output, Scratch& s)
      : convs_(convs), g_(g), kt_(kt), scale_(scale), input_(input), output_(output), s_(s) {}

  void run(int row0, int row1, int col0) {
    col0_ = col0;
    width_ = std::min(g_.tile_cols, g_.cols - col0);
    const int n = static_cast<int>(convs_.size());
    for (int L = -1; L < n; ++L) s_.next[L + 1] = std::max(0, row0 - g_.halo[L + 1]);
    for (int y = row0; y < row1; ++y) {
      ensure(n - 1, y);
      emit(y);
    }
  }

 private:
  float* slot(int L, int y) {
    const std::size_t size = static_cast<std::size_t>(g_.channels[L + 1]) * s_.cstride[L + 1];
    return s_.slots[L + 1].data() + static_cast<std::size_t>(y % g_.ring[L + 1]) * size;
  }

  // Row y of layer L's output as its consumer sees it: the border mode decides rows outside the image.
  const float* row_of(int L, int y, Border border) {
    if (y >= 0 && y < g_.rows) return slot(L, y);
    if (border == Border::Zero) return s_.zeros[L + 1].data();
    return slot(L, std::clamp(y, 0, g_.rows - 1));
  }

  // Border of the consumer of layer L (the input's consumer is layer 0).
  Border consumer_border(int L) const { return convs_[L + 1].border; }

  void ensure(int L, int target) {
    target = std::min(target, g_.rows - 1);
    while (s_.next[L + 1] <= target) {
      const int y = s_.next[L + 1];
      if (L < 0) {
        load_input_row(y);
      } else if (const int m = convs_[L].wino) {  // rows y .. y + m - 1 (y is a multiple of m)
        ensure(L - 1, y + m);
        compute_group(L, y);
        s_.next[L + 1] += m - 1;
      } else {
        ensure(L - 1, y + convs_[L].k / 2);
        compute_row(L, y);
      }
      ++s_.next[L + 1];
    }
  }

  // Columns [lo, hi) of layer L's output row lie inside the image: only those are computed.
  struct Span {
    int lo, hi, width;
  };
  Span inside(int L) const {
    const int halo = g_.halo[L + 1];
    const int first = col0_ - halo;  // global column of row[0]
    const int width = width_ + 2 * halo;
    return {std::max(0, -first), std::min(width, g_.cols - first), width};
  }

  // Columns outside the image get the consumer's border mode. Past the image's right edge that goes
  // kOverhang columns beyond the row: a Winograd consumer's last block may overhang the edge, and
  // although its outputs there are discarded, every input of a block enters every output of it
  // through the transforms (exactly cancelled in real arithmetic, not in rounding), so those inputs
  // must be the same whatever the tiling.
  void fill_columns(int L, float* row) {
    constexpr int kOverhang = 8;  // >= (m - 1) + 2 + skip for m <= 4 (kSlack leaves room)
    const auto [lo, hi, width] = inside(L);
    if (lo == 0 && hi == width) return;
    const int end = hi < width ? width + kOverhang : width;
    const bool zero = consumer_border(L) == Border::Zero;
    for (int c = 0; c < g_.channels[L + 1]; ++c) {
      float* r = row + c * s_.cstride[L + 1];
      std::fill(r, r + lo, zero ? 0.0f : r[lo]);
      std::fill(r + hi, r + end, zero ? 0.0f : r[hi - 1]);
    }
  }

  void load_input_row(int y) {
    float* dst = slot(-1, y);
    const int halo = g_.halo[0];
    const int first = col0_ - halo;
    const int lo = std::max(0, -first), hi = std::min(width_ + 2 * halo, g_.cols - first);
    const float* src = input_ + static_cast<std::size_t>(y) * g_.cols;
    std::copy(src + first + lo, src + first + hi, dst + lo);
    fill_columns(-1, dst);
  }

  void compute_row(int L, int y) {
    const PreparedConv& conv = convs_[L];
    const int r = conv.k / 2;
    const Span span = inside(L);
    for (int ky = 0; ky < conv.k; ++ky)
      s_.window[ky] = row_of(L - 1, y - r + ky, conv.border) + g_.skip[L] + span.lo;
    float* out = slot(L, y);
    const kernels::ConvRow row{s_.window.data(), s_.cstride[L], out + span.lo, s_.cstride[L + 1], span.hi - span.lo};
    kt_.conv_row(conv.view(), row);
    if (L + 1 < static_cast<int>(convs_.size())) fill_columns(L, out);
  }

  void compute_group(int L, int y) {
    const PreparedConv& conv = convs_[L];
    const int m = conv.wino;
    const Span span = inside(L);  // span.lo is a multiple of m: so are tile columns and the halo
    for (int i = 0; i < m + 2; ++i) s_.window[i] = row_of(L - 1, y - 1 + i, conv.border) + g_.skip[L] + span.lo;
    kernels::ConvRowGroup group{s_.window.data(), s_.cstride[L], {}, s_.cstride[L + 1], span.hi - span.lo,
                                s_.winograd.data()};
    for (int i = 0; i < m; ++i) group.out[i] = (y + i < g_.rows ? slot(L, y + i) : s_.discard.data()) + span.lo;
    (m == 2 ? kt_.conv3x3_wino2x2 : kt_.conv3x3_wino4x4)(conv.winograd_view(), group);
    if (L + 1 < static_cast<int>(convs_.size()))
      for (int i = 0; i < m && y + i < g_.rows; ++i) fill_columns(L, slot(L, y + i));
  }

  void emit(int y) {
    const int last = static_cast<int>(convs_.size()) - 1;
    const std::size_t out_cols = static_cast<std::size_t>(g_.cols) * scale_;
    for (int a = 0; a < scale_; ++a)
      s_.out_rows[a] = output_ + (static_cast<std::size_t>(y) * scale_ + a) * out_cols + static_cast<std::size_t>(col0_) * scale_;
    const float* row = slot(last, y);
    for (int p = 0; p < scale_ * scale_; ++p) s_.phases[p] = row + convs_[last].position[p] * s_.cstride[last + 1];
    kt_.shuffle_row({s_.phases.data(), s_.out_rows.data(), scale_, width_});
  }

  const std::vector<PreparedConv>& convs_;
  const Geometry& g_;
  const KernelTable& kt_;
  const int scale_;
  const float* input_;
  float* output_;
  Scratch& s_;
  int col0_ = 0, width_ = 0;
};

}  // namespace

void Network::run(const float* input, int rows, int cols, float* output, const RunOptions& options) const {
  if (rows < 1 || cols < 1) throw std::invalid_argument("image must not be empty");
  constexpr int kMaxSide = 1 << 20;
  if (rows > kMaxSide / scale_ || cols > kMaxSide / scale_) throw std::invalid_argument("image is too large");
  const KernelTable& kt = options.table ? *options.table : default_table();
  // Results are bitwise identical for any tiling and thread count, so neither the lease nor the
  // contention gate can change them, only the time they take.
  const ContentionGate::Ticket ticket;
  const int threads = ticket.parallel() ? std::max(1, options.threads) : 1;

  Geometry g = make_geometry(convs_, rows, cols);
  plan_tiles(g, threads, options.tile_rows, options.tile_cols);
  const int strips = (cols + g.tile_cols - 1) / g.tile_cols;
  const int bands = static_cast<int>(g.band_start.size()) - 1;
  const int tiles = strips * bands;
  const ThreadLease lease(std::min(threads, tiles));
#ifdef _OPENMP
  const int team = lease.threads();
#else
  const int team = 1;
#endif

  // Scratch is allocated before the parallel region so that an allocation failure surfaces
  // as MemoryError here, not inside OpenMP.
  std::vector<Scratch> scratch;
  scratch.reserve(team);
  for (int t = 0; t < team; ++t) scratch.emplace_back(g, convs_, scale_);

  const auto run_tile = [&](int t, Scratch& s) {
    const int band = t / strips, strip = t % strips;
    TileRunner runner(convs_, g, kt, scale_, input, output, s);
    runner.run(g.band_start[band], g.band_start[band + 1], strip * g.tile_cols);
  };
  if (team == 1) {
    for (int t = 0; t < tiles; ++t) run_tile(t, scratch[0]);
    return;
  }
  const double start = ContentionGate::wall_seconds();
  double cpu = 0.0;  // CPU time the team's threads got, summed
#ifdef _OPENMP
#pragma omp parallel num_threads(team) reduction(+ : cpu)
  {
    const double cpu0 = ContentionGate::thread_cpu_seconds();
#pragma omp for schedule(dynamic, 1)
    for (int t = 0; t < tiles; ++t) run_tile(t, scratch[omp_get_thread_num()]);
    cpu = ContentionGate::thread_cpu_seconds() - cpu0;
  }
#endif
  ticket.report(cpu, team, ContentionGate::wall_seconds() - start);
}

}  // namespace fsrcnn
