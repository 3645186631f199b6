#include "frame.h"

#include <algorithm>
#include <cmath>
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
  if (planes)
    for (std::size_t t = 0; t < outputs.size(); ++t) {
      if (!outputs[t].data) continue;
      row_taps[t] = bicubic_taps(image.rows, scales[t]);
      col_taps[t] = bicubic_taps(image.cols, scales[t]);
      if (row_taps[t].taps > kernels::kMaxTaps || col_taps[t].taps > kernels::kMaxTaps)
        throw std::logic_error("bicubic taps exceed kMaxTaps");
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
    for (int k = 0; k < ct.taps; ++k)
      for (int x = 0; x < hrw; ++x)
      {
        const std::size_t from = static_cast<std::size_t>(k) * ct.out_len + hr0 + x;
        st.index[static_cast<std::size_t>(k) * hrw + x] = ct.index[from] - lo;
        st.weight[static_cast<std::size_t>(k) * hrw + x] = ct.weight[from];
      }
    std::fill(st.tag, st.tag + kRingSlots, -1);
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
  const int slot = r % kRingSlots;
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
