#pragma once
// The caching allocator's bookkeeping, separate from CUDA so that it is tested on any
// machine (tests/cuda/host_test.cpp runs it over malloc/free).
//
// Note [Caching allocator]
// cudaMalloc and cudaFree are slow (cudaFree synchronises the device), and a training
// step allocates and frees the same few hundred buffers every iteration. So freed
// blocks are kept in free lists, one per size class, and the next request of that class
// takes one back without calling the driver:
//
//   size class   requests are rounded up to a multiple of max(512 B, 2^floor(log2 n) / 8),
//                so a class wastes at most 1/8 of its size and there are 8 classes per
//                power of two: 512, 1024, ..., 4096, 4608, 5120, ..., 1 MiB, 1.125 MiB, ...
//   allocate     pop a block of the request's class, or get a new one from the raw
//                allocator; when that fails, release every cached block and try once more
//                (the memory may be fragmented across classes), then throw.
//   deallocate   push the block onto its class's free list (memory stays reserved).
//   empty_cache  give every cached block back to the raw allocator.
//
// Reusing a block at once is safe because kiln runs all its kernels and copies on one
// stream, in order: a kernel that reads the old owner's data is queued before any kernel
// of the new owner can write it.
//
// Statistics, in bytes of size classes:
//   allocated        blocks handed out and not yet freed,
//   reserved         allocated + cached (what the raw allocator holds for us),
//   peak_allocated   the largest `allocated` seen (reset_peak() restarts it),
//   and counts of requests, cache hits, raw allocations and raw frees.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tensor/backend.h"  // MemoryStats

namespace kiln::cuda {

// [region size_class]
// The size class of a request of n bytes (n > 0); see Note [Caching allocator].
constexpr std::size_t size_class(std::size_t n) {
  constexpr std::size_t kMinBlock = 512;
  if (n <= kMinBlock) return kMinBlock;
  const std::size_t granularity = std::max(kMinBlock, std::bit_floor(n) / 8);
  return (n + granularity - 1) / granularity * granularity;
}
// [endregion]

// Raw must provide   void* allocate(std::size_t)   (nullptr on failure) and
//                    void deallocate(void*, std::size_t).
// Thread-safe: one mutex around the bookkeeping (the raw calls happen under it too).
template <class Raw>
class CachingAllocator {
 public:
  explicit CachingAllocator(Raw raw = Raw()) : raw_(std::move(raw)) {}
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  ~CachingAllocator() { empty_cache(); }

  // [region caching_allocate]
  // A block of at least n bytes, or nullptr when the raw allocator fails even after the
  // cache was emptied (the caller turns that into an error naming the request). n = 0
  // returns nullptr without counting anything.
  void* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    const std::size_t cls = size_class(n);
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.requests;
    void* ptr = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      ptr = it->second.back();
      it->second.pop_back();
      ++stats_.cache_hits;
    } else {
      ptr = raw_.allocate(cls);
      if (ptr == nullptr) {
        release_cached_locked();
        ptr = raw_.allocate(cls);
        if (ptr == nullptr) return nullptr;
      }
      ++stats_.raw_allocations;
      stats_.reserved += cls;
    }
    live_.emplace(ptr, cls);
    stats_.allocated += cls;
    stats_.peak_allocated = std::max(stats_.peak_allocated, stats_.allocated);
    return ptr;
  }
  // [endregion]

  // Returns a block to its free list. Unknown pointers are ignored (and counted as a
  // bug by the caller's tests); nullptr is a no-op.
  bool deallocate(void* ptr) {
    if (ptr == nullptr) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = live_.find(ptr);
    if (it == live_.end()) return false;
    const std::size_t cls = it->second;
    live_.erase(it);
    stats_.allocated -= cls;
    free_[cls].push_back(ptr);
    return true;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_cached_locked();
  }

  MemoryStats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    MemoryStats s = stats_;
    s.cached = s.reserved - s.allocated;
    return s;
  }

  void reset_peak() {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated = stats_.allocated;
  }

 private:
  void release_cached_locked() {
    for (auto& [cls, blocks] : free_) {
      for (void* p : blocks) {
        raw_.deallocate(p, cls);
        stats_.reserved -= cls;
        ++stats_.raw_frees;
      }
      blocks.clear();
    }
    free_.clear();
  }

  Raw raw_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;  // size class -> cached blocks
  std::unordered_map<void*, std::size_t> live_;      // handed-out block -> size class
  MemoryStats stats_;
};

}  // namespace kiln::cuda
