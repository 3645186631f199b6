// A process-wide budget of worker threads, so that calls made at once from several Python
// threads share the cores instead of each starting a full OpenMP team (oversubscription makes
// every call slower). A call leases what is free, runs on at least one thread, and never waits.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <time.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

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
    static std::atomic<int> free{available_cores()};
    return free;
  }

  // The cores this process may run on (its CPU affinity, e.g. under taskset or a container's
  // cpuset), not every core of the machine.
  static int available_cores() {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  int taken_ = 0;
};

// Shared VMs and busy desktops often give a process fewer cores than it has threads. A call that
// ran on several threads then got far less CPU than its wall time allows, and was no faster than
// one thread (measured here: 1.0-1.6x slower, the scheduler parks both threads on one core and
// the halo rows every extra tile recomputes come on top). Each parallel call reports the CPU time
// its threads got; when that falls below 75 % of team x wall time twice in a row, the gate sends
// the next calls to one thread (one tile) for a while: 0.2 s, doubling up to 5 s while each parallel
// probe that follows finds the cores busy again, reopening at once when one does not (and halving
// the backoff, so that contention coming back closes it again at its first slow call). Results are
// bitwise identical whatever the thread count, so the gate only ever changes speed.
class ContentionGate {
 public:
  class Ticket {
   public:
    Ticket() : parallel_(now_ns() >= closed_until().load(std::memory_order_relaxed)) {}
    bool parallel() const { return parallel_; }

    void report(double cpu_seconds, int team, double wall_seconds) const {
      if (wall_seconds < kMinWall || cpu_seconds <= 0.0) return;  // too short to judge, or no CPU clock
      // A team larger than any before started new OpenMP threads: that wait is not contention.
      if (team > largest_team().load(std::memory_order_relaxed)) {
        largest_team().store(team, std::memory_order_relaxed);
        return;
      }
      if (cpu_seconds >= kMinUtilisation * team * wall_seconds) {
        // Stay wary for a while after contention: the next slow call closes the gate at once.
        const std::int64_t eased = backoff_ns().load(std::memory_order_relaxed) / 2;
        backoff_ns().store(eased < kFirstBackoff ? 0 : eased, std::memory_order_relaxed);
        strikes().store(0, std::memory_order_relaxed);
        return;
      }
      // One slow call proves little, unless it is the probe that follows a backoff.
      const std::int64_t previous = backoff_ns().load(std::memory_order_relaxed);
      if (previous == 0 && strikes().fetch_add(1, std::memory_order_relaxed) + 1 < kStrikes) return;
      const std::int64_t backoff = std::clamp<std::int64_t>(2 * previous, kFirstBackoff, kMaxBackoff);
      backoff_ns().store(backoff, std::memory_order_relaxed);
      closed_until().store(now_ns() + backoff, std::memory_order_relaxed);
    }

   private:
    bool parallel_;
  };

  static double wall_seconds() { return static_cast<double>(now_ns()) * 1e-9; }

  // CPU time of the calling thread (0 where the platform has no per-thread clock: never gated).
  static double thread_cpu_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
    timespec ts{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
#endif
    return 0.0;
  }

 private:
  static constexpr double kMinWall = 1e-3;
  static constexpr double kMinUtilisation = 0.75;
  static constexpr int kStrikes = 2;
  static constexpr std::int64_t kFirstBackoff = 200'000'000, kMaxBackoff = 5'000'000'000;

  static std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static std::atomic<std::int64_t>& closed_until() {
    static std::atomic<std::int64_t> t{0};
    return t;
  }
  static std::atomic<int>& strikes() {
    static std::atomic<int> n{0};
    return n;
  }
  static std::atomic<int>& largest_team() {
    static std::atomic<int> n{1};
    return n;
  }
  static std::atomic<std::int64_t>& backoff_ns() {
    static std::atomic<std::int64_t> b{0};
    return b;
  }
};

}  // namespace fsrcnn
