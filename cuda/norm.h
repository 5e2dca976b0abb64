#pragma once
// CUDA normalisation kernels: the same names, shapes and formulas as tensor/cpu/norm.h
// (read its header comment), on contiguous device buffers; weight, bias and each
// gradient may be null. One thread block per set of normalised elements; sums of
// float32 accumulate in double, as on the CPU.
#include <cstdint>

namespace kiln::cuda {

template <class T>  // float, double
void group_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t N, std::int64_t C, std::int64_t S, std::int64_t G, double eps);
template <class T>
void group_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, std::int64_t G);

template <class T>
void layer_norm_forward(const T* x, const T* weight, const T* bias, T* y, T* mean, T* rstd,
                        std::int64_t M, std::int64_t K, double eps);
template <class T>
void layer_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t M, std::int64_t K);

template <class T>
void batch_norm_forward(const T* x, const T* weight, const T* bias, T* running_mean, T* running_var,
                        T* y, T* mean, T* rstd, std::int64_t N, std::int64_t C, std::int64_t S,
                        bool training, double momentum, double eps);
template <class T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* rstd, const T* weight,
                         T* dx, T* dweight, T* dbias, std::int64_t N, std::int64_t C,
                         std::int64_t S, bool training);

}  // namespace kiln::cuda
