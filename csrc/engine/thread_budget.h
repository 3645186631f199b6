// A process-wide budget of worker threads, so that calls made at once from several Python
// threads share the cores instead of each starting a full OpenMP team (oversubscription makes
// every call slower). A call leases what is free, runs on at least one thread, and never waits.
#pragma once

#include <algorithm>
#include <atomic>
#include <thread>

namespace fsrcnn {

class ThreadLease {
 public:
  explicit ThreadLease(int want) {
    int free = budget().load();
    do {
      taken_ = std::max(0, std::min(want, free));
    } while (!budget().compare_exchange_weak(free, free - taken_));
  }
  ~ThreadLease() { budget().fetch_add(taken_); }
  ThreadLease(const ThreadLease&) = delete;
  ThreadLease& operator=(const ThreadLease&) = delete;

  // Threads this call may use: what it leased, or its own thread when the budget was empty.
  int threads() const { return std::max(1, taken_); }

 private:
  static std::atomic<int>& budget() {
    static std::atomic<int> free{static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};
    return free;
  }
  int taken_ = 0;
};

}  // namespace fsrcnn
