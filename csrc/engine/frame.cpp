#include "frame.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace fsrcnn {
namespace {

// resize.py's _cubic (Keys, a = -0.5), in the same float64 operations.
double cubic(double x) {
  const double ax = std::fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1.0) return 1.5 * ax3 - 2.5 * ax2 + 1.0;
  if (ax <= 2.0) return -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0;
  return 0.0;
}

}  // namespace

BicubicTaps bicubic_taps(int in_len, int scale) {
  if (in_len < 1 || scale < 1) throw std::invalid_argument("bicubic_taps: empty axis or scale < 1");
  constexpr int kTaps = 6;  // ceil(kernel width 4) + 2, as MATLAB
  const int out_len = in_len * scale;
  const double s = scale;
  std::vector<std::int32_t> index(static_cast<std::size_t>(kTaps) * out_len);
  std::vector<double> weight(index.size());
  for (int x = 0; x < out_len; ++x) {
    const double u = (x + 1) / s + 0.5 * (1.0 - 1.0 / s);  // 1-based, as MATLAB
    const double left = std::floor(u - 2.0);
    double w[kTaps], sum = 0.0;
    for (int t = 0; t < kTaps; ++t) {
      w[t] = cubic(u - (left + t));
      sum += w[t];
    }
    for (int t = 0; t < kTaps; ++t) {
      // Symmetric (mirror) extension: ... 1 0 | 0 1 ... n-1 | n-1 n-2 ...
      long long i = static_cast<long long>(left) + t - 1;
      const long long period = 2LL * in_len;
      i = ((i % period) + period) % period;
      const std::size_t k = static_cast<std::size_t>(t) * out_len + x;
      index[k] = static_cast<std::int32_t>(i < in_len ? i : period - 1 - i);
      weight[k] = w[t] / sum;
    }
  }
  BicubicTaps taps;
  taps.out_len = out_len;
  for (int t = 0; t < kTaps; ++t) {
    const auto first = weight.begin() + static_cast<std::ptrdiff_t>(t) * out_len;
    if (std::none_of(first, first + out_len, [](double v) { return v != 0.0; })) continue;
    taps.index.insert(taps.index.end(), index.begin() + (first - weight.begin()),
                      index.begin() + (first - weight.begin()) + out_len);
    for (auto it = first; it != first + out_len; ++it) taps.weight.push_back(static_cast<float>(*it));
    ++taps.taps;
  }
  return taps;
}

int ring_slots_for(const BicubicTaps& taps) {
  const int n = taps.out_len;
  const auto source = [&](int t, int x) { return taps.index[static_cast<std::size_t>(t) * n + x]; };
  int rows = 0;
  for (int t = 0; t < taps.taps; ++t)
    for (int x = 0; x < n; ++x) rows = std::max(rows, source(t, x) + 1);
  std::vector<int> first(rows, -1), last(rows, -1);  // output rows reading each source row
  for (int x = 0; x < n; ++x)
    for (int t = 0; t < taps.taps; ++t) {
      const int i = source(t, x);
      if (first[i] < 0) first[i] = x;
      last[i] = x;
    }
  // Offsets d = r' - r of the rows r' read while a row r is in use: a ring of m slots keeps every row
  // from its first to its last use exactly when m divides none of them.
  std::vector<char> offset(2 * static_cast<std::size_t>(rows) + 1, 0);
  for (int r = 0; r < rows; ++r)
    for (int x = first[r]; x >= 0 && x <= last[r]; ++x)
      for (int t = 0; t < taps.taps; ++t) offset[source(t, x) - r + rows] = 1;
  for (int m = 1;; ++m) {
    bool fits = true;
    for (int d = 1; d <= rows && fits; d += 1)
      if (d % m == 0 && (offset[rows + d] || offset[rows - d])) fits = false;
    if (fits) return m;
  }
}

void ycbcr_matrices(float to_ycbcr[3][3], float offset[3], float to_rgb[3][3]) {
  // MATLAB rgb2ycbcr on [0, 1] values (python/fsrcnn_fast/color.py holds the same numbers).
  const double m[3][3] = {{65.481, 128.553, 24.966}, {-37.797, -74.203, 112.0}, {112.0, -93.786, -18.214}};
  const double off[3] = {16.0, 128.0, 128.0};
  double a[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a[i][j] = m[i][j] / 255.0;
  // The inverse by cofactors, in float64.
  const double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                     a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                     a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  for (int i = 0; i < 3; ++i) {
    offset[i] = static_cast<float>(off[i] / 255.0);
    for (int j = 0; j < 3; ++j) {
      to_ycbcr[i][j] = static_cast<float>(a[i][j]);
      const int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      to_rgb[i][j] = static_cast<float>((a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det);
    }
  }
}

FrameJob::FrameJob(const FrameImage& img, const std::vector<FrameOutput>& outs, const std::vector<int>& sc)
    : image(img), outputs(outs), scales(sc) {
  if (image.channels != 1 && image.channels != 3 && image.channels != 4)
    throw std::invalid_argument("image must have 1, 3 or 4 channels");
  planes = image.channels == 1 ? 0 : image.channels == 3 ? 2 : 3;
  float to_ycbcr[3][3], offset[3], to_rgb[3][3];
  ycbcr_matrices(to_ycbcr, offset, to_rgb);
  const int rgb[3] = {image.bgr ? 2 : 0, 1, image.bgr ? 0 : 2};
  unpack.col_stride = image.col_stride;
  unpack.chan_stride = image.chan_stride;
  unpack.type = image.type;
  unpack.channels = image.channels;
  pack.type = image.type;
  pack.channels = image.channels;
  for (int c = 0; c < 3; ++c) {
    unpack.rgb[c] = pack.rgb[c] = rgb[c];
    unpack.offset[c] = pack.offset[c] = offset[c];
    for (int k = 0; k < 3; ++k) {
      unpack.matrix[c][k] = to_ycbcr[c][k];
      pack.matrix[c][k] = to_rgb[c][k];
    }
  }
  row_taps.resize(outputs.size());
  col_taps.resize(outputs.size());
  ring_slots.assign(outputs.size(), 0);
  if (planes)
    for (std::size_t t = 0; t < outputs.size(); ++t) {
      if (!outputs[t].data) continue;
      row_taps[t] = bicubic_taps(image.rows, scales[t]);
      col_taps[t] = bicubic_taps(image.cols, scales[t]);
      if (row_taps[t].taps > kernels::kMaxTaps || col_taps[t].taps > kernels::kMaxTaps)
        throw std::logic_error("bicubic taps exceed kMaxTaps");
      ring_slots[t] = ring_slots_for(row_taps[t]);
    }
}

FrameTile::FrameTile(const FrameJob& job, const KernelTable& table, int tile_cols) : job_(job), kt_(table) {
  const int max_scale = *std::max_element(job.scales.begin(), job.scales.end());
  hr_stride_ = (tile_cols * max_scale + 8 + 7) / 8 * 8;
  y_rows_.assign(max_scale, std::vector<float>(hr_stride_, 0.0f));
  if (!job.planes) return;
  tails_.resize(job.outputs.size());
  // The tile's columns, the taps' reach (<= 3 each side) and the 8 floats bicubic_cols_row may read past.
  lr_stride_ = (tile_cols + 16 + 7) / 8 * 8;
  lr_.assign(3 * static_cast<std::size_t>(lr_stride_), 0.0f);
  hr_.assign(3 * static_cast<std::size_t>(kChunk + 8), 0.0f);
  for (std::size_t t = 0; t < tails_.size(); ++t) {
    if (!job.outputs[t].data) continue;
    // Pieces: the widest multiple of the scale and of 8 floats within 256 columns (or 256).
    const int s = job.scales[t], step = s * 8 / std::gcd(s, 8);
    tails_[t].piece_stride = step <= 256 ? 256 / step * step : 256;
    const std::size_t pieces = (static_cast<std::size_t>(tile_cols) * s + tails_[t].piece_stride - 1) / tails_[t].piece_stride;
    const std::size_t floats = pieces * job.col_taps[t].taps * tails_[t].piece_stride;  // room for all distinct
    tails_[t].index.assign(floats, 0);
    tails_[t].weight.assign(floats, 0.0f);
    tails_[t].pieces.reserve(pieces);
    tails_[t].slots = job.ring_slots[t];
    tails_[t].ring.assign(static_cast<std::size_t>(tails_[t].slots) * job.planes * hr_stride_, 0.0f);
    tails_[t].tag.assign(tails_[t].slots, -1);
  }
}

void FrameTile::start(int col0, int width) {
  col0_ = col0;
  width_ = width;
  for (std::size_t t = 0; t < tails_.size(); ++t) {
    if (!job_.outputs[t].data) continue;
    TailState& st = tails_[t];
    const BicubicTaps& ct = job_.col_taps[t];
    const int s = job_.scales[t], hr0 = col0 * s, hrw = width * s;
    int lo = job_.image.cols, hi = -1;
    for (int k = 0; k < ct.taps; ++k)
      for (int x = hr0; x < hr0 + hrw; ++x) {
        const int i = ct.index[static_cast<std::size_t>(k) * ct.out_len + x];
        lo = std::min(lo, i);
        hi = std::max(hi, i);
      }
    if (hi - lo + 1 > lr_stride_) throw std::logic_error("bicubic taps reach beyond the tile's scratch");
    st.lr_first = lo;
    st.lr_count = hi - lo + 1;
    // Each piece's taps relative to its first source column; a piece whose taps and weights equal those
    // of a table already made reads that one (results are the same bit for bit: every output column
    // gets the same weights applied to the same source values, in the same order).
    const int ps = st.piece_stride, taps = ct.taps;
    std::size_t tables = 0;
    st.pieces.clear();
    for (int x0 = 0; x0 < hrw; x0 += ps) {
      const int n = std::min(ps, hrw - x0);
      const auto source = [&](int k, int x) { return ct.index[static_cast<std::size_t>(k) * ct.out_len + hr0 + x0 + x]; };
      const auto weight = [&](int k, int x) { return ct.weight[static_cast<std::size_t>(k) * ct.out_len + hr0 + x0 + x]; };
      int first = hi;
      for (int k = 0; k < taps; ++k)
        for (int x = 0; x < n; ++x) first = std::min(first, source(k, x));
      const auto same = [&](std::size_t table) {
        for (int k = 0; k < taps; ++k)
          for (int x = 0; x < n; ++x) {
            const std::size_t at = table + static_cast<std::size_t>(k) * ps + x;
            if (st.index[at] != source(k, x) - first || st.weight[at] != weight(k, x)) return false;
          }
        return true;
      };
      std::size_t table = tables;
      for (std::size_t i = 0; i < st.pieces.size() && table == tables; ++i)
        if (st.pieces[i].made_table && st.pieces[i].cols >= n && same(st.pieces[i].table)) table = st.pieces[i].table;
      const bool made = table == tables;
      if (made) {
        for (int k = 0; k < taps; ++k)
          for (int x = 0; x < n; ++x) {
            st.index[table + static_cast<std::size_t>(k) * ps + x] = source(k, x) - first;
            st.weight[table + static_cast<std::size_t>(k) * ps + x] = weight(k, x);
          }
        tables += static_cast<std::size_t>(taps) * ps;
      }
      st.pieces.push_back({x0, n, first - lo, table, made});
    }
    std::fill(st.tag.begin(), st.tag.end(), -1);
  }
}

void FrameTile::load_y(int y, int col_first, int n, float* dst) const {
  kernels::UnpackRow r = job_.unpack;
  const FrameImage& im = job_.image;
  r.src = im.data + static_cast<std::ptrdiff_t>(y - im.origin_row) * im.row_stride +
          static_cast<std::ptrdiff_t>(col_first - im.origin_col) * im.col_stride;
  r.y = dst;
  r.cb = r.cr = r.alpha = nullptr;
  r.cols = n;
  kt_.unpack_ycbcr_row(r);
}

const float* FrameTile::chroma_row(int t, int r, int plane) {
  TailState& st = tails_[t];
  const int slot = r % st.slots;
  const int hrw = width_ * job_.scales[t];
  float* ring = st.ring.data() + static_cast<std::size_t>(slot) * job_.planes * hr_stride_;
  if (st.tag[slot] != r) {
    const FrameImage& im = job_.image;
    kernels::UnpackRow u = job_.unpack;
    u.src = im.data + static_cast<std::ptrdiff_t>(r - im.origin_row) * im.row_stride +
            static_cast<std::ptrdiff_t>(st.lr_first - im.origin_col) * im.col_stride;
    u.y = nullptr;
    u.cb = lr_.data();
    u.cr = lr_.data() + lr_stride_;
    u.alpha = job_.planes == 3 ? lr_.data() + 2 * lr_stride_ : nullptr;
    u.cols = st.lr_count;
    kt_.unpack_ycbcr_row(u);
    for (const ColsPiece& piece : st.pieces) {
      kernels::BicubicColsRow c{};
      for (int p = 0; p < job_.planes; ++p) {
        c.src[p] = lr_.data() + p * lr_stride_ + piece.src_offset;
        c.dst[p] = ring + p * hr_stride_ + piece.x0;
      }
      c.planes = job_.planes;
      c.cols = piece.cols;
      c.taps = job_.col_taps[t].taps;
      c.index = st.index.data() + piece.table;
      c.weight = st.weight.data() + piece.table;
      c.tap_stride = st.piece_stride;
      kt_.bicubic_cols_row(c);
    }
    st.tag[slot] = r;
  }
  return ring + plane * hr_stride_;
}

}  // namespace fsrcnn

namespace fsrcnn {

void FrameTile::emit(int t, int y) {
  const int s = job_.scales[t], hr0 = col0_ * s, hrw = width_ * s;
  const FrameOutput& out = job_.outputs[t];
  kernels::PackRow p = job_.pack;
  p.col_stride = out.col_stride;
  p.chan_stride = out.chan_stride;  // the output's own strides, not the image's
  p.cols = hrw;
  const BicubicTaps* rt = job_.planes ? &job_.row_taps[t] : nullptr;
  for (int a = 0; a < s; ++a) {
    const int row = y * s + a;
    p.y = y_rows_[a].data();
    p.dst = out.data + static_cast<std::ptrdiff_t>(row - out.origin_row) * out.row_stride +
            static_cast<std::ptrdiff_t>(hr0 - out.origin_col) * out.col_stride;
    if (!rt) {
      kt_.pack_row(p);
      continue;
    }
    // The source rows of this output row, per plane (every per-pixel result is the same whatever the
    // chunking: both passes are elementwise along the row).
    const float* src[3][kernels::kMaxTaps];
    float weight[kernels::kMaxTaps];
    for (int k = 0; k < rt->taps; ++k) {
      const std::size_t i = static_cast<std::size_t>(k) * rt->out_len + row;
      for (int plane = 0; plane < job_.planes; ++plane) src[plane][k] = chroma_row(t, rt->index[i], plane);
      weight[k] = rt->weight[i];
    }
    const int chunks = (hrw + kChunk - 1) / kChunk;
    const int width = std::min(kChunk, ((hrw + chunks - 1) / chunks + 7) / 8 * 8);  // near-equal, whole vectors
    unsigned char* const dst = p.dst;
    const float* const y_row = p.y;
    p.cb = hr_.data();
    p.cr = hr_.data() + (kChunk + 8);
    p.alpha = job_.planes == 3 ? hr_.data() + 2 * (kChunk + 8) : nullptr;
    for (int x0 = 0; x0 < hrw; x0 += width) {
      const int n = std::min(width, hrw - x0);
      for (int plane = 0; plane < job_.planes; ++plane) {
        kernels::BicubicRowsRow r;
        r.taps = rt->taps;
        r.cols = n;
        r.dst = hr_.data() + plane * (kChunk + 8);
        for (int k = 0; k < rt->taps; ++k) {
          r.rows[k] = src[plane][k] + x0;
          r.weight[k] = weight[k];
        }
        kt_.bicubic_rows_row(r);
      }
      p.y = y_row + x0;
      p.dst = dst + static_cast<std::ptrdiff_t>(x0) * out.col_stride;
      p.cols = n;
      kt_.pack_row(p);
    }
  }
}

}  // namespace fsrcnn
