#pragma once
// CUDA 2-D resampling: the same names, shapes and formulas as tensor/cpu/interpolate.h,
// on contiguous device buffers. The source positions are computed with the CPU's double
// arithmetic, so both devices read the same pixels with the same weights; the backward
// kernels gather (one thread per input pixel), so they are deterministic.
#include "tensor/cpu/interpolate.h"  // Interpolate2dParams

namespace kiln::cuda {

using cpu::Interpolate2dParams;

template <class T>  // float, double
void interpolate_nearest_forward(const Interpolate2dParams& p, const T* input, T* output);
template <class T>
void interpolate_nearest_backward(const Interpolate2dParams& p, const T* grad_output,
                                  T* grad_input);
template <class T>
void interpolate_bilinear_forward(const Interpolate2dParams& p, const T* input, T* output);
template <class T>
void interpolate_bilinear_backward(const Interpolate2dParams& p, const T* grad_output,
                                   T* grad_input);

}  // namespace kiln::cuda
