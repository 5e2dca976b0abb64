#pragma once
// CPU optimizer kernels on raw pointers: one fused pass over a parameter's n elements
// updates the parameter and its state together. No Tensor, no autograd; the optimizers
// (nn/optim.cpp) check shapes and dtypes and pass contiguous buffers. The CUDA backend
// mirrors these names (cuda::adam_update, cuda::sgd_update).
//
//   param, grad, exp_avg, exp_avg_sq, momentum_buffer: n contiguous elements each.
//   Scalars arrive as double and are rounded to T once; the per-element math runs in T,
//   in the order torch.optim's single-tensor implementation uses.
#include <cstdint>

namespace kiln::cpu {

// One Adam / AdamW step (torch.optim.Adam / AdamW, amsgrad off), step = 1, 2, ...:
//   decoupled (AdamW):  p ← p·(1 - lr·wd)             else (Adam):  g ← g + wd·p
//   m ← β1·m + (1-β1)·g
//   v ← β2·v + (1-β2)·g²
//   p ← p - (lr / (1-β1^step)) · m / (√v / √(1-β2^step) + eps)
template <class T>  // float, double
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, std::int64_t n, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 std::int64_t step);

// One SGD step (torch.optim.SGD):
//   g ← g + wd·p
//   with momentum μ > 0:  b ← g on the first step, else b ← μ·b + (1-dampening)·g;
//                         g ← g + μ·b (nesterov) or g ← b
//   p ← p - lr·g
// momentum_buffer may be null when momentum == 0.
template <class T>  // float, double
void sgd_update(T* param, const T* grad, T* momentum_buffer, std::int64_t n, double lr,
                double momentum, double dampening, bool nesterov, double weight_decay,
                bool first_step);

}  // namespace kiln::cpu
