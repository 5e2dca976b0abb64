// The verifications of the network's side of EQUATIONS.md (Note [Verification checks] in
// diffusion/verify.h):
//   V13  E28, E29 shapes and values at known points; E32 keeps unit variance.
//   V20  ddpm-cifar10 has 35,746,307 parameters; with its zero-initialised head the
//        untrained U-Net predicts ε̂ = 0, so L_simple starts at E[ε²] = 1.
//
// Each check runs several sub-checks, each with its own measured error and tolerance;
// the reported error is the worst ratio error / tolerance (so the check passes iff it
// is <= 1), and `detail` lists every sub-check with its numbers.
#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "autograd/grad_mode.h"
#include "autograd/ops/loss.h"
#include "diffusion/embedding.h"
#include "diffusion/forward.h"
#include "diffusion/interpolation.h"
#include "diffusion/models.h"
#include "diffusion/schedule.h"
#include "diffusion/verify.h"
#include "tensor/random.h"

namespace kiln::diffusion {

namespace {

// Collects sub-checks into one CheckResult.
struct SubChecks {
  double worst = 0;
  bool ok = true;
  std::string detail;

  void add(const std::string& what, double error, double tolerance) {
    const bool pass = error <= tolerance;  // false for NaN
    ok = ok && pass;
    // tolerance 0 means "exactly": the ratio is 0 when met, infinite otherwise.
    const double ratio = tolerance > 0 ? error / tolerance : (pass ? 0.0 : INFINITY);
    worst = std::max(worst, std::isnan(error) ? INFINITY : ratio);
    detail += fmt::format("{}{}: {:.3g} (tol {:.3g}){}", detail.empty() ? "" : "; ", what, error,
                          tolerance, pass ? "" : " FAILED");
  }
  // A condition without a measured size (a shape, an exact count).
  void require(const std::string& what, bool pass, const std::string& got = "") {
    add(what + (got.empty() ? "" : " (got " + got + ")"), pass ? 0.0 : 1.0, pass ? 1.0 : 0.5);
  }
  CheckResult result(const std::string& id, const std::string& what, const std::string& note) {
    CheckResult r;
    r.id = id;
    r.what = what;
    r.error = worst;
    r.tolerance = 1;
    r.passed = ok;
    r.detail = "error = worst (error / tolerance) of: " + detail + ". " + note;
    return r;
  }
};

double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double m = a.size() == b.size() ? 0.0 : INFINITY;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

// Sample variance (unbiased) of every element of t.
double sample_variance(const Tensor& t) { return t.var().item(); }

CheckResult run_v13() {
  SubChecks c;
  constexpr double pi = std::numbers::pi;

  // ---- E28: shapes, and the values at t = 0, 1, 10, 999 against the closed form ----
  const std::vector<double> ts = {0, 1, 10, 999};
  const std::int64_t d = 8, h = d / 2;
  const Tensor t64 = Tensor::from_vector(ts, {4}, {.dtype = kFloat64});
  const Tensor e28 = timestep_embedding(t64, d);
  c.require("E28 shape [4, 8]", e28.shape() == Shape{4, 8}, shape_str(e28.shape()));
  const Tensor e28_int =
      timestep_embedding(Tensor::from_vector(std::vector<std::int64_t>{3, 7}, {2}, {.dtype = kInt64}), 32);
  c.require("E28 int64 t -> float32 [2, 32]",
            e28_int.shape() == Shape{2, 32} && e28_int.dtype() == kFloat32,
            shape_str(e28_int.shape()));
  std::vector<double> expect28;
  for (double t : ts) {
    std::vector<double> row(d);
    for (std::int64_t i = 0; i < h; ++i) {
      const double omega = std::pow(10000.0, -static_cast<double>(i) / static_cast<double>(h - 1));
      row[i] = std::sin(t * omega);
      row[h + i] = std::cos(t * omega);
    }
    expect28.insert(expect28.end(), row.begin(), row.end());
  }
  // Rounding: the angles reach 999 rad, so float64 sin/cos of them carry ~999·2⁻⁵³ ≈ 1e-13.
  c.add("E28 float64 vs closed form (t <= 999)", max_abs_diff(e28.to_vector<double>(), expect28),
        1e-11);
  // Known points: t = 0 gives [0, ..., 0, 1, ..., 1]; ω_0 = 1 so emb_0 = sin t; ω_{h-1}
  // = 10⁻⁴.
  const auto row1 = e28.select(0, 1).to_vector<double>();
  c.add("E28 emb_0(t=1) = sin 1", std::abs(row1[0] - std::sin(1.0)), 1e-15);
  c.add("E28 emb_{h-1}(t=1) = sin 1e-4", std::abs(row1[h - 1] - std::sin(1e-4)), 1e-15);
  const auto row0 = e28.select(0, 0).to_vector<double>();
  std::vector<double> zeros_ones(d, 0.0);
  std::fill(zeros_ones.begin() + h, zeros_ones.end(), 1.0);
  c.add("E28 emb(0) = [0.., 1..]", max_abs_diff(row0, zeros_ones), 0.0);
  // float32 (what the network uses) against float64: the angle t·ω carries a relative
  // rounding of a few 2⁻²⁴, i.e. up to 999·3·6e-8 ≈ 2e-4 absolute at t = 999.
  const Tensor e28_f32 = timestep_embedding(t64.to(kFloat32), d);
  c.add("E28 float32 vs float64", max_abs_diff(e28_f32.to_vector<double>(), expect28), 5e-4);

  // ---- E29: shapes and known points ------------------------------------------------
  const std::int64_t L = 16;
  const std::vector<double> xs = {0.0, 0.25, 1.0 / 4000, 0.7};
  const Tensor e29 = noise_embedding(Tensor::from_vector(xs, {4}, {.dtype = kFloat64}), L);
  c.require("E29 shape [4, 32]", e29.shape() == Shape{4, 32}, shape_str(e29.shape()));
  const Tensor e29_keras = noise_embedding(Tensor::zeros({2, 1, 1, 1}), L);
  c.require("E29 Keras-shaped x [2,1,1,1] -> [2,1,1,1,32]",
            e29_keras.shape() == Shape{2, 1, 1, 1, 32}, shape_str(e29_keras.shape()));
  std::vector<double> expect29;
  for (double x : xs) {
    std::vector<double> row(2 * L);
    for (std::int64_t i = 0; i < L; ++i) {
      const double freq = std::pow(1000.0, static_cast<double>(i) / static_cast<double>(L - 1));
      row[i] = std::sin(2 * pi * freq * x);
      row[L + i] = std::cos(2 * pi * freq * x);
    }
    expect29.insert(expect29.end(), row.begin(), row.end());
  }
  // Angles reach 2π·1000·0.7 ≈ 4400 rad: rounding ~4400·2⁻⁵³·few ≈ 1e-12.
  c.add("E29 float64 vs closed form", max_abs_diff(e29.to_vector<double>(), expect29), 1e-10);
  const auto r025 = e29.select(0, 1).to_vector<double>();
  const auto r4000 = e29.select(0, 2).to_vector<double>();
  // x = 1/4: the lowest frequency (1) is a quarter turn, sin = 1; x = 1/4000: the highest
  // (1000) is.
  c.add("E29 sin(2π·1·¼) = 1", std::abs(r025[0] - 1.0), 1e-15);
  c.add("E29 sin(2π·1000/4000) = 1", std::abs(r4000[L - 1] - 1.0), 1e-12);

  // ---- E32: unit variance along the whole path (Monte Carlo) -------------------------
  // a, b ~ N(0, 1), n values each. The sample variance of n standard normal values has
  // standard error √(2/(n-1)); every s is held to 5 of them (the five estimates share
  // a and b, so they are correlated; 5 SE on each keeps a false alarm below ~3e-6).
  const std::int64_t n = 200000;
  Generator gen(13);
  const Tensor a = Tensor::randn({n}, {.dtype = kFloat64}, &gen);
  const Tensor b = Tensor::randn({n}, {.dtype = kFloat64}, &gen);
  const double se = std::sqrt(2.0 / static_cast<double>(n - 1));
  double worst = 0;
  for (double s : {0.0, 0.25, 0.5, 0.75, 1.0})
    worst = std::max(worst, std::abs(sample_variance(slerp(a, b, s)) - 1.0));
  c.add(fmt::format("E32 max_s |Var(x_T(s)) - 1|, s in {{0,¼,½,¾,1}}, n={}", n), worst, 5 * se);
  // The endpoints are the two noises themselves (up to cos(π/2) ≈ 6e-17 of the other).
  c.add("E32 x_T(0) = b, x_T(1) = a",
        std::max(max_abs_diff(slerp(a, b, 0.0).to_vector<double>(), b.to_vector<double>()),
                 max_abs_diff(slerp(a, b, 1.0).to_vector<double>(), a.to_vector<double>())),
        1e-14);
  // Negative control: a straight line's midpoint has variance ¼ + ¼ = ½, which this
  // check must see (it is 30+ standard errors from 1).
  const double linear_mid = sample_variance(a * 0.5 + b * 0.5);
  c.require(fmt::format("control: linear midpoint variance {:.4f} is flagged", linear_mid),
            std::abs(linear_mid - 1.0) > 5 * se);
  return c.result("V13", "E28, E29 values at known points; slerp keeps unit variance",
                  "E28 with d = 8, E29 with L = 16; Monte Carlo seed 13.");
}

CheckResult run_v20() {
  SubChecks c;
  // ---- the parameter counts of shared/REFERENCE_MODELS.md --------------------------
  // Building ddpm-cifar10 only draws its initial weights (no forward pass). It draws
  // them from the global generator, whose state is put back afterwards.
  const Generator::State before = default_generator().state();
  for (const auto& [name, expected] :
       std::vector<std::pair<std::string, std::int64_t>>{{"ddpm-cifar10", 35746307},
                                                         {"ddpm-small", 1113955}}) {
    const std::int64_t count = make_model(name)->num_parameters();
    c.require(fmt::format("{} has {} parameters", name, expected), count == expected,
              fmt::format("{}", count));
  }
  default_generator().set_state(before);

  // ---- ε̂ = 0 at initialisation, so L_simple = mean(ε²) ≈ 1 ---------------------------
  // ddpm-small has the same zero-initialised head as ddpm-cifar10 and runs a forward
  // pass in a fraction of a second on a CPU.
  // The weights come from the global generator: seed it, and put its state back after.
  const Generator::State saved = default_generator().state();
  manual_seed(20);
  auto model = make_model("ddpm-small");
  default_generator().set_state(saved);
  Generator gen(20);
  const std::int64_t B = 16;
  const Schedule sched = Schedule::linear();
  const Tensor x0 = Tensor::rand({B, 3, 32, 32}, {}, &gen) * 2.0 - 1.0;  // data in [-1, 1]
  const Tensor eps = Tensor::randn({B, 3, 32, 32}, {}, &gen);
  const Tensor t = Tensor::randint(1, sched.T + 1, {B}, {.dtype = kInt64}, &gen);  // E23
  const Tensor xt = q_sample(sched, x0, t, eps);  // E7
  Tensor eps_hat;
  {
    NoGradGuard no_grad;
    eps_hat = model->forward(xt, t);
  }
  c.require("ε̂ has x's shape", eps_hat.shape() == xt.shape(), shape_str(eps_hat.shape()));
  c.add("max |ε̂| at init (exactly 0)", eps_hat.abs().max().item(), 0.0);
  // L_simple = mean((ε - ε̂)²) = mean(ε²) here; over m = B·3·32·32 values its standard
  // error is √(Var ε²/m) = √(2/m) (ε² ~ χ²₁ has variance 2); tolerance 5 of them.
  const double l_simple = mse_loss(eps_hat, eps).item();
  const double m = static_cast<double>(eps.numel());
  c.add(fmt::format("|L_simple - 1| = |{:.5f} - 1|, m = {} values", l_simple,
                    static_cast<std::int64_t>(m)),
        std::abs(l_simple - 1.0), 5 * std::sqrt(2.0 / m));
  return c.result("V20", "ddpm-cifar10 has 35,746,307 parameters; ε̂ = 0 at init, L_simple ≈ 1",
                  "Counts from shared/anchors/torch_unet.py; forward on ddpm-small, batch 16, "
                  "seed 20.");
}

}  // namespace

std::vector<Check> network_checks() {
  return {
      {"V13", "E28, E29 values at known points; slerp keeps unit variance", run_v13},
      {"V20", "ddpm-cifar10 has 35,746,307 parameters; ε̂ = 0 at init, L_simple ≈ 1", run_v20},
  };
}

}  // namespace kiln::diffusion
