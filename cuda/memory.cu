// The CUDA backend's device discovery and memory. This is the first piece of cuda/;
// the kernels arrive with the CUDA backend issue. A binary built with CUDA runs on a
// machine without a GPU: is_available() is false there and allocate() throws.
#include <cuda_runtime.h>

#include "tensor/backend.h"
#include "tensor/error.h"

namespace kiln::cuda {
namespace {

// [region cuda_check]
// CUDA errors throw kiln::Error with file:line, never exit(), so tests can catch them.
void check(cudaError_t status, const char* what, const char* file, int line) {
  if (status != cudaSuccess)
    fail("CUDA error in {} at {}:{}: {} ({})", what, file, line, cudaGetErrorString(status),
         static_cast<int>(status));
}
#define KILN_CUDA_CHECK(expr) check((expr), #expr, __FILE__, __LINE__)
// [endregion]

void require_device(int device, const char* op) {
  const int n = device_count();
  if (n == 0)
    fail("{}: no usable CUDA GPU or driver on this machine (kiln was built with CUDA, but "
         "cudaGetDeviceCount found none)",
         op);
  if (device < 0 || device >= n)
    fail("{}: cuda:{} requested but only {} CUDA device(s) exist", op, device, n);
  KILN_CUDA_CHECK(cudaSetDevice(device));
}

}  // namespace

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  // No driver or no GPU is not an error here: it means "zero devices".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error state
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

std::string device_name(int index) {
  require_device(index, "device_name");
  cudaDeviceProp prop{};
  KILN_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

// [region cuda_allocate]
void* allocate(std::size_t nbytes, int device) {
  require_device(device, "allocate");
  void* ptr = nullptr;
  if (nbytes > 0) KILN_CUDA_CHECK(cudaMalloc(&ptr, nbytes));
  return ptr;
}
// [endregion]

void deallocate(void* ptr, std::size_t, int device) {
  if (ptr == nullptr) return;
  cudaSetDevice(device);
  cudaFree(ptr);  // never throws from a destructor path
}

void copy_host_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy_host_to_device");
  KILN_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy_device_to_host");
  KILN_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, std::size_t nbytes, int device) {
  require_device(device, "copy_device_to_device");
  KILN_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
}

}  // namespace kiln::cuda
