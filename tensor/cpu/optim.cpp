#include "tensor/cpu/optim.h"

#include "tensor/optim_step.h"

namespace kiln::cpu {

template <class T>
// [region adam_update]
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 std::int64_t step) {
  const auto update =
      optim_step::Adam<T>::make(lr, beta1, beta2, eps, weight_decay, decoupled, step);
#pragma omp parallel for schedule(static) if (n > 32768)
  for (std::int64_t i = 0; i < n; ++i) update(param[i], grad[i], exp_avg[i], exp_avg_sq[i]);
}
// [endregion]

template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, std::int64_t n, double lr,
                double momentum, double dampening, bool nesterov, double weight_decay,
                bool first_step) {
  const auto update =
      optim_step::SGD<T>::make(lr, momentum, dampening, nesterov, weight_decay, first_step);
#pragma omp parallel for schedule(static) if (n > 32768)
  for (std::int64_t i = 0; i < n; ++i)
    update(param[i], grad[i], momentum_buffer ? momentum_buffer + i : nullptr);
}

template void adam_update<float>(float*, const float*, float*, float*, std::int64_t, double,
                                 double, double, double, double, bool, std::int64_t);
template void adam_update<double>(double*, const double*, double*, double*, std::int64_t, double,
                                  double, double, double, double, bool, std::int64_t);
template void sgd_update<float>(float*, const float*, float*, std::int64_t, double, double,
                                double, bool, double, bool);
template void sgd_update<double>(double*, const double*, double*, std::int64_t, double, double,
                                 double, bool, double, bool);

}  // namespace kiln::cpu
