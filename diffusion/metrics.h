#pragma once
// Sample-quality metrics (EQUATIONS.md §7): the Fréchet distance (E34), the
// Inception-style score (E35) and the kernel distance KID (E36).
//
// Our features come from a feature network trained with this framework, not from
// Inception-v3, so the numbers are ours: comparable between runs of kiln, not with
// published FID / IS / KID values.
//
// Everything here is computed in float64 on the CPU whatever the inputs' dtype and
// device (features are copied over once): the matrix square root of E34 is ill-conditioned
// when the covariances are nearly singular, and float32 would put its rounding straight
// into the score.
//
// Note [Matrix square root without LAPACK]
// E34 needs Tr((Σ₁Σ₂)^{1/2}), the square root of a product of two symmetric matrices,
// which is not symmetric itself. With S = Σ₁^{1/2} (symmetric, Σ₁ being PSD),
//     Σ₁Σ₂ = S (S Σ₂ S) S⁻¹
// is similar to the symmetric PSD matrix M = S Σ₂ S, so both have the same eigenvalues
// λ_i ≥ 0 and Tr((Σ₁Σ₂)^{1/2}) = Tr(M^{1/2}) = Σ_i √λ_i. Both square roots need only a
// symmetric eigendecomposition, which the cyclic Jacobi method computes to a few ulps
// (symmetric_eigen): no general (Schur) matrix square root, no complex arithmetic, no
// LAPACK. Eigenvalues that rounding pushes slightly below zero are clamped to 0.
// Cost: O(F³) per Jacobi sweep, ~10 sweeps; fine for F up to a few hundred features.
#include <cstdint>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace kiln::diffusion {

// ---- linear algebra for E34 ---------------------------------------------------------
// A = V diag(λ) Vᵀ for a symmetric A [n, n] (any floating dtype; read in float64; only
// needs to be symmetric up to rounding, its upper and lower halves are averaged).
// values [n] ascending, vectors [n, n] float64 with the eigenvector of values[j] in
// column j (orthonormal). Cyclic Jacobi rotations until the off-diagonal part is below
// rounding (relative 1e-15), at most `max_sweeps` sweeps (throws if not converged).
struct SymmetricEigen {
  Tensor values;
  Tensor vectors;
};
SymmetricEigen symmetric_eigen(const Tensor& a, int max_sweeps = 64);

// The symmetric square root of a symmetric positive semi-definite A [n, n]:
// V diag(√max(λ, 0)) Vᵀ (float64).
Tensor sqrtm_psd(const Tensor& a);

// Tr((Σ₁Σ₂)^{1/2}) for symmetric PSD Σ₁, Σ₂ (Note [Matrix square root without LAPACK]).
double trace_sqrt_product(const Tensor& sigma1, const Tensor& sigma2);

// ---- E34 -----------------------------------------------------------------------------
// The mean [F] and covariance [F, F] (unbiased, divided by N - 1, as numpy.cov) of a
// feature matrix [N, F] (N ≥ 2), in float64.
struct GaussianStats {
  Tensor mean;
  Tensor cov;
};
GaussianStats feature_stats(const Tensor& features);

// E34  d^2 = \|μ_1 - μ_2\|^2 + \mathrm{Tr}\left(Σ_1 + Σ_2 - 2 (Σ_1 Σ_2)^{1/2}\right)
// between N(μ₁, Σ₁) and N(μ₂, Σ₂): μ [F], Σ [F, F] symmetric PSD. Returns d² (the FID
// convention: the squared distance), ≥ 0 up to rounding.
double frechet_distance(const Tensor& mu1, const Tensor& sigma1, const Tensor& mu2,
                        const Tensor& sigma2);
double frechet_distance(const GaussianStats& a, const GaussianStats& b);
// E34 between the Gaussians fitted to two feature matrices [N, F] and [M, F].
double frechet_distance(const Tensor& features_a, const Tensor& features_b);

// ---- E35 -----------------------------------------------------------------------------
struct MeanAndSpread {
  double mean = 0;
  double std = 0;  // over the splits / subsets (population std, as the reference code)
};

// E35  \mathrm{IS} = \exp\left(\mathbb{E}_x\, \mathrm{KL}(p(y|x)\,\|\,p(y))\right),  p(y) = \mathbb{E}_x\, p(y|x)
// probs [N, C]: each row a classifier's p(y|x) (non-negative, summing to 1 to 1e-6;
// 0 log 0 = 0). With `splits` > 1 the rows are cut into that many equal consecutive
// parts (the remainder dropped), the score computed on each, and their mean and std
// returned (the original recipe uses 10). IS is 1 for an uninformative classifier and C
// for confident predictions spread evenly over C classes.
MeanAndSpread inception_score(const Tensor& probs, std::int64_t splits = 1);

// ---- E36 -----------------------------------------------------------------------------
// E36  k(a, b) = \left(\frac{a^\top b}{d} + 1\right)^3   for rows a [N, d], b [M, d]: [N, M]
Tensor polynomial_kernel(const Tensor& a, const Tensor& b);

// E36  \widehat{\mathrm{MMD}}^2_u = \frac{1}{m(m-1)}\sum_{i \ne j} k(a_i, a_j)
//        + \frac{1}{n(n-1)}\sum_{i \ne j} k(b_i, b_j) - \frac{2}{mn}\sum_{i,j} k(a_i, b_j)
// The unbiased estimate of MMD² between the laws of the rows of a [m, d] and b [n, d]
// (m, n ≥ 2): its expectation is exactly 0 when both come from one distribution, so it
// can be (slightly) negative.
double mmd2_unbiased(const Tensor& a, const Tensor& b);

// KID: E36 averaged over `subsets` random pairs of subsets of `subset_size` rows from each
// set, drawn without replacement within a subset (from `gen`, the global generator when
// null). subsets = 1 and subset_size = 0: one estimate on all rows, no randomness.
// subset_size = 0 with subsets > 1 means min(N, M, 1000) rows, the usual choice.
MeanAndSpread kernel_distance(const Tensor& features_a, const Tensor& features_b,
                              std::int64_t subsets = 1, std::int64_t subset_size = 0,
                              Generator* gen = nullptr);

}  // namespace kiln::diffusion
