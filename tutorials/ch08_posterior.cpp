// Chapter 8: the posterior and the reverse process (E9-E13, E27). Plots the two
// candidate reverse variances of E13 (β_t and β̃_t of E9) and E9's two mean
// coefficients, then runs the checks of this chapter: V3 (E9 against Bayes' rule on a
// grid), V4 (E7 substituted into E9 gives E11), V15 (the conversions of E10-E12, E37).
#include "diffusion/checks.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using namespace kiln::diffusion;

std::string check_rows(const std::vector<CheckResult>& results) {
  std::string table = "| check | what | measured error | tolerance | result |\n|---|---|---|---|---|\n";
  for (const CheckResult& r : results) {
    table += fmt::format("| {} | {} | {:.3g} | {:.3g} | {} |\n", r.id, r.what, r.error, r.tolerance,
                         r.passed ? "pass" : "**FAIL**");
    fmt::print("{:<4} {:<60} error {:.3g} (tolerance {:.3g}) {}\n", r.id, r.what, r.error, r.tolerance,
               r.passed ? "pass" : "FAIL");
  }
  return table;
}

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 8: the posterior and the reverse process");
  return tutorial::run([&] {
    const Schedule s = Schedule::linear();
    // [region posterior_tables]
    const std::vector<double> beta_tilde = posterior_variance(s);  // E9
    const std::vector<double> c0 = posterior_mean_coef_x0(s), ct = posterior_mean_coef_xt(s);
    // [endregion]
    data::Series b{.name = "beta_t (E13 large)"}, bt{.name = "beta~_t (E9, E13 small)"};
    data::Series k0{.name = "coefficient of x_0"}, kt{.name = "coefficient of x_t"};
    for (std::int64_t t = 2; t <= s.T; t += 2) {
      b.x.push_back(t), b.y.push_back(s.beta[t]);
      bt.x.push_back(t), bt.y.push_back(beta_tilde[t]);
      k0.x.push_back(t), k0.y.push_back(c0[t]);
      kt.x.push_back(t), kt.y.push_back(ct[t]);
    }
    data::save_line_plot(args.file("ch08-variances.png"), {b, bt},
                         {.title = "the two reverse variances", .xlabel = "t", .ylabel = "variance", .log_y = true});
    data::save_line_plot(args.file("ch08-coefficients.png"), {k0, kt},
                         {.title = "E9: mean = c0 x_0 + ct x_t", .xlabel = "t", .ylabel = "coefficient", .log_y = true});
    std::vector<CheckResult> results;
    for (const Check& c : all_checks()) {
      if (c.id == "V3" || c.id == "V4" || c.id == "V15" || (!args.quick && c.id == "V10"))
        results.push_back(run_check(c));
    }
    args.write("ch08-checks.md", check_rows(results));
    for (const CheckResult& r : results) KILN_CHECK(r.passed, "{} failed: {}", r.id, r.detail);
  });
}
