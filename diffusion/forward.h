#pragma once
// The forward (noising) process, EQUATIONS.md §2: one step (E4), why it preserves
// variance (E5), how two noises merge into one (E6), and the closed-form marginal (E7).
//
// Shapes: samples are batches [B, ...] (any number of trailing dims); timesteps t are
// int64 [B] with values in 1..T (Note [Schedule tables are float64, indexed by t]).
// Coefficients are gathered as [B, 1, ..., 1] in the samples' dtype and broadcast.
// Everything here is built from kiln ops, so it is differentiable in x and the noises.
#include "diffusion/schedule.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// A diagonal Gaussian N(mean, variance I): variance and log_variance are [B, 1, ..., 1]
// (one value per sample, broadcasting against mean [B, ...]).
struct Gaussian {
  Tensor mean, variance, log_variance;
};

// E4  q(x_t | x_{t-1}) = N(\sqrt{α_t}\,x_{t-1},\ β_t I)
//     x_t = \sqrt{α_t}\,x_{t-1} + \sqrt{1-α_t}\,z
Tensor q_step(const Schedule& s, const Tensor& x_prev, const Tensor& t, const Tensor& z);
Gaussian q_step_distribution(const Schedule& s, const Tensor& x_prev, const Tensor& t);

// E5  \mathrm{Var}(x_t) = α_t \mathrm{Var}(x_{t-1}) + β_t,  which is (1-β_t) + β_t = 1
//     when \mathrm{Var}(x_{t-1}) = 1.
double q_step_variance(double alpha_t, double var_prev = 1.0);

// E6  \sqrt{α_t(1-α_{t-1})}\,z_1 + \sqrt{1-α_t}\,z_2 \sim N(0, (1 - α_t α_{t-1}) I)
//     merge_noise draws the left side from z_1, z_2; merged_variance is the right side's
//     variance, the sum of the two variances α_t(1-α_{t-1}) + (1-α_t).
Tensor merge_noise(double alpha_t, double alpha_prev, const Tensor& z1, const Tensor& z2);
double merged_variance(double alpha_t, double alpha_prev);

// E7  q(x_t | x_0) = N(\sqrt{\bar α_t}\,x_0,\ (1-\bar α_t) I)
//     x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon
Tensor q_sample(const Schedule& s, const Tensor& x0, const Tensor& t, const Tensor& eps);
Gaussian q_distribution(const Schedule& s, const Tensor& x0, const Tensor& t);

// E7 in continuous time (the Keras chapter, with E3a/E3b rates of τ):
//     x_τ = \mathrm{signal}(τ)\,x_0 + \mathrm{noise}(τ)\,ε;  rates are [B] (or [B, 1, ...]).
Tensor q_sample(const Rates& rates, const Tensor& x0, const Tensor& eps);

// Reshapes per-sample values [B] to [B, 1, ..., 1] with `ndim` dims (to broadcast).
Tensor per_sample(const Tensor& values, std::int64_t ndim);

}  // namespace kiln::diffusion
