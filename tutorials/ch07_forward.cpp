// Chapter 7: the forward process (E1-E8). Plots the three schedules' signal ᾱ and their
// SNR, noises one image of the built-in "shapes" set along t, and measures E7 against
// E4 iterated t times by Monte Carlo -- and the seed document's √(1-ᾱ_t) variance
// against both.
#include <cmath>

#include "diffusion/forward.h"
#include "diffusion/schedule.h"
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using namespace kiln::diffusion;

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 7: the forward process");
  return tutorial::run([&] {
    const std::int64_t T = 1000;
    // [region schedules]
    const Schedule linear = Schedule::linear(T);   // E1 + E2
    const Schedule cosine = Schedule::cosine(T);   // E3
    std::vector<double> offset(T + 1);              // E3b at τ = t/T: ᾱ = signal²
    for (std::int64_t t = 0; t <= T; ++t) offset[t] = std::pow(offset_cosine_rates(double(t) / T).first, 2);
    // [endregion]
    data::Series sl{.name = "linear (E1)"}, sc{.name = "cosine (E3)"}, so{.name = "offset cosine (E3b)"};
    data::Series nl{.name = "linear"}, nc{.name = "cosine"};
    const std::vector<double> snr_l = snr(linear), snr_c = snr(cosine);
    for (std::int64_t t = 0; t <= T; t += 5) {
      sl.x.push_back(t), sl.y.push_back(linear.alpha_bar[t]);
      sc.x.push_back(t), sc.y.push_back(cosine.alpha_bar[t]);
      so.x.push_back(t), so.y.push_back(offset[t]);
      if (t > 0) {
        nl.x.push_back(t), nl.y.push_back(snr_l[t]);
        nc.x.push_back(t), nc.y.push_back(snr_c[t]);
      }
    }
    data::save_line_plot(args.file("ch07-schedules.png"), {sl, sc, so},
                         {.title = "signal variance alpha_bar_t", .xlabel = "t", .ylabel = "alpha_bar"});
    data::save_line_plot(args.file("ch07-snr.png"), {nl, nc},
                         {.title = "SNR_t = alpha_bar / (1 - alpha_bar) (E8)", .xlabel = "t", .ylabel = "SNR", .log_y = true});

    // A noising strip: one image at t = 0, 50, 100, ..., under the linear and cosine schedules.
    const data::Dataset shapes = data::make_shapes(1, 7, 32);
    const Tensor x0 = shapes.images * 2.0 - 1.0;  // E31: [0, 1] -> [-1, 1]
    Generator gen(7);
    const Tensor eps = Tensor::randn(x0.shape(), {}, &gen);
    const std::vector<std::int64_t> ts = {0, 50, 100, 200, 300, 400, 600, 800, 1000};
    std::vector<Tensor> strip;
    for (const Schedule* s : {&linear, &cosine}) {
      for (std::int64_t t : ts) {
        const Tensor tt = Tensor::full({1}, double(t), {.dtype = kInt64});
        strip.push_back(t == 0 ? x0 : q_sample(*s, x0, tt, eps));  // E7
      }
    }
    data::save_grid(args.file("ch07-noising.png"),
                    interpolate((cat(strip, 0) + 1.0) / 2.0, 3.0, InterpolateMode::Nearest), std::int64_t(ts.size()));

    // E7 against E4 iterated: n one-dimensional chains started at x_0 = 0.5.
    const std::int64_t n = args.quick ? 20000 : 50000;
    std::string table = "| t | mean of E4 iterated | E7 mean √ᾱ_t x_0 | variance of E4 iterated | E7 variance 1-ᾱ_t | seed's √(1-ᾱ_t) |\n|---|---|---|---|---|---|\n";
    Tensor x = Tensor::full({n, 1}, 0.5, {.dtype = kFloat64});
    std::int64_t done = 0;
    for (std::int64_t t : {10, 100, 500, 1000}) {
      for (; done < t; ++done) {
        const Tensor step = Tensor::full({n}, double(done + 1), {.dtype = kInt64});
        x = q_step(linear, x, step, Tensor::randn({n, 1}, {.dtype = kFloat64}, &gen));  // E4
      }
      const double mean = x.mean().item(), var = (x - mean).square().mean().item();
      table += fmt::format("| {} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.4f} |\n", t, mean,
                           std::sqrt(linear.alpha_bar[t]) * 0.5, var, linear.one_minus_alpha_bar[t],
                           std::sqrt(linear.one_minus_alpha_bar[t]));
    }
    table += fmt::format("\n{} chains; Monte-Carlo standard error of a variance near 1: about {:.4f}.\n", n,
                         std::sqrt(2.0 / double(n)));
    fmt::print("{}", table);
    args.write("ch07-forward.md", table);
  });
}
