#pragma once
// Helpers shared by the op files of autograd/ops/ (not user API).
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/detail.h"
#include "tensor/tensor.h"

namespace kiln::ops {

// Note [Device dispatch]
// An op checks that its tensors share one device (check_same names the op and both
// devices when they do not), allocates its outputs on that device, and picks the kernel
// by it. The CPU and CUDA kernels of a family have the same name and signature
// (tensor/cpu/<family>.h, cuda/<family>.h), so the choice is one plain line
//   auto kernel = x.device().is_cpu() ? &cpu::conv2d_forward<T> : &cuda::conv2d_forward<T>;
// and the call after it is the same on both devices. Without a CUDA build the cuda::
// names are stubs that throw (cuda/no_cuda.cpp), but no CUDA tensor can exist then.

// Every input must be defined and on one device with one dtype.
void check_same(const char* op, const Tensor& a, const Tensor& b);

// t's values readable on the host, contiguous: t itself on the CPU, else a copy (for the
// range checks of index arguments, which must happen before a kernel reads them).
Tensor host_contiguous(const Tensor& t);

// Sums a broadcast gradient back to `shape` (the shape of the input it belongs to).
Tensor sum_to(const Tensor& grad, const Shape& shape);

// Pointer + Layout of a tensor, as kernels take them.
inline Layout layout_of(const Tensor& t) { return Layout::make(t.shape(), t.strides()); }

// Shorthand for a backward's return value.
inline std::vector<Tensor> grads(Tensor a) { return {std::move(a)}; }
inline std::vector<Tensor> grads(Tensor a, Tensor b) { return {std::move(a), std::move(b)}; }

}  // namespace kiln::ops
