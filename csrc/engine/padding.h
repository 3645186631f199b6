#pragma once

#include <vector>

#include "network.h"

namespace fsrcnn {

// Copies planes [c][rows][cols] into [c][rows+top+bottom][cols+left+right], filling the
// margin with zeros or with the nearest edge pixel, as the layer's border mode says.
std::vector<float> pad_planes(const float* in, int channels, int rows, int cols, int top, int bottom,
                              int left, int right, Border border);

}  // namespace fsrcnn
