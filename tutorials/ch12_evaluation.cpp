// Chapter 12: evaluation. Bits per dimension (E21) from the decoder of E20 on uniform
// noise (V9's ≈ 8 bits); the Fréchet distance (E34) and KID (E36) between point sets that
// are equal, slightly off and wrong; and the Inception-style score (E35) of a classifier
// that is confident and diverse, against one fed a collapsed sample. Then V14.
#include <cmath>

#include "diffusion/bound.h"
#include "diffusion/metrics.h"
#include "diffusion/oracle.h"
#include "diffusion/verify.h"
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using namespace kiln::diffusion;

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 12: evaluation");
  return tutorial::run([&] {
    Generator gen(12);
    const std::int64_t n = args.quick ? 500 : 4000;
    // E20 + E21: 8-bit noise costs 8 bits per dimension under the best Gaussian decoder.
    // [region bpd_of_noise]
    const Tensor pixels = Tensor::randint(0, 256, {n, 48}, {.dtype = kInt64}, &gen).to(kFloat64);
    const Tensor x = pixels / 127.5 - 1.0;  // E31: [0, 255] -> [-1, 1]
    const Tensor log_scale = Tensor::full({}, std::log(0.58), {.dtype = kFloat64});  // σ ≈ std of U[-1, 1]
    const Tensor nll = -sum_non_batch(discretized_gaussian_log_likelihood(x, Tensor::zeros({}, {.dtype = kFloat64}), log_scale));
    const double bpd = bits_per_dim(nll, 48).mean().item();  // E21
    // [endregion]
    std::string table = "| quantity | value |\n|---|---|\n";
    table += fmt::format("| bits/dim of uniform 8-bit noise, Gaussian decoder (E20, E21) | {:.3f} |\n", bpd);

    const Tensor moons = data::make_points(data::PointSet::Moons, n, 1);
    const Tensor moons2 = data::make_points(data::PointSet::Moons, n, 2);
    const Tensor noisy = moons2 + Tensor::randn(moons2.shape(), {}, &gen) * 0.1;
    const Tensor g8 = data::make_points(data::PointSet::Gaussians8, n, 3);
    table += "\n| sample vs two moons | Fréchet distance (E34) | KID (E36) |\n|---|---|---|\n";
    for (auto [name, pts] : {std::pair<const char*, Tensor>{"another sample of two moons", moons2},
                             {"two moons + N(0, 0.1²) noise", noisy},
                             {"eight Gaussians", g8}}) {
      // [region fd_kid]
      const double fd = frechet_distance(moons, pts);
      const MeanAndSpread kid = kernel_distance(moons, pts, 10, 0, &gen);
      // [endregion]
      table += fmt::format("| {} | {:.4f} | {:.4f} ± {:.4f} |\n", name, fd, kid.mean, kid.std);
    }

    // E35 with an exact classifier: the component responsibilities of the 8-Gaussian mixture.
    std::vector<std::vector<double>> mu;
    for (int k = 0; k < 8; ++k)
      mu.push_back({0.8 * std::cos(2 * M_PI * k / 8), 0.8 * std::sin(2 * M_PI * k / 8)});
    const GaussianMixture mixture = GaussianMixture::isotropic(std::vector<double>(8, 0.125), mu, std::vector<double>(8, 0.08));
    const Tensor collapsed = Tensor::randn({n, 2}, {.dtype = kFloat64}, &gen) * 0.05 + Tensor::tensor({0.8, 0.0}, {.dtype = kFloat64});
    table += "\n| sample classified by the mixture's posterior p(y given x) | Inception-style score (E35) |\n|---|---|\n";
    for (auto [name, pts] : {std::pair<const char*, Tensor>{"all eight modes", mixture.sample(n, &gen)},
                             {"collapsed onto one mode", collapsed}}) {
      const Tensor probs = mixture.responsibilities(pts, Tensor::full({}, 1.0, {.dtype = kFloat64}));  // [n, 8]
      table += fmt::format("| {} | {:.3f} |\n", name, inception_score(probs).mean);
    }
    for (const Check& c : all_checks())
      if (c.id == "V14") {
        const CheckResult r = run_check(c);
        table += fmt::format("\nV14 ({}): error {:.3g}, tolerance {:.3g}: {}.\n", r.what, r.error, r.tolerance,
                             r.passed ? "passes" : "FAILS");
      }
    fmt::print("{}", table);
    args.write("ch12-metrics.md", table);
  });
}
