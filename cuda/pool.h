#pragma once
// CUDA 2-D pooling: the same names, shapes and contracts as tensor/cpu/pool.h, on
// contiguous device buffers. The backward kernels gather (one thread per input pixel
// sums the windows that cover it), so they need no atomics and are deterministic.
#include "tensor/cpu/pool.h"  // Pool2dParams

namespace kiln::cuda {

using cpu::Pool2dParams;

template <class T>  // float, double
void avg_pool2d_forward(const Pool2dParams& p, const T* input, T* output);
template <class T>
void avg_pool2d_backward(const Pool2dParams& p, const T* grad_output, T* grad_input);
template <class T>
void max_pool2d_forward(const Pool2dParams& p, const T* input, T* output,
                        std::int64_t* indices);
template <class T>
void max_pool2d_backward(const Pool2dParams& p, const T* grad_output,
                         const std::int64_t* indices, T* grad_input);

}  // namespace kiln::cuda
