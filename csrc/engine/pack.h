// The last step of upscale(): planes -> the caller's interleaved layout and sample type.
#pragma once

#include <cstdint>

#include "../dispatch/dispatch.h"
#include "executor.h"

namespace fsrcnn {

enum class SampleType { U8, U16, F32, F64 };

// out[y][x][order[c]] = store(sum_k matrix[c][k] * (planes[k][y][x] - offset[k])) for the first 3
// channels, and store(planes[3][y][x]) for a 4th (alpha). store() clips to [0, 1] and, for integer
// types, scales to the type's range and rounds half up.
struct PackArgs {
  const float* planes;  // [channels][rows][cols]
  int channels, rows, cols;
  float matrix[3][3];
  float offset[3];
  int order[4];  // destination channel of each computed channel (BGR: 2, 1, 0, 3)
  SampleType type;
  void* out;  // [rows][cols][channels]
};

// uint8 goes through the table's pack_u8_row kernel (SIMD), the other types through portable code.
void pack_planes(const PackArgs& args, int threads, const KernelTable& table, const CancelFlag* cancel = nullptr);

}  // namespace fsrcnn
