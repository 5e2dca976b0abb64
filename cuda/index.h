#pragma once
// CUDA indexing kernels: the same names, shapes and contracts as tensor/cpu/index.h, on
// contiguous device buffers (every index already checked by the op layer). The *_add
// kernels give each output column to one thread, which walks j in order: no atomics, and
// each element is summed in the CPU's order, so the results match it bit for bit.
#include <cstdint>

namespace kiln::cuda {

template <class T>  // float, double, int64
void gather(const T* in, const std::int64_t* index, T* out, std::int64_t outer, std::int64_t in_dim,
            std::int64_t idx_dim, std::int64_t inner);
template <class T>
void scatter_add(const T* src, const std::int64_t* index, T* out, std::int64_t outer,
                 std::int64_t out_dim, std::int64_t idx_dim, std::int64_t inner);
template <class T>
void index_select(const T* in, const std::int64_t* index, std::int64_t n_index, T* out,
                  std::int64_t outer, std::int64_t in_dim, std::int64_t inner);
template <class T>
void index_add(const T* src, const std::int64_t* index, std::int64_t n_index, T* out,
               std::int64_t outer, std::int64_t out_dim, std::int64_t inner);

}  // namespace kiln::cuda
