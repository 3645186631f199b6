#pragma once

#include <cstddef>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <new>
#include <vector>

namespace fsrcnn {

// Memory for the per-thread scratch of one engine call (rings, Winograd buffers, the frame's chroma
// rings), kept from call to call. Freed at the end of every call, that memory went back to the kernel:
// glibc trims the top of the arena of the thread that frees it (the call runs on a pool thread), and
// the next call faulted it back in page by page: 615-745 page faults per call of upscale() on a
// 240x240 RGB frame at 2 threads, ~15 % of its CPU time.
//
// A call leases a block and bump-allocates from it; what does not fit comes from the heap and makes the
// block grow for the next call. Blocks are cached per Network, one per concurrent call, up to
// kMaxCached blocks of at most kMaxCachedBytes each (a larger call's scratch is freed as before: its
// own run time dwarfs the faults). A call only ever try-locks the cache's mutex, so a process that
// forks while another thread holds it cannot deadlock: the lease then goes without the cache.
class ScratchMemory {
 public:
  static constexpr std::size_t kAlign = 64;  // every allocation: a cache line, what the SIMD loads want
  static constexpr std::size_t kMaxCached = 4;
  static constexpr std::size_t kMaxCachedBytes = std::size_t{256} << 20;

  struct AlignedDelete {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kAlign}); }
  };
  using BlockPtr = std::unique_ptr<std::byte[], AlignedDelete>;

  class Lease : public std::pmr::memory_resource {
   public:
    explicit Lease(ScratchMemory& owner);
    ~Lease() override;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;

   private:
    void* do_allocate(std::size_t bytes, std::size_t align) override;
    void do_deallocate(void* p, std::size_t bytes, std::size_t align) override;
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override { return this == &other; }

    ScratchMemory& owner_;
    BlockPtr block_;
    std::size_t size_ = 0, used_ = 0, overflow_ = 0;
  };

  // Blocks held for the next calls, in bytes (for tests).
  std::size_t cached_bytes() const;

 private:
  struct Block {
    BlockPtr data;
    std::size_t size = 0;
  };
  mutable std::mutex mutex_;
  std::vector<Block> free_;
};

}  // namespace fsrcnn
