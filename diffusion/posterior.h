#pragma once
// The forward-process posterior and the reverse process, EQUATIONS.md §3 (E9-E13, E27)
// and the conversions among what a network may predict (E37).
//
// Shapes as in diffusion/forward.h: samples [B, ...], t int64 [B] in 1..T, coefficients
// gathered from float64 tables (cast once) as [B, 1, ..., 1].
#include <vector>

#include "diffusion/forward.h"
#include "diffusion/schedule.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// ---- E9: q(x_{t-1} | x_t, x_0) ---------------------------------------------------------
// E9  \tilde β_t = \frac{1-\bar α_{t-1}}{1-\bar α_t} β_t   (t = 1..T; \tilde β_1 = 0, index 0 holds 0)
std::vector<double> posterior_variance(const Schedule& s);
// E9  \log \tilde β_t, clipped at t = 1 as Ho et al.: \tilde β_1 = 0 would give -∞, so index 1
//     (and 0) hold \log \tilde β_2 (\log β_1 when T = 1).
std::vector<double> posterior_log_variance_clipped(const Schedule& s);
// E9  the two coefficients of \tilde μ_t:
//     \frac{\sqrt{\bar α_{t-1}}\,β_t}{1-\bar α_t} (of x_0)  and  \frac{\sqrt{α_t}(1-\bar α_{t-1})}{1-\bar α_t} (of x_t)
std::vector<double> posterior_mean_coef_x0(const Schedule& s);
std::vector<double> posterior_mean_coef_xt(const Schedule& s);

// E9  \tilde μ_t(x_t, x_0) = \frac{\sqrt{\bar α_{t-1}}\,β_t}{1-\bar α_t} x_0
//                         + \frac{\sqrt{α_t}(1-\bar α_{t-1})}{1-\bar α_t} x_t
Tensor posterior_mean(const Schedule& s, const Tensor& x0, const Tensor& x_t, const Tensor& t);
// E9  q(x_{t-1} | x_t, x_0) = N(\tilde μ_t, \tilde β_t I); variance is \tilde β_t (0 at t = 1,
//     where the posterior is the point mass at x_0), log_variance the clipped table above.
Gaussian q_posterior(const Schedule& s, const Tensor& x0, const Tensor& x_t, const Tensor& t);

// E10  \hat x_0 = \frac{x_t - \sqrt{1-\bar α_t}\,ε}{\sqrt{\bar α_t}}
Tensor predict_x0_from_eps(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps);

// E11  \tilde μ_t = \frac{1}{\sqrt{α_t}}\left(x_t - \frac{β_t}{\sqrt{1-\bar α_t}}\,ε\right)
//      (E9 with x_0 = E10's \hat x_0: the true ε gives the true posterior mean)
Tensor posterior_mean_from_eps(const Schedule& s, const Tensor& x_t, const Tensor& t,
                               const Tensor& eps);

// E12  μ_θ(x_t, t) = \frac{1}{\sqrt{α_t}}\left(x_t - \frac{β_t}{\sqrt{1-\bar α_t}}\,ε_θ(x_t, t)\right)
Tensor model_mean(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps_pred);

// ---- E13: the reverse variances ------------------------------------------------------
// E13  p_θ(x_{t-1} | x_t) = N(μ_θ, σ_t^2 I),  σ_t^2 = β_t ("large") or σ_t^2 = \tilde β_t ("small").
// Small uses the clipped \tilde β of E9 at t = 1 (σ_1^2 = \tilde β_2), so that σ_1 > 0 for
// the decoder L_0, as Ho et al.'s "fixedsmall".
enum class Sigma { Large, Small };
std::vector<double> reverse_variance(const Schedule& s, Sigma sigma);
std::vector<double> reverse_log_variance(const Schedule& s, Sigma sigma);
// E12 + E13: the whole reverse step's Gaussian for a predicted ε.
Gaussian p_reverse(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& eps_pred,
                   Sigma sigma);

// ---- E27: the score connection --------------------------------------------------------
// E27  ∇_{x_t} \log q(x_t | x_0) = -\frac{ε}{\sqrt{1-\bar α_t}}
Tensor score_from_eps(const Schedule& s, const Tensor& eps, const Tensor& t);
// E27  ε_θ(x_t, t) = -\sqrt{1-\bar α_t}\,∇_{x_t}\log q_t(x_t)
Tensor eps_from_score(const Schedule& s, const Tensor& score, const Tensor& t);

// ---- E37: v-parameterisation and conversions ------------------------------------------
// E37  v = \sqrt{\bar α_t}\,ε - \sqrt{1-\bar α_t}\,x_0
Tensor v_from_eps(const Schedule& s, const Tensor& x0, const Tensor& t, const Tensor& eps);
// E37  \hat x_0 = \sqrt{\bar α_t}\,x_t - \sqrt{1-\bar α_t}\,v
Tensor x0_from_v(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& v);
// E37  \hat ε = \sqrt{1-\bar α_t}\,x_t + \sqrt{\bar α_t}\,v
Tensor eps_from_v(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& v);
// E37 (E7 solved for ε)  \hat ε = \frac{x_t - \sqrt{\bar α_t}\,\hat x_0}{\sqrt{1-\bar α_t}}
Tensor eps_from_x0(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& x0);
// E37 (E9 solved for x_0)  \hat x_0 = \frac{μ - \frac{\sqrt{α_t}(1-\bar α_{t-1})}{1-\bar α_t} x_t}
//                                       {\sqrt{\bar α_{t-1}}\,β_t / (1-\bar α_t)}
Tensor x0_from_mean(const Schedule& s, const Tensor& x_t, const Tensor& t, const Tensor& mean);

// What a network predicts, and all four quantities recovered from any one of them (E37):
// ε via E10/E37, x̂_0 via E10/E37, v via E37, and the posterior mean μ via E9 with x̂_0.
enum class Prediction { Eps, X0, V, Mean };
struct Predictions {
  Tensor eps, x0, v, mean;
};
Predictions predictions_from(const Schedule& s, Prediction kind, const Tensor& pred,
                             const Tensor& x_t, const Tensor& t);

}  // namespace kiln::diffusion
