// Separable resampling with precomputed contributions (Python computes MATLAB's bicubic taps; this
// applies them). Used for SRCNN's pre-upsampling (upscale()'s chroma and alpha go through frame.h).
#pragma once

#include <cstdint>

#include "executor.h"

namespace fsrcnn {

struct Contributions {
  int out_len, taps;
  const std::int32_t* index;  // [out_len][taps], source indices (already reflected into range)
  const float* weight;        // [out_len][taps]
};

// planes: [channels][rows][cols] -> out [channels][rows_c.out_len][cols_c.out_len]
void resize_planes(const float* planes, int channels, int rows, int cols, const Contributions& rows_c,
                   const Contributions& cols_c, float* out, int threads, const CancelFlag* cancel = nullptr);

}  // namespace fsrcnn
