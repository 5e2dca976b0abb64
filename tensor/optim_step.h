#pragma once
// The per-element updates of the fused optimizer kernels, written once for the CPU
// (tensor/cpu/optim.cpp) and the GPU (cuda/optim.cu), as tensor/functors.h does for the
// element-wise ops: the scalars are rounded to T once on the host (make), and the
// operator() is the loop body both devices run, in torch.optim's order. The formulas
// are in tensor/cpu/optim.h.
#include <cmath>
#include <cstdint>

#include "tensor/functors.h"  // KILN_HD, math::sqrt

namespace kiln::optim_step {

template <class T>
struct Adam {
  T step_size, bias_correction2_sqrt, b1, b2, one_minus_b1, one_minus_b2, wd, decay, eps;
  bool coupled, shrink;  // weight decay added to the gradient (Adam) / to p (AdamW)

  static Adam make(double lr, double beta1, double beta2, double eps, double weight_decay,
                   bool decoupled, std::int64_t step) {
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    return {static_cast<T>(lr / bias_correction1),
            static_cast<T>(std::sqrt(bias_correction2)),
            static_cast<T>(beta1),
            static_cast<T>(beta2),
            static_cast<T>(1.0 - beta1),
            static_cast<T>(1.0 - beta2),
            static_cast<T>(weight_decay),
            static_cast<T>(1.0 - lr * weight_decay),
            static_cast<T>(eps),
            weight_decay != 0 && !decoupled,
            weight_decay != 0 && decoupled};
  }

  KILN_HD void operator()(T& param, T grad, T& exp_avg, T& exp_avg_sq) const {
    T p = param;
    T g = grad;
    if (coupled) g = g + wd * p;
    if (shrink) p = p * decay;
    const T m = b1 * exp_avg + one_minus_b1 * g;
    const T v = b2 * exp_avg_sq + one_minus_b2 * g * g;
    exp_avg = m;
    exp_avg_sq = v;
    const T denom = math::sqrt(v) / bias_correction2_sqrt + eps;
    param = p - step_size * (m / denom);
  }
};

template <class T>
struct SGD {
  T lr, mu, one_minus_damp, wd;
  bool decay, use_momentum, nesterov, first_step;

  static SGD make(double lr, double momentum, double dampening, bool nesterov,
                  double weight_decay, bool first_step) {
    return {static_cast<T>(lr),         static_cast<T>(momentum),
            static_cast<T>(1.0 - dampening), static_cast<T>(weight_decay),
            weight_decay != 0,          momentum != 0,
            nesterov,                   first_step};
  }

  // momentum_buffer is read and written only when use_momentum.
  KILN_HD void operator()(T& param, T grad, T* momentum_buffer) const {
    T g = grad;
    if (decay) g = g + wd * param;
    if (use_momentum) {
      const T b = first_step ? g : mu * *momentum_buffer + one_minus_damp * g;
      *momentum_buffer = b;
      g = nesterov ? g + mu * b : b;
    }
    param = param - lr * g;
  }
};

}  // namespace kiln::optim_step
