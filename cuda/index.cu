// CUDA indexing kernels (shapes in cuda/index.h and tensor/cpu/index.h):
//   gather        in (outer, in_dim, inner), index/out (outer, idx_dim, inner)
//   scatter_add   src/index (outer, idx_dim, inner), out (outer, out_dim, inner)
//   index_select  in (outer, in_dim, inner), index (n_index), out (outer, n_index, inner)
//   index_add     src (outer, n_index, inner), index (n_index), out (outer, out_dim, inner)
// The reads (gather, index_select) take one thread per output element. The adds give
// one thread each output column (o, i) and let it walk j in order (Note [Race-free
// accumulation] in tensor/cpu/index.cpp): no two threads write one element, and each is
// summed in the order the CPU sums it.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/index.h"
#include "cuda/runtime.cuh"

namespace kiln::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// ---- kernels --------------------------------------------------------------------------

template <class T>
__global__ void gather_kernel(const T* in, const std::int64_t* index, T* out, std::int64_t outer,
                              std::int64_t in_dim, std::int64_t idx_dim, std::int64_t inner) {
  const std::int64_t total = outer * idx_dim * inner;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t i = t % inner, o = t / (idx_dim * inner);
    out[t] = in[(o * in_dim + index[t]) * inner + i];
  }
}

template <class T>
__global__ void scatter_add_kernel(const T* src, const std::int64_t* index, T* out,
                                   std::int64_t outer, std::int64_t out_dim, std::int64_t idx_dim,
                                   std::int64_t inner) {
  const std::int64_t columns = outer * inner;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < columns;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t o = t / inner, i = t % inner;
    T* base = out + o * out_dim * inner + i;
    for (std::int64_t j = 0; j < idx_dim; ++j) {
      const std::int64_t k = (o * idx_dim + j) * inner + i;
      base[index[k] * inner] += src[k];
    }
  }
}

template <class T>
__global__ void index_select_kernel(const T* in, const std::int64_t* index, std::int64_t n_index,
                                    T* out, std::int64_t outer, std::int64_t in_dim,
                                    std::int64_t inner) {
  const std::int64_t total = outer * n_index * inner;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < total;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t i = t % inner, j = (t / inner) % n_index, o = t / (inner * n_index);
    out[t] = in[(o * in_dim + index[j]) * inner + i];
  }
}

template <class T>
__global__ void index_add_kernel(const T* src, const std::int64_t* index, std::int64_t n_index,
                                 T* out, std::int64_t outer, std::int64_t out_dim,
                                 std::int64_t inner) {
  const std::int64_t columns = outer * inner;
  for (std::int64_t t = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; t < columns;
       t += std::int64_t(gridDim.x) * blockDim.x) {
    const std::int64_t o = t / inner, i = t % inner;
    for (std::int64_t j = 0; j < n_index; ++j)
      out[(o * out_dim + index[j]) * inner + i] += src[(o * n_index + j) * inner + i];
  }
}

}  // namespace

// ---- launchers ------------------------------------------------------------------------

template <class T>
void gather(const T* in, const std::int64_t* index, T* out, std::int64_t outer, std::int64_t in_dim,
            std::int64_t idx_dim, std::int64_t inner) {
  const std::int64_t total = outer * idx_dim * inner;
  if (total == 0) return;
  gather_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(in, index, out, outer, in_dim,
                                                              idx_dim, inner);
  KILN_CUDA_CHECK_LAUNCH("gather");
}

template <class T>
void scatter_add(const T* src, const std::int64_t* index, T* out, std::int64_t outer,
                 std::int64_t out_dim, std::int64_t idx_dim, std::int64_t inner) {
  if (outer * inner * idx_dim == 0) return;
  scatter_add_kernel<<<blocks_for(outer * inner), kThreads, 0, stream()>>>(
      src, index, out, outer, out_dim, idx_dim, inner);
  KILN_CUDA_CHECK_LAUNCH("scatter_add");
}

template <class T>
void index_select(const T* in, const std::int64_t* index, std::int64_t n_index, T* out,
                  std::int64_t outer, std::int64_t in_dim, std::int64_t inner) {
  const std::int64_t total = outer * n_index * inner;
  if (total == 0) return;
  index_select_kernel<<<blocks_for(total), kThreads, 0, stream()>>>(in, index, n_index, out, outer,
                                                                    in_dim, inner);
  KILN_CUDA_CHECK_LAUNCH("index_select");
}

template <class T>
void index_add(const T* src, const std::int64_t* index, std::int64_t n_index, T* out,
               std::int64_t outer, std::int64_t out_dim, std::int64_t inner) {
  if (outer * inner * n_index == 0) return;
  index_add_kernel<<<blocks_for(outer * inner), kThreads, 0, stream()>>>(src, index, n_index, out,
                                                                         outer, out_dim, inner);
  KILN_CUDA_CHECK_LAUNCH("index_add");
}

#define KILN_INSTANTIATE(T)                                                                    \
  template void gather<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t,       \
                          std::int64_t, std::int64_t);                                         \
  template void scatter_add<T>(const T*, const std::int64_t*, T*, std::int64_t, std::int64_t,  \
                               std::int64_t, std::int64_t);                                    \
  template void index_select<T>(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t, \
                                std::int64_t, std::int64_t);                                   \
  template void index_add<T>(const T*, const std::int64_t*, std::int64_t, T*, std::int64_t,    \
                             std::int64_t, std::int64_t);
KILN_INSTANTIATE(float)
KILN_INSTANTIATE(double)
KILN_INSTANTIATE(std::int64_t)
#undef KILN_INSTANTIATE

}  // namespace kiln::cuda
