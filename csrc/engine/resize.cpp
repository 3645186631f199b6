#include "resize.h"

#include <algorithm>
#include <cstddef>
#include <vector>

#include "executor.h"

namespace fsrcnn {

void resize_planes(const float* planes, int channels, int rows, int cols, const Contributions& rc,
                   const Contributions& cc, float* out, int threads, const CancelFlag* cancel) {
  const int out_rows = rc.out_len, out_cols = cc.out_len;
  // Columns first, at the input height (the cheaper order when upscaling), then rows: the row pass
  // is a weighted sum of whole rows, which the compiler vectorises.
  std::vector<float> mid(static_cast<std::size_t>(channels) * rows * out_cols);
  Team team(threads);
  // Tasks of kRows rows: the two passes run one after the other (the row pass reads every column
  // pass row), each handing out its row blocks dynamically.
  constexpr int kRows = 8;
  const int mid_rows = channels * rows, all_out_rows = channels * out_rows;
  team.run((mid_rows + kRows - 1) / kRows, [&](int task, int) {
    for (int cy = task * kRows; cy < std::min(mid_rows, (task + 1) * kRows); ++cy) {
      const float* src = planes + static_cast<std::size_t>(cy) * cols;
      float* dst = mid.data() + static_cast<std::size_t>(cy) * out_cols;
      for (int x = 0; x < out_cols; ++x) {
        const std::int32_t* idx = cc.index + static_cast<std::size_t>(x) * cc.taps;
        const float* w = cc.weight + static_cast<std::size_t>(x) * cc.taps;
        float acc = 0.0f;
        for (int t = 0; t < cc.taps; ++t) acc += w[t] * src[idx[t]];
        dst[x] = acc;
      }
    }
  }, cancel);
  team.run((all_out_rows + kRows - 1) / kRows, [&](int task, int) {
    for (int cy = task * kRows; cy < std::min(all_out_rows, (task + 1) * kRows); ++cy) {
      const int c = cy / out_rows, y = cy % out_rows;
      const std::int32_t* idx = rc.index + static_cast<std::size_t>(y) * rc.taps;
      const float* w = rc.weight + static_cast<std::size_t>(y) * rc.taps;
      float* dst = out + static_cast<std::size_t>(cy) * out_cols;
      std::fill(dst, dst + out_cols, 0.0f);
      for (int t = 0; t < rc.taps; ++t) {
        const float* src = mid.data() + (static_cast<std::size_t>(c) * rows + idx[t]) * out_cols;
        const float wt = w[t];
        for (int x = 0; x < out_cols; ++x) dst[x] += wt * src[x];
      }
    }
  }, cancel);
}

}  // namespace fsrcnn
