#include "diffusion/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/index.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"

namespace kiln::diffusion {

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// Any tensor as a float64 CPU tensor without history (the metrics are not differentiable).
Tensor f64(const Tensor& x) {
  Tensor y = x.detach();
  if (!y.device().is_cpu()) y = y.to(Device::cpu());
  if (y.dtype() != DType::Float64) y = y.to(DType::Float64);
  return y.contiguous();
}

// Tr(A) of a square matrix.
double trace(const Tensor& a) {
  const std::int64_t n = a.size(0);
  const std::vector<double> v = a.to(DType::Float64).to_vector<double>();
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += v[static_cast<size_t>(i * n + i)];
  return sum;
}

void check_square(const Tensor& a, const char* op) {
  KILN_CHECK(a.defined() && a.dim() == 2 && a.size(0) == a.size(1) && is_floating(a.dtype()),
             "{}: expects a floating square matrix [n, n], got {}", op,
             a.defined() ? shape_str(a.shape()) : std::string("undefined"));
}

void check_rows(const Tensor& x, const char* op, const char* name, std::int64_t min_rows) {
  KILN_CHECK(x.defined() && x.dim() == 2 && is_floating(x.dtype()),
             "{}: {} must be a floating matrix [N, F], got {}", op, name,
             x.defined() ? shape_str(x.shape()) : std::string("undefined"));
  KILN_CHECK(x.size(0) >= min_rows, "{}: {} has {} rows, needs at least {}", op, name, x.size(0),
             min_rows);
}

// One Jacobi rotation zeroing a[p][q] of the symmetric row-major n × n matrix a, applied
// as a ← Pᵀ a P with P the identity except P_pp = P_qq = c, P_pq = s, P_qp = -s, and
// accumulated into the eigenvectors v ← v P.
void jacobi_rotate(std::vector<double>& a, std::vector<double>& v, std::int64_t n,
                   std::int64_t p, std::int64_t q) {
  const double apq = a[p * n + q];
  // tan φ = t solves t² + 2θt - 1 = 0 with θ = (a_qq - a_pp)/(2 a_pq): the smaller root,
  // so |φ| ≤ π/4 (the rotation that moves the matrix least).
  const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
  const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
  const double c = 1 / std::sqrt(t * t + 1), s = t * c;
  for (std::int64_t k = 0; k < n; ++k) {  // columns p, q:  a ← a P
    const double akp = a[k * n + p], akq = a[k * n + q];
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (std::int64_t k = 0; k < n; ++k) {  // rows p, q:  a ← Pᵀ a
    const double apk = a[p * n + k], aqk = a[q * n + k];
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
  a[p * n + q] = a[q * n + p] = 0;  // zero by construction; drop the rounding
  for (std::int64_t k = 0; k < n; ++k) {  // v ← v P
    const double vkp = v[k * n + p], vkq = v[k * n + q];
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
}

}  // namespace

// ---- linear algebra ----------------------------------------------------------------------

SymmetricEigen symmetric_eigen(const Tensor& a_in, int max_sweeps) {
  check_square(a_in, "symmetric_eigen");
  const Tensor a64 = f64(a_in);
  const std::int64_t n = a64.size(0);
  std::vector<double> a = a64.to_vector<double>();
  double norm2 = 0;
  for (std::int64_t p = 0; p < n; ++p)
    for (std::int64_t q = 0; q < n; ++q) {
      const double sym = 0.5 * (a[p * n + q] + a[q * n + p]);
      KILN_CHECK(std::isfinite(sym), "symmetric_eigen: the matrix has a non-finite entry");
      KILN_CHECK(std::abs(a[p * n + q] - a[q * n + p]) <=
                     1e-8 * (std::abs(a[p * n + q]) + std::abs(a[q * n + p])) + 1e-300,
                 "symmetric_eigen: the matrix is not symmetric (a[{}][{}] = {}, a[{}][{}] = {})",
                 p, q, a[p * n + q], q, p, a[q * n + p]);
      norm2 += sym * sym;
    }
  for (std::int64_t p = 0; p < n; ++p)
    for (std::int64_t q = p + 1; q < n; ++q) a[p * n + q] = a[q * n + p] = 0.5 * (a[p * n + q] + a[q * n + p]);
  std::vector<double> v(static_cast<size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) v[i * n + i] = 1;

  // Cyclic sweeps over every pair (p, q). An entry is negligible when it is below
  // rounding relative to its two diagonal entries (the test that keeps small eigenvalues
  // accurate), or below rounding of the whole matrix; a sweep that rotates nothing ends.
  const double floor = kEps * kEps * std::sqrt(norm2);
  bool converged = n <= 1;
  for (int sweep = 0; sweep < max_sweeps && !converged; ++sweep) {
    converged = true;
    for (std::int64_t p = 0; p < n; ++p)
      for (std::int64_t q = p + 1; q < n; ++q) {
        const double apq = std::abs(a[p * n + q]);
        if (apq <= floor || apq <= kEps * std::sqrt(std::abs(a[p * n + p] * a[q * n + q]))) {
          a[p * n + q] = a[q * n + p] = 0;
          continue;
        }
        jacobi_rotate(a, v, n, p, q);
        converged = false;
      }
  }
  KILN_CHECK(converged, "symmetric_eigen: Jacobi did not converge in {} sweeps (n = {})",
             max_sweeps, n);

  // Sort ascending, carrying the eigenvector columns along.
  std::vector<std::int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::int64_t i, std::int64_t j) { return a[i * n + i] < a[j * n + j]; });
  std::vector<double> values(static_cast<size_t>(n)), vectors(static_cast<size_t>(n * n));
  for (std::int64_t j = 0; j < n; ++j) {
    values[j] = a[order[j] * n + order[j]];
    for (std::int64_t k = 0; k < n; ++k) vectors[k * n + j] = v[k * n + order[j]];
  }
  return {Tensor::from_vector(values, {n}, {.dtype = DType::Float64}),
          Tensor::from_vector(vectors, {n, n}, {.dtype = DType::Float64})};
}

// A^{1/2} = V diag(√max(λ, 0)) Vᵀ
Tensor sqrtm_psd(const Tensor& a) {
  check_square(a, "sqrtm_psd");
  NoGradGuard no_grad;
  const SymmetricEigen e = symmetric_eigen(a);
  const Tensor root = clamp(e.values, 0.0, std::nullopt).sqrt();
  return (e.vectors * root.unsqueeze(0)).matmul(e.vectors.t());
}

// Tr((Σ₁Σ₂)^{1/2}) = Tr((S Σ₂ S)^{1/2}) = Σ_i √λ_i(S Σ₂ S),  S = Σ₁^{1/2}
double trace_sqrt_product(const Tensor& sigma1, const Tensor& sigma2) {
  check_square(sigma1, "trace_sqrt_product");
  check_square(sigma2, "trace_sqrt_product");
  KILN_CHECK(sigma1.size(0) == sigma2.size(0),
             "trace_sqrt_product: covariances {} and {} differ in size",
             shape_str(sigma1.shape()), shape_str(sigma2.shape()));
  NoGradGuard no_grad;
  const Tensor s = sqrtm_psd(sigma1);
  const Tensor m = s.matmul(f64(sigma2)).matmul(s);
  const Tensor lambda = symmetric_eigen(0.5 * (m + m.t())).values;
  return clamp(lambda, 0.0, std::nullopt).sqrt().sum().item();
}

// ---- E34 -----------------------------------------------------------------------------

GaussianStats feature_stats(const Tensor& features) {
  check_rows(features, "feature_stats", "features", 2);
  NoGradGuard no_grad;
  const Tensor x = f64(features);
  const Tensor mu = x.mean({0});
  const Tensor centred = x - mu;
  const Tensor cov = centred.t().matmul(centred) / static_cast<double>(x.size(0) - 1);
  return {mu, 0.5 * (cov + cov.t())};  // exactly symmetric
}

// [region frechet_distance]
// E34  d² = ‖μ₁ - μ₂‖² + Tr(Σ₁ + Σ₂ - 2(Σ₁Σ₂)^{1/2})
double frechet_distance(const Tensor& mu1, const Tensor& sigma1, const Tensor& mu2,
                        const Tensor& sigma2) {
  KILN_CHECK(mu1.defined() && mu2.defined() && mu1.dim() == 1 && mu2.dim() == 1 &&
                 mu1.size(0) == mu2.size(0),
             "frechet_distance: means must be vectors [F] of one size, got {} and {}",
             mu1.defined() ? shape_str(mu1.shape()) : "undefined",
             mu2.defined() ? shape_str(mu2.shape()) : "undefined");
  check_square(sigma1, "frechet_distance");
  check_square(sigma2, "frechet_distance");
  KILN_CHECK(sigma1.size(0) == mu1.size(0) && sigma2.size(0) == mu1.size(0),
             "frechet_distance: means [{}] but covariances {} and {}", mu1.size(0),
             shape_str(sigma1.shape()), shape_str(sigma2.shape()));
  NoGradGuard no_grad;
  const Tensor s1 = f64(sigma1), s2 = f64(sigma2);
  const double mean_term = (f64(mu1) - f64(mu2)).square().sum().item();
  const double trace_term = trace(s1) + trace(s2);
  return mean_term + trace_term - 2 * trace_sqrt_product(s1, s2);
}
// [endregion]

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  return frechet_distance(a.mean, a.cov, b.mean, b.cov);
}

double frechet_distance(const Tensor& features_a, const Tensor& features_b) {
  check_rows(features_a, "frechet_distance", "features_a", 2);
  check_rows(features_b, "frechet_distance", "features_b", 2);
  KILN_CHECK(features_a.size(1) == features_b.size(1),
             "frechet_distance: features {} and {} differ in width",
             shape_str(features_a.shape()), shape_str(features_b.shape()));
  return frechet_distance(feature_stats(features_a), feature_stats(features_b));
}

// ---- E35 -----------------------------------------------------------------------------

// E35  IS = exp(E_x KL(p(y|x) || p(y)))
MeanAndSpread inception_score(const Tensor& probs, std::int64_t splits) {
  check_rows(probs, "inception_score", "probs", 1);
  KILN_CHECK(splits >= 1 && splits <= probs.size(0),
             "inception_score: splits = {} must be in 1..N = {}", splits, probs.size(0));
  const std::int64_t N = probs.size(0), C = probs.size(1);
  const std::vector<double> p = f64(probs).to_vector<double>();
  for (std::int64_t i = 0; i < N; ++i) {
    double row = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      KILN_CHECK(p[i * C + c] >= 0, "inception_score: probs[{}][{}] = {} is negative", i, c,
                 p[i * C + c]);
      row += p[i * C + c];
    }
    KILN_CHECK(std::abs(row - 1) <= 1e-6, "inception_score: row {} sums to {}, not 1", i, row);
  }
  const std::int64_t per = N / splits;
  std::vector<double> scores;
  for (std::int64_t s = 0; s < splits; ++s) {
    // p(y) = E_x p(y|x) over the split
    std::vector<double> py(static_cast<size_t>(C), 0.0);
    for (std::int64_t i = s * per; i < (s + 1) * per; ++i)
      for (std::int64_t c = 0; c < C; ++c) py[c] += p[i * C + c] / static_cast<double>(per);
    // E_x KL(p(y|x) || p(y)) = E_x Σ_y p(y|x) (log p(y|x) - log p(y)),  0 log 0 = 0
    double kl = 0;
    for (std::int64_t i = s * per; i < (s + 1) * per; ++i)
      for (std::int64_t c = 0; c < C; ++c) {
        const double pic = p[i * C + c];
        if (pic > 0) kl += pic * (std::log(pic) - std::log(py[c])) / static_cast<double>(per);
      }
    scores.push_back(std::exp(kl));
  }
  MeanAndSpread out;
  for (double v : scores) out.mean += v / static_cast<double>(scores.size());
  for (double v : scores) out.std += (v - out.mean) * (v - out.mean) / static_cast<double>(scores.size());
  out.std = std::sqrt(out.std);
  return out;
}

// ---- E36 -----------------------------------------------------------------------------

// E36  k(a, b) = (aᵀb/d + 1)³
Tensor polynomial_kernel(const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1),
             "polynomial_kernel: expects rows [N, d] and [M, d], got {} and {}",
             a.defined() ? shape_str(a.shape()) : "undefined",
             b.defined() ? shape_str(b.shape()) : "undefined");
  const auto d = static_cast<double>(a.size(1));
  return (a.matmul(b.t()) / d + 1.0).pow(3.0);
}

// [region mmd2_unbiased]
// E36  MMD²_u = Σ_{i≠j} k(a_i,a_j)/(m(m-1)) + Σ_{i≠j} k(b_i,b_j)/(n(n-1)) - 2 Σ_{i,j} k(a_i,b_j)/(mn)
double mmd2_unbiased(const Tensor& a_in, const Tensor& b_in) {
  check_rows(a_in, "mmd2_unbiased", "a", 2);
  check_rows(b_in, "mmd2_unbiased", "b", 2);
  KILN_CHECK(a_in.size(1) == b_in.size(1), "mmd2_unbiased: rows {} and {} differ in width",
             shape_str(a_in.shape()), shape_str(b_in.shape()));
  NoGradGuard no_grad;
  const Tensor a = f64(a_in), b = f64(b_in);
  const auto m = static_cast<double>(a.size(0)), n = static_cast<double>(b.size(0));
  const Tensor k_aa = polynomial_kernel(a, a), k_bb = polynomial_kernel(b, b);
  // Σ_{i≠j} = the whole sum minus the diagonal (the i = j terms would bias the estimate)
  const double off_aa = k_aa.sum().item() - trace(k_aa);
  const double off_bb = k_bb.sum().item() - trace(k_bb);
  const double cross = polynomial_kernel(a, b).sum().item();
  return off_aa / (m * (m - 1)) + off_bb / (n * (n - 1)) - 2 * cross / (m * n);
}
// [endregion]

MeanAndSpread kernel_distance(const Tensor& features_a, const Tensor& features_b,
                              std::int64_t subsets, std::int64_t subset_size, Generator* gen) {
  check_rows(features_a, "kernel_distance", "features_a", 2);
  check_rows(features_b, "kernel_distance", "features_b", 2);
  KILN_CHECK(subsets >= 1, "kernel_distance: subsets = {} must be >= 1", subsets);
  const std::int64_t na = features_a.size(0), nb = features_b.size(0);
  if (subsets == 1 && subset_size == 0) return {mmd2_unbiased(features_a, features_b), 0.0};
  const std::int64_t m =
      subset_size > 0 ? subset_size : std::min<std::int64_t>({na, nb, 1000});
  KILN_CHECK(m >= 2 && m <= na && m <= nb,
             "kernel_distance: subset_size = {} must be in 2..min(N, M) = {}", m,
             std::min(na, nb));
  const Tensor a = f64(features_a), b = f64(features_b);
  // m rows of n without replacement: the m smallest of n uniform keys (a uniformly random
  // subset, in random order).
  auto subset = [&](const Tensor& x) {
    const std::int64_t n = x.size(0);
    const std::vector<double> keys = Tensor::rand({n}, {.dtype = DType::Float64}, gen).to_vector<double>();
    std::vector<std::int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + m, order.end(),
                      [&](std::int64_t i, std::int64_t j) { return keys[i] < keys[j]; });
    order.resize(static_cast<size_t>(m));
    return index_select(x, 0, Tensor::from_vector(order, {m}, {.dtype = DType::Int64}));
  };
  std::vector<double> values;
  for (std::int64_t s = 0; s < subsets; ++s) values.push_back(mmd2_unbiased(subset(a), subset(b)));
  MeanAndSpread out;
  for (double v : values) out.mean += v / static_cast<double>(values.size());
  for (double v : values) out.std += (v - out.mean) * (v - out.mean) / static_cast<double>(values.size());
  out.std = std::sqrt(out.std);
  return out;
}

}  // namespace kiln::diffusion
