// Row-band parallelism: the only place the engine talks to OpenMP.
#pragma once

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fsrcnn {

// Calls fn(begin, end) on disjoint bands covering [0, rows). The bands depend only on rows,
// never on the thread count, so results are bitwise identical for any number of threads.
template <class Fn>
void parallel_bands(int rows, int threads, Fn&& fn) {
  constexpr int kBandRows = 8;
  const int bands = (rows + kBandRows - 1) / kBandRows;
  threads = std::max(1, std::min(threads, bands));
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
#endif
  for (int b = 0; b < bands; ++b) fn(b * kBandRows, std::min(rows, (b + 1) * kBandRows));
}

}  // namespace fsrcnn
