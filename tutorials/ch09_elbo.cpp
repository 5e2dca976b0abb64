// Chapter 9: the variational bound down to L_simple (E14-E22). Three things:
//   1. the checks that make the derivation trustworthy -- V5 (E16), V6 (E17-E18), V7
//      (E14-E15), V8 (tightness), V9 (E20-E21), V19 (E18-E19), V22 (E20) -- as a table;
//   2. the weight λ_t of E18 that L_simple (E19) drops, for both σ_t² of E13;
//   3. the bound itself, term by term, for a model we know exactly: data from a Gaussian
//      mixture and its optimal ε* (E27), against the mixture's true log-likelihood.
#include <cmath>

#include "diffusion/bound.h"
#include "diffusion/oracle.h"
#include "diffusion/schedule.h"
#include "diffusion/verify.h"
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using namespace kiln::diffusion;

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 9: the variational bound");
  return tutorial::run([&] {
    // 1. the checks of the chapter, as `kiln verify` runs them
    std::string table = "| check | what | measured error | tolerance | result |\n|---|---|---|---|---|\n";
    const std::vector<std::string> ids = args.quick ? std::vector<std::string>{"V5", "V6"}
                                                    : std::vector<std::string>{"V5", "V6", "V7", "V8", "V9", "V19", "V22"};
    bool all_passed = true;
    for (const Check& c : all_checks()) {
      if (std::find(ids.begin(), ids.end(), c.id) == ids.end()) continue;
      const CheckResult r = run_check(c);
      all_passed = all_passed && r.passed;
      table += fmt::format("| {} | {} | {:.3g} | {:.3g} | {} |\n", r.id, r.what, r.error, r.tolerance,
                           r.passed ? "pass" : "**FAIL**");
      fmt::print("{:<4} error {:.3g} tolerance {:.3g}  {}\n     {}\n", r.id, r.error, r.tolerance,
                 r.passed ? "pass" : "FAIL", r.detail);
    }
    args.write("ch09-vchecks.md", table);

    // 2. λ_t of E18
    const Schedule s = Schedule::linear();
    const std::vector<double> large = vlb_weight(s, Sigma::Large), small = vlb_weight(s, Sigma::Small);
    data::Series wl{.name = "lambda_t, sigma^2 = beta_t"}, ws{.name = "lambda_t, sigma^2 = beta~_t"};
    for (std::int64_t t = 1; t <= s.T; t += (t < 20 ? 1 : 5)) {
      wl.x.push_back(t), wl.y.push_back(large[t]);
      ws.x.push_back(t), ws.y.push_back(small[t]);
    }
    data::save_line_plot(args.file("ch09-lambda.png"), {wl, ws},
                         {.title = "E18: the weight L_simple drops", .xlabel = "t", .ylabel = "lambda_t", .log_y = true});

    // 3. the bound of E15 for the exact model of a 2-D Gaussian mixture
    // [region oracle_bound]
    const GaussianMixture data = GaussianMixture::isotropic({0.5, 0.5}, {{-0.6, 0.2}, {0.5, -0.3}}, {0.15, 0.25});
    const Schedule sched = Schedule::linear(args.quick ? 100 : 1000);
    const EpsModel eps_star = data.as_model(sched);  // the optimal ε_θ of E27
    Generator gen(9);
    const Tensor x0 = data.sample(args.quick ? 64 : 512, &gen);
    const Bound bound = variational_bound(sched, eps_star, x0, &gen,
                                          {.sigma = Sigma::Large, .decoder = Decoder::Gaussian});
    const double nll = -data.log_q(x0, 1.0).mean().item();  // the true -log p(x_0)
    // [endregion]
    const Tensor mean_terms = bound.terms.mean({0});
    const double l0 = mean_terms.at({0}), lt = bound.prior.mean().item();
    const double middle = bound.total.mean().item() - l0 - lt;
    std::string bt = "| term | nats per sample | bits per dimension (E21) |\n|---|---|---|\n";
    auto row = [&](const std::string& name, double nats) {
      bt += fmt::format("| {} | {:.4f} | {:.4f} |\n", name, nats, bits_per_dim(nats, 2));
    };
    row("L_T (prior, E22)", lt);
    row("Σ L_{t-1}, t = 2..T (E17)", middle);
    row("L_0 (decoder)", l0);
    row("L_VLB = total (E15)", bound.total.mean().item());
    row("true −log p(x_0) of the mixture", nll);
    bt += fmt::format("\nT = {}, {} samples; the bound exceeds the true negative log-likelihood by {:.4f} nats "
                      "(E14: it can only be above it).\n", sched.T, x0.size(0), bound.total.mean().item() - nll);
    fmt::print("{}", bt);
    args.write("ch09-bound.md", bt);
    data::Series terms{.name = "L_{t-1} averaged over samples"};
    for (std::int64_t t = 2; t <= sched.T; ++t) terms.x.push_back(t), terms.y.push_back(mean_terms.at({t - 1}));
    data::save_line_plot(args.file("ch09-terms.png"), {terms},
                         {.title = "the terms of the bound (exact model)", .xlabel = "t", .ylabel = "nats", .log_y = true});
    KILN_CHECK(all_passed, "a check of this chapter failed");
  });
}
