#pragma once
// CPU indexing kernels on raw contiguous buffers. No Tensor, no autograd: the op layer
// (autograd/ops/index.cpp) validates every index, makes operands contiguous and views
// them as three dims around the indexed one:
//
//   gather        in (outer, in_dim, inner), index and out (outer, idx_dim, inner)
//                   out[o, j, i] = in[o, index[o, j, i], i]
//   scatter_add   src and index (outer, idx_dim, inner), out (outer, out_dim, inner)
//                   out[o, index[o, j, i], i] += src[o, j, i]     (the adjoint of gather)
//   index_select  in (outer, in_dim, inner), index (n_index), out (outer, n_index, inner)
//                   out[o, j, i] = in[o, index[j], i]
//   index_add     src (outer, n_index, inner), index (n_index), out (outer, out_dim, inner)
//                   out[o, index[j], i] += src[o, j, i]           (the adjoint of index_select)
//
// Every index must already lie in [0, in_dim) (or [0, out_dim)): kernels do not check,
// because a throw inside an OpenMP region would terminate the program. The *_add
// kernels accumulate into out, which the caller initialises (zeros for a pure adjoint).
// Repeated indices accumulate; each output element is summed in the order of j, so
// results do not depend on the thread count.
#include <cstdint>

namespace kiln::cpu {

template <class T>
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

}  // namespace kiln::cpu
