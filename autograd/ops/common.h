#pragma once
// Helpers shared by the op files of autograd/ops/ (not user API).
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/detail.h"
#include "tensor/tensor.h"

namespace kiln::ops {

// The kernels of this family exist on the CPU only until the CUDA backend lands; a
// CUDA tensor gets a clear error naming the op instead of a silent fallback.
void require_cpu(const char* op, const Tensor& t);

// Every input must be defined and on one device with one dtype.
void check_same(const char* op, const Tensor& a, const Tensor& b);

// Sums a broadcast gradient back to `shape` (the shape of the input it belongs to).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// Pointer + Layout of a tensor, as kernels take them.
inline Layout layout_of(const Tensor& t) { return Layout::make(t.shape(), t.strides()); }

// Shorthand for a backward's return value.
inline std::vector<Tensor> grads(Tensor a) { return {std::move(a)}; }
inline std::vector<Tensor> grads(Tensor a, Tensor b) { return {std::move(a), std::move(b)}; }

}  // namespace kiln::ops
