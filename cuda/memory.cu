// The CUDA backend's device discovery, error reporting, memory (the caching allocator
// of cuda/allocator.h over cudaMalloc), host <-> device copies staged through pinned
// memory, the cuBLAS handle and the math-mode switches. A binary built with CUDA runs on
// a machine without a GPU: is_available() is false there and every request for device
// memory throws a kiln::Error that says why.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda/allocator.h"
#include "cuda/runtime.cuh"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace kiln::cuda {

// ---- errors ---------------------------------------------------------------------------

namespace detail {

// [region cuda_check]
// CUDA errors throw kiln::Error with file:line, never exit(), so tests can catch them
// (KILN_CUDA_CHECK in cuda/runtime.cuh calls this when a call does not return success).
void throw_cuda_error(cudaError_t status, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls start clean
  fail("CUDA error in {} at {}:{}: {} ({})", what, file, line, cudaGetErrorString(status),
       static_cast<int>(status));
}

void throw_cublas_error(cublasStatus_t status, const char* what, const char* file, int line) {
  fail("cuBLAS error in {} at {}:{}: {} ({})", what, file, line, cublasGetStatusString(status),
       static_cast<int>(status));
}
// [endregion]

}  // namespace detail

// ---- discovery ------------------------------------------------------------------------

namespace {

// [region cuda_discovery]
// The answer of cudaGetDeviceCount, asked once: no driver or no GPU is not an error
// here, it means zero devices (and the reason is kept for the messages).
struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery out;
    const cudaError_t status = cudaGetDeviceCount(&out.count);
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear the error state
      out.count = 0;
      out.reason = fmt::format("cudaGetDeviceCount: {} ({})", cudaGetErrorString(status),
                               static_cast<int>(status));
    } else if (out.count == 0) {
      out.reason = "cudaGetDeviceCount found no CUDA GPU";
    }
    return out;
  }();
  return d;
}
// [endregion]

}  // namespace

bool built_with_cuda() { return true; }
int device_count() { return discovery().count; }
bool is_available() { return device_count() > 0; }
std::string unavailable_reason() { return discovery().reason; }

// [region require_device]
void require_device(int index, const char* op) {
  const int n = device_count();
  if (n == 0)
    fail("{}: cuda:{} requested, but there is no usable CUDA GPU or driver on this machine "
         "(kiln was built with CUDA; {})",
         op, index, unavailable_reason());
  if (index < 0 || index >= n)
    fail("{}: cuda:{} requested but only {} CUDA device(s) exist", op, index, n);
  KILN_CUDA_CHECK(cudaSetDevice(index));
}
// [endregion]

std::string device_name(int index) {
  require_device(index, "device_name");
  cudaDeviceProp prop{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

void synchronize() {
  if (!is_available()) return;
  KILN_CUDA_CHECK(cudaDeviceSynchronize());
}

// ---- the caching allocator ------------------------------------------------------------

namespace {

// The raw allocator under the cache: cudaMalloc / cudaFree on one device.
struct CudaMalloc {
  int device = 0;
  void* allocate(std::size_t n) const {
    void* p = nullptr;
    cudaSetDevice(device);
    if (cudaMalloc(&p, n) != cudaSuccess) {
      cudaGetLastError();  // out of memory is reported by the caller, not sticky
      return nullptr;
    }
    return p;
  }
  void deallocate(void* p, std::size_t) const {
    cudaSetDevice(device);
    cudaFree(p);
  }
};

using DeviceAllocator = CachingAllocator<CudaMalloc>;

// One allocator per device, made on first use and never destroyed: tensors may be
// freed during static destruction, after the CUDA runtime has begun shutting down, and
// must then find a live allocator (whose cache the process exit releases).
DeviceAllocator& allocator_of(int device) {
  static std::mutex mutex;
  static std::vector<DeviceAllocator*> allocators;
  std::lock_guard<std::mutex> lock(mutex);
  if (allocators.empty()) allocators.resize(static_cast<size_t>(std::max(device_count(), 1)));
  KILN_CHECK(device >= 0 && device < static_cast<int>(allocators.size()),
             "cuda allocator: no device cuda:{}", device);
  auto& a = allocators[static_cast<size_t>(device)];
  if (a == nullptr) a = new DeviceAllocator(CudaMalloc{device});
  return *a;
}

std::string bytes_str(std::size_t n) {
  return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1024.0 * 1024.0));
}

}  // namespace

// [region cuda_allocate]
void* allocate(std::size_t nbytes, int device) {
  require_device(device, "allocate");
  if (nbytes == 0) return nullptr;
  DeviceAllocator& a = allocator_of(device);
  void* ptr = a.allocate(nbytes);
  if (ptr == nullptr) {
    const MemoryStats s = a.stats();
    std::size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    cudaGetLastError();
    fail("allocate: out of memory on cuda:{} allocating {} ({} allocated by kiln, {} reserved, "
         "{} free of {} on the device)",
         device, bytes_str(nbytes), bytes_str(s.allocated), bytes_str(s.reserved),
         bytes_str(free_bytes), bytes_str(total_bytes));
  }
  return ptr;
}
// [endregion]

void deallocate(void* ptr, std::size_t, int device) {
  if (ptr == nullptr) return;
  allocator_of(device).deallocate(ptr);  // never throws from a destructor path
}

MemoryStats memory_stats(int device) {
  if (!is_available()) return {};
  return allocator_of(device).stats();
}

void reset_peak_memory_stats(int device) {
  if (is_available()) allocator_of(device).reset_peak();
}

void empty_cache() {
  for (int d = 0; d < device_count(); ++d) allocator_of(d).empty_cache();
}

namespace detail {

Scratch::Scratch(std::size_t nbytes) : nbytes_(nbytes) {
  KILN_CUDA_CHECK(cudaGetDevice(&device_));
  ptr_ = allocate(nbytes, device_);
}
Scratch::~Scratch() { deallocate(ptr_, nbytes_, device_); }

}  // namespace detail

// ---- copies ---------------------------------------------------------------------------

namespace {

// Note [Pinned staging]
// The DMA engines read and write only page-locked host memory; from ordinary (pageable)
// memory the driver first copies through a small internal buffer, one piece at a time.
// Large copies here go through two pinned buffers of kChunk bytes instead: while the
// GPU transfers one chunk, the host fills (or drains) the other, so the host memcpy and
// the DMA overlap. Small copies go straight to cudaMemcpy, where the setup would cost
// more than it saves. The buffers are made on first use and kept (one pair per process,
// guarded by a mutex: copies from several threads take turns).
constexpr std::size_t kChunk = std::size_t(4) << 20;        // 4 MiB
constexpr std::size_t kStagingMin = std::size_t(256) << 10;  // below this: plain cudaMemcpy

struct Staging {
  std::mutex mutex;
  void* buffer[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  bool ready = false;

  // False when pinned memory cannot be had (then copies fall back to cudaMemcpy).
  bool init() {
    if (ready) return true;
    for (int i = 0; i < 2; ++i) {
      if (cudaMallocHost(&buffer[i], kChunk) != cudaSuccess ||
          cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming) != cudaSuccess) {
        cudaGetLastError();
        return false;
      }
    }
    ready = true;
    return true;
  }
};

Staging& staging() {
  static Staging* s = new Staging();  // never destroyed, as the allocators
  return *s;
}

}  // namespace

// [region pinned_staging]
void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy_host_to_device");
  if (nbytes == 0) return;
  Staging& st = staging();
  std::unique_lock<std::mutex> lock(st.mutex);
  if (nbytes < kStagingMin || !st.init()) {
    lock.unlock();
    KILN_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
    return;
  }
  // Chunk i is copied into buffer i % 2 once the DMA of chunk i - 2 (from that buffer)
  // is done, then queued for transfer.
  const auto* from = static_cast<const char*>(src);
  auto* to = static_cast<char*>(dst);
  for (std::size_t off = 0, i = 0; off < nbytes; off += kChunk, ++i) {
    const int b = static_cast<int>(i % 2);
    const std::size_t n = std::min(kChunk, nbytes - off);
    if (i >= 2) KILN_CUDA_CHECK(cudaEventSynchronize(st.done[b]));
    std::memcpy(st.buffer[b], from + off, n);
    KILN_CUDA_CHECK(
        cudaMemcpyAsync(to + off, st.buffer[b], n, cudaMemcpyHostToDevice, detail::stream()));
    KILN_CUDA_CHECK(cudaEventRecord(st.done[b], detail::stream()));
  }
  // The source was already copied into the pinned buffers; wait for the last transfer
  // (the stream runs them in order) so that both buffers are free for the next copy.
  const std::size_t chunks = (nbytes + kChunk - 1) / kChunk;
  KILN_CUDA_CHECK(cudaEventSynchronize(st.done[(chunks - 1) % 2]));
}
// [endregion]

void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy_device_to_host");
  if (nbytes == 0) return;
  Staging& st = staging();
  std::unique_lock<std::mutex> lock(st.mutex);
  if (nbytes < kStagingMin || !st.init()) {
    lock.unlock();
    KILN_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
    return;
  }
  // Chunk i is queued into buffer i % 2; while it transfers, chunk i - 1 is drained from
  // the other buffer to its destination.
  const auto* from = static_cast<const char*>(src);
  auto* to = static_cast<char*>(dst);
  const std::size_t chunks = (nbytes + kChunk - 1) / kChunk;
  auto drain = [&](std::size_t i) {
    const int b = static_cast<int>(i % 2);
    const std::size_t off = i * kChunk, n = std::min(kChunk, nbytes - off);
    KILN_CUDA_CHECK(cudaEventSynchronize(st.done[b]));
    std::memcpy(to + off, st.buffer[b], n);
  };
  for (std::size_t i = 0; i < chunks; ++i) {
    const int b = static_cast<int>(i % 2);
    const std::size_t off = i * kChunk, n = std::min(kChunk, nbytes - off);
    KILN_CUDA_CHECK(
        cudaMemcpyAsync(st.buffer[b], from + off, n, cudaMemcpyDeviceToHost, detail::stream()));
    KILN_CUDA_CHECK(cudaEventRecord(st.done[b], detail::stream()));
    if (i >= 1) drain(i - 1);
  }
  drain(chunks - 1);
}

void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy_device_to_device");
  if (nbytes == 0) return;
  KILN_CUDA_CHECK(
      cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, detail::stream()));
}

// ---- cuBLAS and math modes ------------------------------------------------------------

namespace {
std::atomic<bool> g_allow_tf32{false};
}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }

namespace detail {

cublasHandle_t cublas_handle() {
  // One handle per device, made on first use and never destroyed (as the allocators).
  static std::mutex mutex;
  static std::vector<cublasHandle_t> handles;
  int device = 0;
  KILN_CUDA_CHECK(cudaGetDevice(&device));
  std::lock_guard<std::mutex> lock(mutex);
  if (handles.size() <= static_cast<size_t>(device)) handles.resize(device + 1, nullptr);
  cublasHandle_t& h = handles[static_cast<size_t>(device)];
  if (h == nullptr) {
    KILN_CUBLAS_CHECK(cublasCreate(&h));
    KILN_CUBLAS_CHECK(cublasSetStream(h, stream()));
  }
  return h;
}

}  // namespace detail
}  // namespace kiln::cuda
