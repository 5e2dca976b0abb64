#pragma once
// Interpolating between two noise images (EQUATIONS.md E32, the Keras chapter's last
// experiment): sampling from every point on a path between x_T = b and x_T = a shows how
// the generated image changes smoothly.
//
// Note [Why spherical, not linear]
// A straight line (1 - s) b + s a between two independent N(0, I) draws has variance
// (1 - s)² + s², only 1/2 at s = 1/2: the midpoint is "too quiet", off the shell
// ‖x‖ ≈ √D where almost all the Gaussian's mass lies, so the sampler, trained only on
// unit-variance noise, produces washed-out images there. Weights on a quarter circle,
// sin²(sπ/2) + cos²(sπ/2) = 1, keep the variance at 1 for every s. This is the classic
// slerp  sin((1-s)Ω)/sin Ω · b + sin(sΩ)/sin Ω · a  with the angle Ω between a and b
// taken as π/2, which is what two independent high-dimensional Gaussian vectors almost
// surely are (their cosine is O(1/√D)). V13 checks the unit variance by Monte Carlo.
#include <cstdint>

#include "tensor/tensor.h"

namespace kiln::diffusion {

// E32  x_T(s) = a\,\sin(s\pi/2) + b\,\cos(s\pi/2),\qquad s \in [0, 1]
// s = 0 gives b, s = 1 gives a. a and b have the same shape; differentiable in both.
Tensor slerp(const Tensor& a, const Tensor& b, double s);
// The same with s a tensor (broadcast against a and b; differentiable in s too).
Tensor slerp(const Tensor& a, const Tensor& b, const Tensor& s);

// A row of k interpolants at s_j = j / (k - 1), j = 0 .. k-1 (from b to a), stacked on
// a new first axis: a, b [...] -> [k, ...]. For noise images a, b [C, H, W] this is a
// batch [k, C, H, W] to hand to a sampler. k >= 2.
Tensor slerp_row(const Tensor& a, const Tensor& b, std::int64_t k);

}  // namespace kiln::diffusion
