// CUDA optimizer kernels (contracts in cuda/optim.h and tensor/cpu/optim.h): one thread
// per element runs the update of tensor/optim_step.h, the loop body of the CPU kernels.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/optim.h"
#include "cuda/runtime.cuh"
#include "tensor/optim_step.h"

namespace kiln::cuda {
namespace {

using detail::blocks_for;
using detail::kThreads;
using detail::stream;

// ---- kernels --------------------------------------------------------------------------

//   param, grad, exp_avg, exp_avg_sq (n)
template <class T>
__global__ void adam_kernel(optim_step::Adam<T> update, T* param, const T* grad, T* exp_avg,
                            T* exp_avg_sq, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    update(param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
}

//   param, grad, momentum_buffer (n; the buffer may be null without momentum)
template <class T>
__global__ void sgd_kernel(optim_step::SGD<T> update, T* param, const T* grad,
                           T* momentum_buffer, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n;
       i += std::int64_t(gridDim.x) * blockDim.x)
    update(param[i], grad[i], momentum_buffer ? momentum_buffer + i : nullptr);
}

}  // namespace

// ---- launchers ------------------------------------------------------------------------

template <class T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 std::int64_t step) {
  KILN_CHECK(step >= 1, "adam_update: step must be >= 1, got {}", step);
  if (n == 0) return;
  const auto update =
      optim_step::Adam<T>::make(lr, beta1, beta2, eps, weight_decay, decoupled, step);
  adam_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(update, param, grad, exp_avg, exp_avg_sq,
                                                        n);
  KILN_CUDA_CHECK_LAUNCH("adam_update");
}

template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, std::int64_t n, double lr,
                double momentum, double dampening, bool nesterov, double weight_decay,
                bool first_step) {
  KILN_CHECK(momentum == 0 || momentum_buffer != nullptr,
             "sgd_update: momentum {} needs a momentum buffer", momentum);
  if (n == 0) return;
  const auto update =
      optim_step::SGD<T>::make(lr, momentum, dampening, nesterov, weight_decay, first_step);
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(update, param, grad, momentum_buffer, n);
  KILN_CUDA_CHECK_LAUNCH("sgd_update");
}

template void adam_update<float>(float*, const float*, float*, float*, std::int64_t, double,
                                 double, double, double, double, bool, std::int64_t);
template void adam_update<double>(double*, const double*, double*, double*, std::int64_t, double,
                                  double, double, double, double, bool, std::int64_t);
template void sgd_update<float>(float*, const float*, float*, std::int64_t, double, double,
                                double, bool, double, bool);
template void sgd_update<double>(double*, const double*, double*, std::int64_t, double, double,
                                 double, bool, double, bool);

}  // namespace kiln::cuda
