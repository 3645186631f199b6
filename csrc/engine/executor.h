// The engine's one executor: a small pool of worker threads of its own (no OpenMP runtime), the
// process-wide thread budget and the contention gate.
//
// Why not OpenMP: GNU OpenMP's team does not survive fork() (a child that calls the engine after the
// parent ran a parallel region hangs forever: gunicorn --preload, Celery prefork, multiprocessing's
// fork start method), and a wheel linking libgomp puts a second OpenMP runtime next to the ones
// torch, onnxruntime or OpenCV may bring. This pool is pthreads only; after fork() the child drops
// the parent's (absent) threads and builds a new team at its first call.
//
// A call takes a Team: up to `want` threads leased from the process-wide budget (the cores this
// process may run on), so calls made at once from several Python threads share the cores instead of
// each starting a full team. The calling thread is worker 0; helpers come from the pool. Workers
// spin about a millisecond after a job before they sleep, so back-to-back calls (one per layer
// stack, frame after frame) do not pay a wake-up each.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>

namespace fsrcnn {

// A cooperative stop request: a long call checks it between rows and tiles and returns early. The
// output is then incomplete; the caller (the Python binding) discards it and raises.
using CancelFlag = std::atomic<bool>;
inline bool stop_requested(const CancelFlag* cancel) { return cancel && cancel->load(std::memory_order_relaxed); }

class Team {
 public:
  // Leases up to `want` threads (>= 1) from the budget; runs on the calling thread alone when the
  // budget is spent by other calls.
  explicit Team(int want);
  ~Team();
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int size() const { return size_; }

  // Calls fn(task, worker) once for every task in [0, n_tasks), on size() threads at most, tasks handed
  // out one at a time in order (worker in [0, size()): per-worker scratch). Returns when every task
  // started has finished. Once `cancel` is set no new task starts. The first exception a task throws
  // stops the others from starting and is rethrown here.
  void run(int n_tasks, const std::function<void(int task, int worker)>& fn, const CancelFlag* cancel = nullptr);

  // Whether the contention gate lets the next call run on several threads (see executor.cpp).
  static bool parallel_allowed();

 private:
  int size_ = 1;
  int leased_ = 0;
};

// Runs `work` on a pool thread while the caller waits in slices (so that it can poll something, e.g.
// Python's pending signals, between them). The caller must call wait() or wait_for() until it returns
// true before the Background is destroyed; the destructor waits otherwise.
class Background {
 public:
  explicit Background(std::function<void()> work);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  bool wait_for(double seconds);  // true once work has returned (or thrown)
  void wait();
  void rethrow_if_failed() const;  // the exception work threw, if any

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// What cpu_info() reports as the threading runtime.
const char* threading_runtime();

// Threads the pool has started in this process (after fork: in this child); for tests.
int pool_threads();

}  // namespace fsrcnn
