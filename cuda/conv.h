#pragma once
// CUDA 2-D convolution: the same names, shapes and contracts as tensor/cpu/conv.h,
// on contiguous device buffers. im2col (or the input itself for a 1x1 convolution) and
// cuBLAS GEMMs; see Note [Convolution on the GPU] in conv.cu.
#include <cstddef>

#include "tensor/cpu/conv.h"  // Conv2dParams

namespace kiln::cuda {

using cpu::Conv2dParams;

// The most bytes the unfolded input (col) of one chunk of images may take; a batch whose
// col is larger is processed in chunks. Default 256 MiB. A tuning knob (and the tests set
// it small to run the chunked path). Without a CUDA build it is stored and has no effect.
void set_conv_workspace_limit(std::size_t bytes);
std::size_t conv_workspace_limit();

template <class T>  // float, double
void conv2d_forward(const Conv2dParams& p, const T* input, const T* weight, const T* bias,
                    T* output);
template <class T>
void conv2d_backward_input(const Conv2dParams& p, const T* grad_output, const T* weight,
                           T* grad_input);
template <class T>
void conv2d_backward_weight(const Conv2dParams& p, const T* grad_output, const T* input,
                            T* grad_weight);
template <class T>
void conv2d_backward_bias(const Conv2dParams& p, const T* grad_output, T* grad_bias);

}  // namespace kiln::cuda
