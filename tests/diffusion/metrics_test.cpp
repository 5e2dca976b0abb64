// The metrics (E34 Fréchet distance, E35 Inception-style score, E36 KID) and the data
// normalisation (E31): V14 as `kiln verify` runs it, then the pieces against closed forms.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "diffusion/checks_sampling.h"
#include "diffusion/metrics.h"
#include "diffusion/normalize.h"
#include "kiln.h"

using namespace kiln;
using namespace kiln::diffusion;

namespace {

double max_abs(const Tensor& x) { return x.abs().max().item(); }

Tensor random_spd(std::int64_t n, Generator* gen, double ridge = 0.5) {
  const Tensor a = Tensor::randn({n, n}, {.dtype = kFloat64}, gen);
  return a.matmul(a.t()) / static_cast<double>(n) + ridge * Tensor::eye(n, {.dtype = kFloat64});
}

}  // namespace

TEST_CASE("V14 E34-E36: Frechet distance, KID and IS on cases with known answers") {
  const CheckResult r = check_v14();
  MESSAGE("V14: error " << r.error << " <= tolerance " << r.tolerance);
  INFO(r.detail);
  CHECK(r.passed);
}

TEST_CASE("E34 symmetric_eigen (Jacobi): A V = V diag(lambda), V orthonormal, ascending") {
  Generator gen(1);
  for (std::int64_t n : {1, 2, 5, 17, 40}) {
    const Tensor a = random_spd(n, &gen) - 0.7 * Tensor::eye(n, {.dtype = kFloat64});  // indefinite
    const SymmetricEigen e = symmetric_eigen(a);
    const Tensor av = a.matmul(e.vectors), vl = e.vectors * e.values.unsqueeze(0);
    const double scale = max_abs(a) * static_cast<double>(n);
    CHECK(max_abs(av - vl) < 1e-13 * scale);
    CHECK(max_abs(e.vectors.t().matmul(e.vectors) - Tensor::eye(n, {.dtype = kFloat64})) < 1e-13 * n);
    const std::vector<double> v = e.values.to_vector<double>();
    for (size_t i = 1; i < v.size(); ++i) CHECK(v[i - 1] <= v[i]);
  }
  // A singular PSD matrix (rank 2 in 4-D): the zero eigenvalues come out at rounding level.
  const Tensor b = Tensor::randn({4, 2}, {.dtype = kFloat64}, &gen);
  const std::vector<double> lambda = symmetric_eigen(b.matmul(b.t())).values.to_vector<double>();
  CHECK(std::abs(lambda[0]) < 1e-14);
  CHECK(std::abs(lambda[1]) < 1e-14);
  CHECK(lambda[2] > 0.01);
  // Already diagonal: no rotation needed.
  const Tensor d = Tensor::tensor({{3.0, 0.0}, {0.0, -1.0}}, {.dtype = kFloat64});
  CHECK(symmetric_eigen(d).values.to_vector<double>() == std::vector<double>{-1.0, 3.0});
  CHECK_THROWS_AS(symmetric_eigen(Tensor::tensor({{1.0, 2.0}, {0.0, 1.0}}, {.dtype = kFloat64})), kiln::Error);
  CHECK_THROWS_AS(symmetric_eigen(Tensor::zeros({2, 3}, {.dtype = kFloat64})), kiln::Error);
}

TEST_CASE("E34 sqrtm_psd squares back; trace_sqrt_product = Tr sqrtm(S1 S2) for commuting S") {
  Generator gen(2);
  const Tensor a = random_spd(12, &gen);
  const Tensor r = sqrtm_psd(a);
  CHECK(max_abs(r.matmul(r) - a) < 1e-13 * max_abs(a) * 12);
  CHECK(max_abs(r - r.t()) < 1e-14);
  // Σ and Σ² commute: Tr((Σ Σ²)^{1/2}) = Tr(Σ^{3/2}) = Σ λ^{3/2}.
  const std::vector<double> lambda = symmetric_eigen(a).values.to_vector<double>();
  double expect = 0;
  for (double l : lambda) expect += std::pow(l, 1.5);
  CHECK(trace_sqrt_product(a, a.matmul(a)) == doctest::Approx(expect).epsilon(1e-12));
}

TEST_CASE("E34 Frechet distance: diagonal covariances, symmetry, identical sets, from features") {
  // Diagonal covariances commute: d² = ‖μ₁-μ₂‖² + Σ (√a - √b)².
  const Tensor mu1 = Tensor::tensor({0.0, 1.0, -2.0}, {.dtype = kFloat64});
  const Tensor mu2 = Tensor::tensor({0.5, 1.0, 0.0}, {.dtype = kFloat64});
  const Tensor s1 = Tensor::tensor({{4.0, 0, 0}, {0, 1.0, 0}, {0, 0, 0.25}}, {.dtype = kFloat64});
  const Tensor s2 = Tensor::tensor({{1.0, 0, 0}, {0, 9.0, 0}, {0, 0, 0.25}}, {.dtype = kFloat64});
  const double expect = 0.25 + 4.0 + (1.0) + (4.0) + 0.0;  // means, then (2-1)², (1-3)², 0
  CHECK(frechet_distance(mu1, s1, mu2, s2) == doctest::Approx(expect).epsilon(1e-14));
  CHECK(frechet_distance(mu1, s1, mu2, s2) == doctest::Approx(frechet_distance(mu2, s2, mu1, s1)).epsilon(1e-13));
  // A singular covariance is fine (PSD, not PD).
  const Tensor z = Tensor::zeros({3, 3}, {.dtype = kFloat64});
  CHECK(frechet_distance(mu1, z, mu1, s1) == doctest::Approx(4.0 + 1.0 + 0.25).epsilon(1e-14));

  Generator gen(3);
  const Tensor fa = Tensor::randn({300, 5}, {.dtype = kFloat64}, &gen);
  const Tensor fb = Tensor::randn({200, 5}, {.dtype = kFloat64}, &gen) * 1.5 + 0.3;
  const GaussianStats sa = feature_stats(fa), sb = feature_stats(fb);
  CHECK(frechet_distance(fa, fb) == doctest::Approx(frechet_distance(sa, sb)).epsilon(1e-14));
  CHECK(std::abs(frechet_distance(fa, fa)) < 1e-12);
  CHECK(frechet_distance(fa, fb) > 0.5);
  // feature_stats: the unbiased covariance, as numpy.cov.
  const Tensor centred = fa - fa.mean({0});
  CHECK(max_abs(sa.cov - centred.t().matmul(centred) / 299.0) < 1e-14);
  // float32 features give the same number (computed in float64 after one cast).
  CHECK(frechet_distance(fa.to(kFloat32), fb.to(kFloat32)) ==
        doctest::Approx(frechet_distance(fa.to(kFloat32).to(kFloat64), fb.to(kFloat32).to(kFloat64))).epsilon(1e-14));
  CHECK_THROWS_AS(frechet_distance(fa, Tensor::zeros({10, 4}, {.dtype = kFloat64})), kiln::Error);
  CHECK_THROWS_AS(frechet_distance(fa.narrow(0, 0, 1), fb), kiln::Error);
}

TEST_CASE("E35 Inception-style score: 1 for an uninformative classifier, C for confident even ones") {
  const std::int64_t C = 4, N = 40;
  CHECK(inception_score(Tensor::full({N, C}, 0.25, {.dtype = kFloat64})).mean == doctest::Approx(1.0).epsilon(1e-14));
  std::vector<double> onehot(static_cast<size_t>(N * C), 0.0);
  for (std::int64_t i = 0; i < N; ++i) onehot[static_cast<size_t>(i * C + i % C)] = 1;
  const Tensor p = Tensor::from_vector(onehot, {N, C}, {.dtype = kFloat64});
  CHECK(inception_score(p).mean == doctest::Approx(4.0).epsilon(1e-14));
  const MeanAndSpread split = inception_score(p, 10);  // every split of 4 holds all classes
  CHECK(split.mean == doctest::Approx(4.0).epsilon(1e-14));
  CHECK(split.std < 1e-12);
  // A hand-computed case: two samples, p(y|x) = (0.9, 0.1) and (0.2, 0.8).
  const Tensor q = Tensor::tensor({{0.9, 0.1}, {0.2, 0.8}}, {.dtype = kFloat64});
  const double py0 = 0.55, py1 = 0.45;
  const double kl = 0.5 * (0.9 * std::log(0.9 / py0) + 0.1 * std::log(0.1 / py1)) +
                    0.5 * (0.2 * std::log(0.2 / py0) + 0.8 * std::log(0.8 / py1));
  CHECK(inception_score(q).mean == doctest::Approx(std::exp(kl)).epsilon(1e-14));
  CHECK_THROWS_AS(inception_score(Tensor::tensor({{0.5, 0.6}}, {.dtype = kFloat64})), kiln::Error);
  CHECK_THROWS_AS(inception_score(p, 0), kiln::Error);
}

TEST_CASE("E36 KID: the cubic kernel, MMD^2_u by hand, subsets reproducible with a seed") {
  const Tensor a = Tensor::tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}}, {.dtype = kFloat64});
  const Tensor b = Tensor::tensor({{2.0, 0.0}, {0.0, -1.0}}, {.dtype = kFloat64});
  auto k = [](double x0, double x1, double y0, double y1) { return std::pow((x0 * y0 + x1 * y1) / 2 + 1, 3); };
  CHECK(polynomial_kernel(a, b).at({2, 1}) == doctest::Approx(k(1, 1, 0, -1)).epsilon(1e-15));
  // Σ_{i≠j} over a (3 rows), over b (2 rows), and all cross pairs, by hand.
  const double pts_a[3][2] = {{1, 0}, {0, 1}, {1, 1}}, pts_b[2][2] = {{2, 0}, {0, -1}};
  double aa = 0, bb = 0, ab = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (i != j) aa += k(pts_a[i][0], pts_a[i][1], pts_a[j][0], pts_a[j][1]);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      if (i != j) bb += k(pts_b[i][0], pts_b[i][1], pts_b[j][0], pts_b[j][1]);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) ab += k(pts_a[i][0], pts_a[i][1], pts_b[j][0], pts_b[j][1]);
  const double expect = aa / 6 + bb / 2 - 2 * ab / 6;
  CHECK(mmd2_unbiased(a, b) == doctest::Approx(expect).epsilon(1e-14));
  CHECK(kernel_distance(a, b).mean == doctest::Approx(expect).epsilon(1e-14));

  Generator g1(7), g2(7), data(8);
  const Tensor x = Tensor::randn({120, 3}, {.dtype = kFloat64}, &data);
  const Tensor y = Tensor::randn({150, 3}, {.dtype = kFloat64}, &data) + 1.0;
  const MeanAndSpread r1 = kernel_distance(x, y, 5, 50, &g1), r2 = kernel_distance(x, y, 5, 50, &g2);
  CHECK(r1.mean == r2.mean);
  CHECK(r1.std == r2.std);
  CHECK(r1.mean > 0.5);  // clearly different laws
  CHECK(r1.std > 0);
  CHECK_THROWS_AS(kernel_distance(x, y, 2, 200), kiln::Error);  // more rows than x has
}

TEST_CASE("E31 data normalisation: [-1, 1] and back, per-channel standardisation and back") {
  const Tensor pixels = Tensor::tensor({0, 1, 127, 128, 254, 255}, {.dtype = kInt64});
  const Tensor x = pixels_to_signed(pixels);
  CHECK(x.dtype() == kFloat32);
  CHECK(x.at({0}) == -1.0);
  CHECK(x.at({5}) == 1.0);
  const Tensor back = signed_to_unit(x);
  CHECK(max_abs(back * 255.0 - pixels.to(kFloat32)) < 1e-4);
  CHECK(unit_to_bytes(back) == std::vector<std::uint8_t>{0, 1, 127, 128, 254, 255});
  // Overshoot is clipped before writing.
  CHECK(signed_to_unit(Tensor::tensor({-1.3, 1.2})).to_vector<float>() == std::vector<float>{0.0f, 1.0f});
  CHECK(unit_to_bytes(Tensor::tensor({-0.2, 0.5, 1.7})) == std::vector<std::uint8_t>{0, 128, 255});
  CHECK(max_abs(pixels_to_unit(pixels) * 255.0 - pixels.to(kFloat32)) < 1e-4);

  // Keras-style: images [N, C, H, W] in [0, 1], per-channel mean and (population) std.
  Generator gen(4);
  const Tensor images = Tensor::rand({6, 3, 4, 5}, {.dtype = kFloat64}, &gen) *
                        Tensor::tensor({0.2, 0.5, 1.0}, {.dtype = kFloat64}).reshape({1, 3, 1, 1});
  const ChannelNormalizer n = ChannelNormalizer::fit(images);
  REQUIRE(n.mean.size() == 3);
  const Tensor z = n.normalize(images);
  for (std::int64_t c = 0; c < 3; ++c) {
    const Tensor ch = z.select(1, c);
    CHECK(std::abs(ch.mean().item()) < 1e-14);
    CHECK(ch.var({}, 0).item() == doctest::Approx(1.0).epsilon(1e-13));
  }
  CHECK(max_abs(n.denormalize(z) - images) < 1e-14);
  // Channels last works too; a constant channel does not divide by zero.
  const ChannelNormalizer last = ChannelNormalizer::fit(images.permute({0, 2, 3, 1}), -1);
  CHECK(last.mean[1] == doctest::Approx(n.mean[1]).epsilon(1e-14));
  const ChannelNormalizer flat = ChannelNormalizer::fit(Tensor::ones({2, 1, 3}));
  CHECK(std::isfinite(flat.normalize(Tensor::ones({2, 1, 3})).abs().max().item()));
  CHECK_THROWS_AS(n.normalize(Tensor::zeros({2, 4, 3})), kiln::Error);
}
