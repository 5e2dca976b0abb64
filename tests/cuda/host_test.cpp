// The host half of the CUDA suite (tests/cuda/main.cpp): what runs and must pass on any
// machine, with or without a GPU.
//   - the caching allocator's bookkeeping (cuda/allocator.h) over malloc/free,
//   - the Philox block function the GPU threads run (tensor/philox.h), compiled as host
//     code, block by block in reverse order, against the CPU draws,
//   - the errors for CUDA tensors where no GPU can be used,
//   - the nn op table (tests/common/op_table.h) gradchecked on the CPU, so that every row
//     the GPU suite runs is known to be right here.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/op_table.h"
#include "cuda/allocator.h"
#include "kiln.h"
#include "tensor/philox.h"

using namespace kiln;

namespace {

// malloc/free with counters and an optional budget (a request past it fails, as
// cudaMalloc does when the GPU is full).
struct CountingMalloc {
  struct Counters {
    std::atomic<std::int64_t> live_bytes{0}, allocations{0}, frees{0};
    std::int64_t budget = -1;  // -1: unlimited
  };
  Counters* c;
  void* allocate(std::size_t n) const {
    if (c->budget >= 0 && c->live_bytes + static_cast<std::int64_t>(n) > c->budget) return nullptr;
    c->live_bytes += static_cast<std::int64_t>(n);
    ++c->allocations;
    return std::malloc(n);
  }
  void deallocate(void* p, std::size_t n) const {
    c->live_bytes -= static_cast<std::int64_t>(n);
    ++c->frees;
    std::free(p);
  }
};

using Allocator = cuda::CachingAllocator<CountingMalloc>;

}  // namespace

TEST_CASE("caching allocator: size classes waste at most 1/8 and are few") {
  using cuda::size_class;
  CHECK(size_class(1) == 512);
  CHECK(size_class(512) == 512);
  CHECK(size_class(513) == 1024);
  CHECK(size_class(4096) == 4096);
  CHECK(size_class(4097) == 4608);
  CHECK(size_class(std::size_t(1) << 20) == std::size_t(1) << 20);
  CHECK(size_class((std::size_t(1) << 20) + 1) == (std::size_t(1) << 20) + (std::size_t(1) << 17));
  std::set<std::size_t> classes;
  std::size_t previous = 0;
  for (std::size_t n = 1; n < (std::size_t(1) << 24); n = n * 21 / 20 + 1) {
    const std::size_t c = size_class(n);
    CHECK(c >= n);
    CHECK(c % 512 == 0);
    CHECK(c >= previous);  // monotone
    if (n > 4096) CHECK(c <= n + n / 8);
    previous = c;
    classes.insert(c);
  }
  // 8 classes per power of two between 4 KiB and 16 MiB, plus the 512-byte steps below.
  CHECK(classes.size() <= 8 * 12 + 8);
}

TEST_CASE("caching allocator: a freed block is reused for a request of its class") {
  CountingMalloc::Counters counters;
  Allocator a(CountingMalloc{&counters});
  void* p = a.allocate(1000);
  REQUIRE(p != nullptr);
  CHECK(a.stats().allocated == 1024);
  CHECK(a.deallocate(p));
  CHECK(a.stats().allocated == 0);
  CHECK(a.stats().reserved == 1024);
  CHECK(a.stats().cached == 1024);
  void* q = a.allocate(900);  // same class: the cached block comes back
  CHECK(q == p);
  void* r = a.allocate(2000);  // another class: a new raw allocation
  CHECK(r != p);
  const cuda::MemoryStats s = a.stats();
  CHECK(s.requests == 3);
  CHECK(s.cache_hits == 1);
  CHECK(s.raw_allocations == 2);
  CHECK(counters.allocations == 2);
  CHECK(s.allocated == 1024 + 2048);
  CHECK(s.reserved == 1024 + 2048);
  a.deallocate(q);
  a.deallocate(r);
  CHECK(a.allocate(0) == nullptr);  // zero bytes: nothing, not counted
  CHECK(a.stats().requests == 3);
}

TEST_CASE("caching allocator: statistics track allocated, reserved and the peak") {
  CountingMalloc::Counters counters;
  Allocator a(CountingMalloc{&counters});
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) blocks.push_back(a.allocate(4096));
  CHECK(a.stats().allocated == 4 * 4096);
  CHECK(a.stats().peak_allocated == 4 * 4096);
  for (void* p : blocks) a.deallocate(p);
  CHECK(a.stats().allocated == 0);
  CHECK(a.stats().peak_allocated == 4 * 4096);
  CHECK(a.stats().reserved == 4 * 4096);
  a.reset_peak();
  CHECK(a.stats().peak_allocated == 0);
  void* p = a.allocate(4096);
  CHECK(a.stats().peak_allocated == 4096);
  CHECK(a.stats().raw_allocations == 4);  // served from the cache
  a.deallocate(p);
  a.empty_cache();
  CHECK(a.stats().reserved == 0);
  CHECK(a.stats().cached == 0);
  CHECK(a.stats().raw_frees == 4);
  CHECK(counters.live_bytes == 0);
}

TEST_CASE("caching allocator: out of memory empties the cache and retries once") {
  CountingMalloc::Counters counters;
  counters.budget = 8192;
  Allocator a(CountingMalloc{&counters});
  void* p = a.allocate(6000);  // class 6144
  REQUIRE(p != nullptr);
  a.deallocate(p);  // cached: the raw allocator still holds 6144 bytes
  void* q = a.allocate(4096);  // 6144 + 4096 > budget: the cache is released, then it fits
  CHECK(q != nullptr);
  CHECK(a.stats().raw_frees == 1);
  CHECK(a.stats().reserved == 4096);
  CHECK(a.allocate(8192) == nullptr);  // cannot fit even with an empty cache
  CHECK(a.stats().allocated == 4096);
  a.deallocate(q);
}

TEST_CASE("caching allocator: unknown pointers are refused, nullptr is ignored") {
  CountingMalloc::Counters counters;
  Allocator a(CountingMalloc{&counters});
  int local = 0;
  CHECK_FALSE(a.deallocate(&local));
  CHECK(a.deallocate(nullptr));
  void* p = a.allocate(10);
  CHECK(a.deallocate(p));
  CHECK_FALSE(a.deallocate(p));  // a double free is caught, not cached twice
  CHECK(a.stats().cached == 512);
}

TEST_CASE("caching allocator: concurrent use keeps the books balanced") {
  CountingMalloc::Counters counters;
  {
    Allocator a(CountingMalloc{&counters});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&a, t] {
        std::vector<void*> mine;
        for (int i = 0; i < 500; ++i) {
          mine.push_back(a.allocate(static_cast<std::size_t>(256 * (1 + (i + t) % 7))));
          if (i % 3 == 2) {
            a.deallocate(mine.back());
            mine.pop_back();
          }
        }
        for (void* p : mine) a.deallocate(p);
      });
    }
    for (auto& th : threads) th.join();
    const cuda::MemoryStats s = a.stats();
    CHECK(s.allocated == 0);
    CHECK(s.requests == 2000);
    CHECK(s.cache_hits + s.raw_allocations == 2000);
    CHECK(s.reserved == s.cached);
    CHECK(counters.live_bytes == static_cast<std::int64_t>(s.reserved));
  }
  CHECK(counters.live_bytes == 0);  // the destructor released the cache
  CHECK(counters.allocations == counters.frees);
}

// ---- Philox ---------------------------------------------------------------------------

namespace {

// Runs philox::draw_block for every block in reverse order -- as GPU threads may -- into
// a buffer of n values.
template <int per, class T, class Fill>
std::vector<T> draw_by_blocks(std::uint64_t seed, std::uint64_t offset, std::int64_t n,
                              const Fill& fill) {
  std::vector<T> out(static_cast<size_t>(n), T(-7));
  const std::int64_t blocks = (n + per - 1) / per;
  for (std::int64_t j = blocks - 1; j >= 0; --j)
    philox::draw_block<per>(seed, offset, j, out.data(), n, fill);
  return out;
}

}  // namespace

TEST_CASE("philox: the GPU's block function, run on the host, reproduces the CPU draws") {
  for (std::int64_t n : {1, 5, 8, 1001}) {
    for (std::uint64_t offset : {std::uint64_t(0), std::uint64_t(3), std::uint64_t(1) << 40}) {
      const std::uint64_t seed = 0x1234'5678'9abcULL + static_cast<std::uint64_t>(n);
      INFO("n ", n, " offset ", offset);
      std::vector<float> uf(static_cast<size_t>(n));
      cpu::philox_uniform<float>(seed, offset, uf.data(), n, -2.0f, 3.0f);
      CHECK(draw_by_blocks<4, float>(seed, offset, n, philox::UniformFill<float>{-2.0f, 3.0f}) == uf);
      std::vector<double> ud(static_cast<size_t>(n));
      cpu::philox_uniform<double>(seed, offset, ud.data(), n, 0.0, 1.0);
      CHECK(draw_by_blocks<2, double>(seed, offset, n, philox::UniformFill<double>{0.0, 1.0}) == ud);
      std::vector<float> nf(static_cast<size_t>(n));
      cpu::philox_normal<float>(seed, offset, nf.data(), n, 0.5f, 2.0f);
      CHECK(draw_by_blocks<4, float>(seed, offset, n, philox::NormalFill<float>{0.5f, 2.0f}) == nf);
      std::vector<double> nd(static_cast<size_t>(n));
      cpu::philox_normal<double>(seed, offset, nd.data(), n, 0.0, 1.0);
      CHECK(draw_by_blocks<2, double>(seed, offset, n, philox::NormalFill<double>{0.0, 1.0}) == nd);
      std::vector<std::int64_t> ri(static_cast<size_t>(n));
      cpu::philox_randint(seed, offset, ri.data(), n, -5, 1000);
      CHECK(draw_by_blocks<2, std::int64_t>(seed, offset, n, philox::RandintFill{-5, 1005}) == ri);
    }
  }
}

// ---- errors ---------------------------------------------------------------------------

TEST_CASE("a CUDA tensor where no GPU can be used is a clear error naming the factory") {
  if (cuda::is_available()) {
    // With a GPU, the same path refuses an index past the last device.
    const int n = cuda::device_count();
    const std::string want = fmt::format("only {} CUDA device(s)", n);
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, {.device = Device::cuda(n)}),
                         doctest::Contains(want.c_str()), Error);
    return;
  }
  CHECK_FALSE(cuda::is_available());
  CHECK(cuda::device_count() == 0);
  CHECK_FALSE(cuda::unavailable_reason().empty());
  const std::string why = cuda::built_with_cuda() ? "no usable CUDA GPU or driver on this machine"
                                                  : "kiln was built without CUDA";
  auto check = [&](auto make, const char* op) {
    try {
      make();
      FAIL("expected an error from ", op);
    } catch (const Error& e) {
      const std::string msg = e.what();
      INFO(msg);
      CHECK(msg.rfind(std::string(op) + ": cuda:0 requested", 0) == 0);  // names the op first
      CHECK(msg.find(why) != std::string::npos);
    }
  };
  const Options on_gpu{.device = Device::cuda(0)};
  check([&] { return Tensor::zeros({2}, on_gpu); }, "zeros");
  check([&] { return Tensor::ones({2}, on_gpu); }, "ones");
  check([&] { return Tensor::empty({2}, on_gpu); }, "empty");
  check([&] { return Tensor::randn({2}, on_gpu); }, "randn");
  check([&] { return Tensor::rand({2}, on_gpu); }, "rand");
  check([&] { return Tensor::randint(0, 3, {2}, {.dtype = kInt64, .device = Device::cuda(0)}); },
        "randint");
  check([&] { return Tensor::arange(4.0, on_gpu); }, "arange");
  check([&] { return Tensor::tensor({1.0, 2.0}, on_gpu); }, "from_vector");
  check([&] { return Tensor::ones({3}).to(Device::cuda(0)); }, "to");
  check([&] { return Tensor::ones({3}).to(Device::parse("cuda:0")); }, "to");
  // Asking is never an error.
  CHECK(cuda::memory_stats().allocated == 0);
  CHECK_NOTHROW(cuda::empty_cache());
  CHECK_NOTHROW(cuda::synchronize());
}

TEST_CASE("CUDA build settings are visible to the program") {
#ifdef KILN_WITH_CUDA
  CHECK(cuda::built_with_cuda());
#else
  CHECK_FALSE(cuda::built_with_cuda());
#endif
  const bool before = cuda::allow_tf32();
  CHECK_FALSE(before);  // off by default: float32 GEMMs match the CPU
  cuda::set_allow_tf32(true);
  CHECK(cuda::allow_tf32() == cuda::built_with_cuda());
  cuda::set_allow_tf32(false);
  CHECK_FALSE(cuda::allow_tf32());
}

// ---- the nn op table on the CPU -------------------------------------------------------

TEST_CASE("nn op table: every row passes gradcheck on the CPU") {
  Generator gen(21);
  CHECK(test::gradcheck_table(test::nn_op_table(), gen) > 50);
}
