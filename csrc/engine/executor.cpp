#include "executor.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <time.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace fsrcnn {
namespace {

// The cores this process may run on (its CPU affinity, e.g. under taskset or a container's cpuset),
// not every core of the machine.
int available_cores() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CPU time of the calling thread (0 where the platform has no per-thread clock: never gated).
double thread_cpu_seconds() {
#if defined(CLOCK_THREAD_CPUTIME_ID)
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) return static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
#endif
  return 0.0;
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Threads free for new calls: the process-wide budget. Reset in a child after fork (the parent's
// calls are not running there).
std::atomic<int> g_budget{available_cores()};

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
  static bool open() { return now_ns() >= closed_until_.load(std::memory_order_relaxed); }

  // started_threads: the pool started threads for this call; their start-up is not contention.
  static void report(double cpu_seconds, int team, double wall_seconds, bool started_threads) {
    if (wall_seconds < kMinWall || cpu_seconds <= 0.0 || started_threads) return;
    if (cpu_seconds >= kMinUtilisation * team * wall_seconds) {
      // Stay wary for a while after contention: the next slow call closes the gate at once.
      const std::int64_t eased = backoff_ns_.load(std::memory_order_relaxed) / 2;
      backoff_ns_.store(eased < kFirstBackoff ? 0 : eased, std::memory_order_relaxed);
      strikes_.store(0, std::memory_order_relaxed);
      return;
    }
    // One slow call proves little, unless it is the probe that follows a backoff.
    const std::int64_t previous = backoff_ns_.load(std::memory_order_relaxed);
    if (previous == 0 && strikes_.fetch_add(1, std::memory_order_relaxed) + 1 < kStrikes) return;
    const std::int64_t backoff = std::clamp<std::int64_t>(2 * previous, kFirstBackoff, kMaxBackoff);
    backoff_ns_.store(backoff, std::memory_order_relaxed);
    closed_until_.store(now_ns() + backoff, std::memory_order_relaxed);
  }

 private:
  static constexpr double kMinWall = 1e-3;
  static constexpr double kMinUtilisation = 0.75;
  static constexpr int kStrikes = 2;
  static constexpr std::int64_t kFirstBackoff = 200'000'000, kMaxBackoff = 5'000'000'000;
  static inline std::atomic<std::int64_t> closed_until_{0}, backoff_ns_{0};
  static inline std::atomic<int> strikes_{0};
};

// Something a pool worker runs: run() does the work, finish() tells the waiter (the last touch of
// the object: the waiter may free it as soon as finish() has returned).
struct Work {
  virtual void run(int worker) = 0;
  virtual void finish() = 0;

 protected:
  ~Work() = default;
};

struct Worker {
  std::mutex m;
  std::condition_variable cv;
  std::atomic<Work*> work{nullptr};
  int index = 0;  // the worker number within the job; written before work is published
};

class Pool {
 public:
  // Up to n idle workers, starting threads while fewer are idle; returns how many it started.
  int acquire(int n, std::vector<Worker*>& out) {
    int started = 0;
    std::lock_guard<std::mutex> lock(m_);
    while (static_cast<int>(out.size()) < n) {
      if (!idle_.empty()) {
        out.push_back(idle_.back());  // the most recently used: likely still spinning
        idle_.pop_back();
        continue;
      }
      auto* w = new Worker;  // never freed: a worker lives as long as the process (or until fork)
      try {
        std::thread(&Pool::loop, this, w).detach();
      } catch (const std::system_error&) {  // no more threads: run with the workers we have
        delete w;
        break;
      }
      ++started;
      ++threads_;
      out.push_back(w);
    }
    return started;
  }

  static void give(Worker* w, Work* work, int index) {
    w->index = index;
    {
      std::lock_guard<std::mutex> lock(w->m);
      w->work.store(work, std::memory_order_release);
    }
    w->cv.notify_one();
  }

  int threads() {
    std::lock_guard<std::mutex> lock(m_);
    return threads_;
  }

 private:
  // About a millisecond of spinning before sleeping: a layer stack or frame that follows at once
  // finds the worker awake (a futex wake-up costs tens of microseconds on a busy machine).
  static constexpr std::int64_t kSpinNs = 1'000'000;

  void loop(Worker* w) {
    for (;;) {
      Work* job = w->work.load(std::memory_order_acquire);
      for (const std::int64_t until = now_ns() + kSpinNs; !job && now_ns() < until;) {
        for (int i = 0; i < 64 && !job; ++i) {
          cpu_relax();
          job = w->work.load(std::memory_order_acquire);
        }
      }
      if (!job) {
        std::unique_lock<std::mutex> lock(w->m);
        w->cv.wait(lock, [&] { return (job = w->work.load(std::memory_order_acquire)) != nullptr; });
      }
      w->work.store(nullptr, std::memory_order_relaxed);
      job->run(w->index);
      {  // idle before the waiter wakes, so that its next call finds this worker
        std::lock_guard<std::mutex> lock(m_);
        idle_.push_back(w);
      }
      job->finish();
    }
  }

  std::mutex m_;
  std::vector<Worker*> idle_;
  int threads_ = 0;
};

// The pool of this process. After fork() the child has none of the parent's threads: the atfork
// child handler forgets the pool (leaked, never touched again) and the next call builds a new one.
std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_create;

void before_fork() { g_pool_create.lock(); }
void after_fork_parent() { g_pool_create.unlock(); }
void after_fork_child() {
  g_pool.store(nullptr);
  g_budget.store(available_cores());
  g_pool_create.unlock();
}

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lock(g_pool_create);
  p = g_pool.load(std::memory_order_acquire);
  if (!p) {
#if defined(__unix__) || defined(__APPLE__)
    static const bool registered = pthread_atfork(before_fork, after_fork_parent, after_fork_child) == 0;
    (void)registered;
#endif
    p = new Pool;
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

struct TeamJob final : Work {
  const std::function<void(int, int)>& fn;
  const int n_tasks;
  const CancelFlag* cancel;
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex m;  // guards error, cpu, remaining
  std::condition_variable done;
  double cpu = 0.0;
  int remaining = 0;

  TeamJob(const std::function<void(int, int)>& fn_, int n, const CancelFlag* c) : fn(fn_), n_tasks(n), cancel(c) {}

  void run(int worker) override {
    const double cpu0 = thread_cpu_seconds();
    while (!failed.load(std::memory_order_relaxed) && !stop_requested(cancel)) {
      const int task = next.fetch_add(1, std::memory_order_relaxed);
      if (task >= n_tasks) break;
      try {
        fn(task, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!error) error = std::current_exception();
        failed.store(true, std::memory_order_relaxed);
      }
    }
    std::lock_guard<std::mutex> lock(m);
    cpu += thread_cpu_seconds() - cpu0;
  }

  void finish() override {
    std::lock_guard<std::mutex> lock(m);
    if (--remaining == 0) done.notify_one();
  }
};

}  // namespace

Team::Team(int want) {
  want = std::max(1, want);
  int free = g_budget.load();
  do {
    leased_ = std::max(0, std::min(want, free));
  } while (!g_budget.compare_exchange_weak(free, free - leased_));
  size_ = std::max(1, leased_);
}

Team::~Team() { g_budget.fetch_add(leased_); }

bool Team::parallel_allowed() { return ContentionGate::open(); }

void Team::run(int n_tasks, const std::function<void(int, int)>& fn, const CancelFlag* cancel) {
  const int team = std::min(size_, n_tasks);
  if (team <= 1) {
    for (int t = 0; t < n_tasks && !stop_requested(cancel); ++t) fn(t, 0);
    return;
  }
  const std::int64_t start = now_ns();
  TeamJob job(fn, n_tasks, cancel);
  std::vector<Worker*> helpers;
  helpers.reserve(team - 1);
  const int started = pool().acquire(team - 1, helpers);
  job.remaining = static_cast<int>(helpers.size());
  for (std::size_t i = 0; i < helpers.size(); ++i) Pool::give(helpers[i], &job, static_cast<int>(i) + 1);
  job.run(0);
  {
    std::unique_lock<std::mutex> lock(job.m);
    job.done.wait(lock, [&] { return job.remaining == 0; });
  }
  ContentionGate::report(job.cpu, static_cast<int>(helpers.size()) + 1, (now_ns() - start) * 1e-9, started > 0);
  if (job.error) std::rethrow_exception(job.error);
}

struct Background::State final : Work {
  std::function<void()> work;
  std::exception_ptr error;
  std::mutex m;
  std::condition_variable done_cv;
  bool done = false;

  void run(int) override {
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
  }
  void finish() override {
    std::lock_guard<std::mutex> lock(m);
    done = true;
    done_cv.notify_all();
  }
};

Background::Background(std::function<void()> work) : state_(std::make_shared<State>()) {
  state_->work = std::move(work);
  std::vector<Worker*> one;
  pool().acquire(1, one);
  if (one.empty()) {  // no thread to be had: run here
    state_->run(0);
    state_->finish();
    return;
  }
  Pool::give(one[0], state_.get(), 0);
}

Background::~Background() { wait(); }

bool Background::wait_for(double seconds) {
  std::unique_lock<std::mutex> lock(state_->m);
  return state_->done_cv.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return state_->done; });
}

void Background::wait() {
  std::unique_lock<std::mutex> lock(state_->m);
  state_->done_cv.wait(lock, [&] { return state_->done; });
}

void Background::rethrow_if_failed() const {
  if (state_->error) std::rethrow_exception(state_->error);
}

const char* threading_runtime() { return "own pool (pthreads)"; }

int pool_threads() {
  Pool* p = g_pool.load();
  return p ? p->threads() : 0;
}

}  // namespace fsrcnn
