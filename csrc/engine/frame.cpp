#include "frame.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
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

// The image columns [lo, lo + count) that output columns [first, first + n) read through the column
// taps, with those taps copied and rebased so a row pass can work on just that span of the image row.
// src = ct.index / ct.weight [tap][ct.out_len], absolute image columns /
// dst = index / weight [tap][n], image column - lo.
struct ColumnSpan {
  int lo = 0, count = 0;
};

ColumnSpan rebase_col_taps(const BicubicTaps& ct, int first, int n, int max_count, std::int32_t* index,
                           float* weight) {
  if (n <= 0) return {};
  int lo = std::numeric_limits<int>::max(), hi = -1;
  for (int k = 0; k < ct.taps; ++k)
    for (int x = first; x < first + n; ++x) {
      const int i = ct.index[static_cast<std::size_t>(k) * ct.out_len + x];
      lo = std::min(lo, i);
      hi = std::max(hi, i);
    }
  if (hi - lo + 1 > max_count) throw std::logic_error("bicubic taps reach beyond the tile's scratch");
  for (int k = 0; k < ct.taps; ++k)
    for (int x = 0; x < n; ++x) {
      const std::size_t from = static_cast<std::size_t>(k) * ct.out_len + first + x;
      index[static_cast<std::size_t>(k) * n + x] = ct.index[from] - lo;
      weight[static_cast<std::size_t>(k) * n + x] = ct.weight[from];
    }
  return {lo, hi - lo + 1};
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

FrameJob::FrameJob(const FrameImage& img, const std::vector<FrameOutput>& outs, const std::vector<int>& sc,
                   bool pre)
    : image(img), outputs(outs), scales(sc), pre_upsampled(pre) {
  if (image.channels != 1 && image.channels != 3 && image.channels != 4)
    throw std::invalid_argument("image must have 1, 3 or 4 channels");
  if (pre_upsampled && (outputs.size() != 1 || !outputs[0].data))
    throw std::invalid_argument("a pre-upsampling network has one output");
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
  if (planes || pre_upsampled)  // pre-upsampled: Y's taps too (gray as well)
    for (std::size_t t = 0; t < outputs.size(); ++t) {
      if (!outputs[t].data) continue;
      row_taps[t] = bicubic_taps(image.rows, scales[t]);
      col_taps[t] = bicubic_taps(image.cols, scales[t]);
      if (row_taps[t].taps > kernels::kMaxTaps || col_taps[t].taps > kernels::kMaxTaps)
        throw std::logic_error("bicubic taps exceed kMaxTaps");
    }
}

FrameTile::FrameTile(const FrameJob& job, const KernelTable& table, int tile_cols, int input_cols,
                     std::pmr::memory_resource* mem)
    : job_(job), kt_(table), y_rows_(mem), lr_(mem), hr_(mem), up_(mem) {
  int max_grid = 1;
  for (std::size_t t = 0; t < job.scales.size(); ++t) max_grid = std::max(max_grid, job.grid(static_cast<int>(t)));
  hr_stride_ = (tile_cols * max_grid + 8 + 7) / 8 * 8;
  y_rows_.assign(static_cast<std::size_t>(max_grid) * hr_stride_, 0.0f);
  if (job.pre_upsampled) {
    // n output columns read at most n / scale + 4 image columns (fewer at mirrored edges); then the
    // 8 floats bicubic_cols_row may read past the last.
    const std::size_t taps = static_cast<std::size_t>(job.col_taps[0].taps);
    up_.index.assign(taps * input_cols, 0);
    up_.weight.assign(taps * input_cols, 0.0f);
    up_.lr.assign(static_cast<std::size_t>(input_cols) + 16, 0.0f);
    up_.stride = (input_cols + 8 + 7) / 8 * 8;
    up_.ring.assign(static_cast<std::size_t>(kRingSlots) * up_.stride, 0.0f);
  }
  if (!job.planes) return;
  tails_.reserve(job.outputs.size());
  for (std::size_t t = 0; t < job.outputs.size(); ++t) tails_.emplace_back(mem);
  // The tile's columns, the taps' reach (<= 3 each side) and the 8 floats bicubic_cols_row may read past.
  lr_stride_ = (tile_cols + 16 + 7) / 8 * 8;
  lr_.assign(3 * static_cast<std::size_t>(lr_stride_), 0.0f);
  hr_.assign(3 * static_cast<std::size_t>(hr_stride_), 0.0f);
  for (std::size_t t = 0; t < tails_.size(); ++t) {
    if (!job.outputs[t].data) continue;
    tails_[t].index.assign(static_cast<std::size_t>(job.col_taps[t].taps) * hr_stride_, 0);
    tails_[t].weight.assign(static_cast<std::size_t>(job.col_taps[t].taps) * hr_stride_, 0.0f);
    tails_[t].ring.assign(static_cast<std::size_t>(kRingSlots) * job.planes * hr_stride_, 0.0f);
  }
}

void FrameTile::start(int col0, int width) {
  col0_ = col0;
  width_ = width;
  up_.hr_first = -1;  // load_y plans the new tile's columns
  for (std::size_t t = 0; t < tails_.size(); ++t) {
    if (!job_.outputs[t].data) continue;
    TailState& st = tails_[t];
    const int g = job_.grid(static_cast<int>(t)), hr0 = col0 * g, hrw = width * g;
    const ColumnSpan span = rebase_col_taps(job_.col_taps[t], hr0, hrw, lr_stride_, st.index.data(), st.weight.data());
    st.lr_first = span.lo;
    st.lr_count = span.count;
    std::fill(st.tag, st.tag + kRingSlots, -1);
  }
}

void FrameTile::plan_upscaled_y(int col_first, int n) {
  const BicubicTaps& ct = job_.col_taps[0];
  if (static_cast<std::size_t>(ct.taps) * n > up_.index.size() || n + 8 > up_.stride)
    throw std::logic_error("load_y asks for more columns than the tile's scratch holds");
  // The span's last column is followed by the 8 floats bicubic_cols_row may read past it.
  const ColumnSpan span = rebase_col_taps(ct, col_first, n, static_cast<int>(up_.lr.size()) - 8, up_.index.data(),
                                          up_.weight.data());
  up_.hr_first = col_first;
  up_.hr_count = n;
  up_.lr_first = span.lo;
  up_.lr_count = span.count;
  std::fill(up_.tag, up_.tag + kRingSlots, -1);
}

const float* FrameTile::upscaled_y_row(int r) {
  const int slot = r % kRingSlots;
  float* row = up_.ring.data() + static_cast<std::size_t>(slot) * up_.stride;
  if (up_.tag[slot] != r) {
    const FrameImage& im = job_.image;
    kernels::UnpackRow u = job_.unpack;
    u.src = im.data + static_cast<std::ptrdiff_t>(r - im.origin_row) * im.row_stride +
            static_cast<std::ptrdiff_t>(up_.lr_first - im.origin_col) * im.col_stride;
    u.y = up_.lr.data();
    u.cb = u.cr = u.alpha = nullptr;
    u.cols = up_.lr_count;
    kt_.unpack_ycbcr_row(u);
    kernels::BicubicColsRow c{};
    c.src[0] = up_.lr.data();
    c.dst[0] = row;
    c.planes = 1;
    c.cols = up_.hr_count;
    c.taps = job_.col_taps[0].taps;
    c.index = up_.index.data();
    c.weight = up_.weight.data();
    c.tap_stride = up_.hr_count;
    kt_.bicubic_cols_row(c);
    up_.tag[slot] = r;
  }
  return row;
}

void FrameTile::load_y(int y, int col_first, int n, float* dst) {
  if (job_.pre_upsampled) {  // MATLAB's bicubic of Y, columns then rows (as resize_planes and the chroma)
    if (col_first != up_.hr_first || n != up_.hr_count) plan_upscaled_y(col_first, n);
    const BicubicTaps& rt = job_.row_taps[0];
    kernels::BicubicRowsRow r{};
    r.taps = rt.taps;
    r.cols = n;
    r.dst = dst;
    for (int k = 0; k < rt.taps; ++k) {
      const std::size_t i = static_cast<std::size_t>(k) * rt.out_len + y;
      r.rows[k] = upscaled_y_row(rt.index[i]);
      r.weight[k] = rt.weight[i];
    }
    kt_.bicubic_rows_row(r);
    return;
  }
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
  const int slot = r % kRingSlots;
  const int hrw = width_ * job_.grid(t);
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
    kernels::BicubicColsRow c{};
    for (int p = 0; p < job_.planes; ++p) {
      c.src[p] = lr_.data() + p * lr_stride_;
      c.dst[p] = ring + p * hr_stride_;
    }
    c.planes = job_.planes;
    c.cols = hrw;
    c.taps = job_.col_taps[t].taps;
    c.index = st.index.data();
    c.weight = st.weight.data();
    c.tap_stride = hrw;
    kt_.bicubic_cols_row(c);
    st.tag[slot] = r;
  }
  return ring + plane * hr_stride_;
}

}  // namespace fsrcnn

namespace fsrcnn {

void FrameTile::emit(int t, int y) {
  const int s = job_.grid(t), hr0 = col0_ * s, hrw = width_ * s;
  const FrameOutput& out = job_.outputs[t];
  kernels::PackRow p = job_.pack;
  p.col_stride = out.col_stride;
  p.chan_stride = out.chan_stride;  // the output's own strides, not the image's
  p.cols = hrw;
  const BicubicTaps* rt = job_.planes ? &job_.row_taps[t] : nullptr;
  for (int a = 0; a < s; ++a) {
    const int row = y * s + a;
    p.y = y_row(a);
    p.dst = out.data + static_cast<std::ptrdiff_t>(row - out.origin_row) * out.row_stride +
            static_cast<std::ptrdiff_t>(hr0 - out.origin_col) * out.col_stride;
    if (rt) {
      for (int plane = 0; plane < job_.planes; ++plane) {
        kernels::BicubicRowsRow r{};
        r.taps = rt->taps;
        r.cols = hrw;
        r.dst = hr_.data() + plane * hr_stride_;
        for (int k = 0; k < rt->taps; ++k) {
          const std::size_t i = static_cast<std::size_t>(k) * rt->out_len + row;
          r.rows[k] = chroma_row(t, rt->index[i], plane);
          r.weight[k] = rt->weight[i];
        }
        kt_.bicubic_rows_row(r);
      }
      p.cb = hr_.data();
      p.cr = hr_.data() + hr_stride_;
      p.alpha = job_.planes == 3 ? hr_.data() + 2 * hr_stride_ : nullptr;
    }
    kt_.pack_row(p);
  }
}

}  // namespace fsrcnn
