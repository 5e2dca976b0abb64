#pragma once
// The backend interface: what a device must supply.
//
// The CPU backend lives in tensor/cpu/ (templates over the scalar type on raw
// pointers); the CUDA backend in cuda/ implements the same names in kiln::cuda, one
// header per family next to its .cu file. With CUDA off, cuda/no_cuda.cpp supplies every
// kiln::cuda function as a stub that throws "<name> has no CUDA build". Ops
// (autograd/ops/) choose the kernel by the device of their inputs (Note [Device
// dispatch] in autograd/ops/common.h):
//   cpu::<kernel>   or   cuda::<kernel>.
//
// Kernel families (file stems match across tensor/cpu/, cuda/ and autograd/ops/):
//   memory        allocate / deallocate / copies between host and device   (below)
//   elementwise   unary, binary, where, clamp, copy (strided, with casts), fill
//   reduce        reduce (sum/max/min over the last axis of [outer, inner]),
//                 arg_reduce, softmax_forward/backward (log_softmax with log = true)
//   gemm          gemm (row-major, optional transposes); CUDA adds gemm_strided_batched
//   conv          conv2d_forward, conv2d_backward_input/weight/bias
//   pool          avg_pool2d_forward/backward, max_pool2d_forward/backward
//   interpolate   interpolate_{nearest,bilinear}_{forward,backward}
//   norm          {group,layer,batch}_norm_{forward,backward}
//   index         gather, scatter_add, index_select, index_add
//   optim         adam_update, sgd_update
//   random        philox_uniform, philox_normal, philox_randint
// Ops built from these (attention, dropout, losses, cat, pad, embedding, clipping) need
// no kernel of their own.
#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::cuda {

// ---- device discovery -----------------------------------------------------------
bool is_available();   // built with CUDA and at least one usable GPU and driver
int device_count();    // 0 when not available
std::string device_name(int index);
bool built_with_cuda();
// Why no GPU is usable ("" when one is): the driver's answer, or "built without CUDA".
std::string unavailable_reason();
// Throws kiln::Error naming `op` unless cuda:`index` exists and is usable, then makes it
// the current device. Factories and Tensor::to call it, so asking for a CUDA tensor on a
// machine without a GPU says so, naming the factory.
void require_device(int index, const char* op);
// Waits for every queued kernel and copy (and reports an asynchronous error).
void synchronize();

// ---- memory ---------------------------------------------------------------------
// Device memory comes from a caching allocator (Note [Caching allocator] in
// cuda/allocator.h); host <-> device copies of large buffers are staged through pinned
// host memory.
void* allocate(std::size_t nbytes, int device);
void deallocate(void* ptr, std::size_t nbytes, int device);
void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device);

// In bytes of the allocator's size classes; see cuda/allocator.h.
struct MemoryStats {
  std::size_t allocated = 0;       // handed out to tensors and scratch buffers
  std::size_t reserved = 0;        // held from the driver: allocated + cached
  std::size_t peak_allocated = 0;  // the most `allocated` has been since the last reset
  std::size_t cached = 0;          // reserved - allocated: free blocks kept for reuse
  std::uint64_t requests = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t raw_allocations = 0;  // cudaMalloc calls
  std::uint64_t raw_frees = 0;        // cudaFree calls
};
MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Gives every cached (free) block back to the driver; live tensors are untouched.
void empty_cache();

// ---- math modes -----------------------------------------------------------------
// float32 matrix products (matmul, bmm, conv2d) may use TF32 tensor cores: about 10
// mantissa bits per product instead of 23, several times faster. Off by default, so that
// results match the CPU to float32 rounding; training scripts turn it on.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace kiln::cuda
