#include "tensor/cpu/optim.h"

#include <cmath>

namespace kiln::cpu {

template <class T>
// [region adam_update]
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 std::int64_t step) {
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  const T step_size = static_cast<T>(lr / bias_correction1);
  const T bias_correction2_sqrt = static_cast<T>(std::sqrt(bias_correction2));
  const T b1 = static_cast<T>(beta1), b2 = static_cast<T>(beta2);
  const T one_minus_b1 = static_cast<T>(1.0 - beta1), one_minus_b2 = static_cast<T>(1.0 - beta2);
  const T wd = static_cast<T>(weight_decay);
  const T decay = static_cast<T>(1.0 - lr * weight_decay);
  const T e = static_cast<T>(eps);
  const bool coupled = weight_decay != 0 && !decoupled;
  const bool shrink = weight_decay != 0 && decoupled;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (std::int64_t i = 0; i < n; ++i) {
    T p = param[i];
    T g = grad[i];
    if (coupled) g = g + wd * p;
    if (shrink) p = p * decay;
    const T m = b1 * exp_avg[i] + one_minus_b1 * g;
    const T v = b2 * exp_avg_sq[i] + one_minus_b2 * g * g;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    const T denom = std::sqrt(v) / bias_correction2_sqrt + e;
    param[i] = p - step_size * (m / denom);
  }
}
// [endregion]

template <class T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, std::int64_t n, double lr,
                double momentum, double dampening, bool nesterov, double weight_decay,
                bool first_step) {
  const T lr_t = static_cast<T>(lr);
  const T mu = static_cast<T>(momentum);
  const T one_minus_damp = static_cast<T>(1.0 - dampening);
  const T wd = static_cast<T>(weight_decay);
  const bool use_momentum = momentum != 0;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (std::int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    if (weight_decay != 0) g = g + wd * param[i];
    if (use_momentum) {
      const T b = first_step ? g : mu * momentum_buffer[i] + one_minus_damp * g;
      momentum_buffer[i] = b;
      g = nesterov ? g + mu * b : b;
    }
    param[i] = param[i] - lr_t * g;
  }
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
