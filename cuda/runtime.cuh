#pragma once
// What every .cu file of the CUDA backend shares: error checks that throw kiln::Error
// with file:line, the one stream kiln runs on, launch geometry, block reductions and a
// scratch buffer from the caching allocator. Included by cuda/*.cu only.
//
// Note [One stream]
// Every kernel, cuBLAS call and copy runs on the legacy default stream, in the order the
// host issues them. That ordering is what lets the caching allocator hand a freed block
// to the next request at once (Note [Caching allocator] in cuda/allocator.h), and what
// makes a copy back to the host see every kernel queued before it. Kernels are
// asynchronous: an error inside one surfaces at the next synchronising call (a copy to
// the host, cuda::synchronize()), which reports its own file:line.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace kiln::cuda::detail {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* what, const char* file,
                                   int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* what, const char* file,
                                     int line);

inline void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess) throw_cuda_error(status, what, file, line);
}
inline void check(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(status, what, file, line);
}
// After a launch: a bad configuration (too many threads, too much shared memory) is
// reported here, naming the kernel's op.
inline void check_launch(const char* op, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) throw_cuda_error(status, op, file, line);
}

// The stream of Note [One stream].
inline cudaStream_t stream() { return cudaStreamLegacy; }

// The cuBLAS handle of the current device, made on first use, bound to stream().
cublasHandle_t cublas_handle();

// Threads per block of the element-wise and reduction kernels.
inline constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than
// one item per thread. n must be > 0.
inline unsigned blocks_for(std::int64_t n, int threads = kThreads) {
  const std::int64_t want = (n + threads - 1) / threads;
  constexpr std::int64_t kMaxBlocks = 65536;
  return static_cast<unsigned>(want < kMaxBlocks ? want : kMaxBlocks);
}

// float32 sums accumulate in double, as on the CPU (tensor/cpu/reduce.cpp), so the two
// devices agree to float32 rounding however long the sum.
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, float>, double, T>;

// Device scratch memory from the caching allocator, released when it goes out of scope
// (the block returns to the cache; Note [One stream] makes the reuse safe).
class Scratch {
 public:
  explicit Scratch(std::size_t nbytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  std::size_t nbytes_ = 0;
  int device_ = 0;
};

// ---- device helpers -----------------------------------------------------------------

// [region block_sum]
// Sum over the 32 lanes of a warp (every lane gets the result).
template <class T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. `shared` holds 32 values. Ends with a barrier, so it may be called again.
template <class T>
__device__ inline T block_sum(T v, T* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  T total = lane < warps ? shared[lane] : T(0);
  total = warp_sum(total);
  __syncthreads();
  return total;
}
// [endregion]

}  // namespace kiln::cuda::detail

#define KILN_CUDA_CHECK(expr) ::kiln::cuda::detail::check((expr), #expr, __FILE__, __LINE__)
#define KILN_CUBLAS_CHECK(expr) ::kiln::cuda::detail::check((expr), #expr, __FILE__, __LINE__)
#define KILN_CUDA_CHECK_LAUNCH(op) ::kiln::cuda::detail::check_launch((op), __FILE__, __LINE__)
