#include "scratch_memory.h"

#include <algorithm>
#include <new>

#include "round_up.h"

namespace fsrcnn {
namespace {

// A block's storage, aligned to kAlign: new[] of std::byte only promises the default alignment.
ScratchMemory::BlockPtr new_block(std::size_t bytes) {
  return ScratchMemory::BlockPtr(
      static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{ScratchMemory::kAlign})));
}

}  // namespace

ScratchMemory::Lease::Lease(ScratchMemory& owner) : owner_(owner) {
  std::unique_lock<std::mutex> lock(owner.mutex_, std::try_to_lock);
  if (!lock.owns_lock() || owner.free_.empty()) return;
  Block b = std::move(owner.free_.back());
  owner.free_.pop_back();
  block_ = std::move(b.data);
  size_ = b.size;
}

ScratchMemory::Lease::~Lease() {
  // The next call of the same shape fits in one block: this one's size plus what overflowed it.
  const std::size_t wanted = round_up(size_ + overflow_, std::size_t{1} << 16);
  Block b;
  if (overflow_ == 0) {
    b = Block{std::move(block_), size_};
  } else if (wanted <= kMaxCachedBytes) {
    try {
      b = Block{new_block(wanted), wanted};
    } catch (const std::bad_alloc&) {
      return;
    }
  }
  if (!b.data) return;  // nothing leased, or too big to keep
  std::unique_lock<std::mutex> lock(owner_.mutex_, std::try_to_lock);
  if (lock.owns_lock() && owner_.free_.size() < kMaxCached) owner_.free_.push_back(std::move(b));
}

void* ScratchMemory::Lease::do_allocate(std::size_t bytes, std::size_t align) {
  align = std::max(align, kAlign);
  const std::size_t start = round_up(used_, align);
  if (block_ && start + bytes <= size_) {
    used_ = start + bytes;
    return block_.get() + start;
  }
  overflow_ += round_up(bytes, kAlign);
  return ::operator new(bytes, std::align_val_t{align});
}

void ScratchMemory::Lease::do_deallocate(void* p, std::size_t bytes, std::size_t align) {
  const std::byte* q = static_cast<const std::byte*>(p);
  if (block_ && q >= block_.get() && q < block_.get() + size_) return;  // the block is reused whole
  ::operator delete(p, bytes, std::align_val_t{std::max(align, kAlign)});
}

std::size_t ScratchMemory::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::size_t total = 0;
  for (const Block& b : free_) total += b.size;
  return total;
}

}  // namespace fsrcnn
