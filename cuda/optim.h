#pragma once
// CUDA optimizer kernels: the same names and contracts as tensor/cpu/optim.h, on device
// buffers, with the per-element formulas of tensor/optim_step.h shared with the CPU.
#include <cstdint>

namespace kiln::cuda {

template <class T>  // float, double
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 std::int64_t step);
template <class T>  // float, double
void sgd_update(T* param, const T* grad, T* momentum_buffer, std::int64_t n, double lr,
                double momentum, double dampening, bool nesterov, double weight_decay,
                bool first_step);

}  // namespace kiln::cuda
