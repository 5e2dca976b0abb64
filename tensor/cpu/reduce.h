#pragma once
// CPU reduction and softmax kernels on raw contiguous buffers.
//
//   reduce / arg_reduce:  in is (outer, inner), out is (outer): one value per row.
//     The op layer permutes the reduced dims to the end first, so "reduce over any
//     set of dims" is always "reduce each row".
//   softmax_*:  x is (outer, n, inner) and the softmax runs along n, so a softmax over
//     dim 1 of a [B, C, H, W] tensor needs no copy: outer = B, n = C, inner = H*W.
#include <cstdint>

namespace kiln::cpu {

enum class ReduceOp { Sum, Max, Min };

template <class T>
void reduce(ReduceOp op, const T* in, T* out, std::int64_t outer, std::int64_t inner);

// Index of the first maximum (is_max) or minimum of each row.
template <class T>
void arg_reduce(bool is_max, const T* in, std::int64_t* out, std::int64_t outer,
                std::int64_t inner);

// y = softmax(x) or log_softmax(x) along n, numerically stable (max subtracted first).
template <class T>
void softmax_forward(const T* x, T* y, std::int64_t outer, std::int64_t n, std::int64_t inner,
                     bool log);
// gx from y (the forward's output) and gy:
//   softmax:      gx = y ⊙ (gy - Σ_n gy ⊙ y)
//   log_softmax:  gx = gy - exp(y) Σ_n gy
template <class T>
void softmax_backward(const T* y, const T* gy, T* gx, std::int64_t outer, std::int64_t n,
                      std::int64_t inner, bool log);

}  // namespace kiln::cpu
