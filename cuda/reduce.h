#pragma once
// CUDA reduction and softmax kernels: the same names and contracts as
// tensor/cpu/reduce.h, on contiguous device buffers.
//   reduce / arg_reduce   in (outer, inner) -> out (outer)
//   softmax_*             x (outer, n, inner), softmax along n
// Sums of float32 accumulate in double, as on the CPU; the order differs (a tree
// instead of a loop), so results agree to rounding, not bit for bit.
#include <cstdint>

#include "tensor/cpu/reduce.h"  // ReduceOp

namespace kiln::cuda {

using cpu::ReduceOp;

template <class T>  // float, double, int64
void reduce(ReduceOp op, const T* in, T* out, std::int64_t outer, std::int64_t inner);
template <class T>  // float, double, int64
void arg_reduce(bool is_max, const T* in, std::int64_t* out, std::int64_t outer,
                std::int64_t inner);
template <class T>  // float, double
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     bool log);
template <class T>  // float, double
void softmax_backward(const T* y, const T* gy, T* gx, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, bool log);

}  // namespace kiln::cuda
