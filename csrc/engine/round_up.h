#pragma once

namespace fsrcnn {

// v rounded up to a multiple of m (v >= 0, m > 0): tile widths to SIMD vectors, sizes to alignments.
template <class T>
constexpr T round_up(T v, T m) {
  return (v + m - 1) / m * m;
}

}  // namespace fsrcnn
