// Chapter 11: sampling. Trains the small "mlp-2d" model on the two-moons point set (a
// few seconds), then samples it with DDPM (E24, all 1000 steps) and with DDIM (E25-E26)
// at 1 to 100 steps -- the step-count study, scored by the Fréchet distance (E34) to
// fresh data. Last, interpolation between two noise images (E32), spherical against
// linear, sampled with the exact model of a mixture of "shapes" images.
#include <omp.h>

#include <cmath>

#include "diffusion/interpolation.h"
#include "diffusion/loss.h"
#include "diffusion/metrics.h"
#include "diffusion/models.h"
#include "diffusion/oracle.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using namespace kiln::diffusion;

// Several canvases side by side in one PNG.
void save_panels(const std::filesystem::path& path, const std::vector<data::Canvas>& panels, std::int64_t per_row) {
  std::vector<Tensor> images;
  for (const auto& c : panels) images.push_back(c.to_tensor().unsqueeze(0));
  data::save_grid(path, cat(images, 0), per_row, 4, 1.0);
}

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 11: sampling");
  return tutorial::run([&] {
    // The 2-D model's tensors are tiny: waking threads for them costs more than it saves.
    omp_set_num_threads(1);
    manual_seed(20);
    auto model = make_model("mlp-2d");
    const Schedule s = Schedule::linear(1000);
    const Tensor data = data::make_points(data::PointSet::Moons, 8192, 1);
    optim::Adam opt(model->parameters(), 1e-3);
    nn::EMA ema(*model, 0.995, true);
    Generator gen(21);
    const EpsModel eps_model = [&](const Tensor& x, const Tensor& t) { return model->forward(x, t); };
    const std::int64_t steps = args.quick ? 20 : 6000;
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t step = 0; step < steps; ++step) {
      const Tensor idx = Tensor::randint(0, data.size(0), {256}, {.dtype = kInt64}, &gen);
      opt.zero_grad();
      training_loss(s, eps_model, data.index_select(0, idx), &gen).loss.backward();
      opt.step();
      ema.update(*model);
    }
    fmt::print("trained mlp-2d for {} steps in {:.1f} s\n", steps, tutorial::seconds_since(start));
    nn::EMA::Applied use(ema, *model);

    const std::int64_t n = args.quick ? 256 : 1000;
    const Tensor reference = data::make_points(data::PointSet::Moons, n, 99);
    const Tensor x_T = Tensor::randn({n, 2}, {}, &gen);
    std::vector<data::Canvas> panels;
    auto panel = [&](const std::string& title, const Tensor& pts) {
      panels.push_back(data::scatter_plot({{.name = "", .points = pts}},
                                          {.title = title, .width = 300, .height = 300, .point_radius = 1.2}));
    };
    panel("data", reference);
    // [region ddpm_vs_ddim]
    const Tensor ddpm = sample_ddpm(s, eps_model, x_T, {.gen = &gen}).x;                   // E24, T steps
    const Tensor ddim50 = sample_ddim(respace(s, space_timesteps(1000, "ddim50")), eps_model, x_T).x;  // E25
    // [endregion]
    panel("DDPM, 1000 steps", ddpm);
    panel("DDIM (eta 0), 50 steps", ddim50);
    save_panels(args.file("ch11-ddpm-ddim.png"), panels, 3);
    fmt::print("sampled DDPM and DDIM ({:.1f} s)\n", tutorial::seconds_since(start));

    // The step-count study: the same x_T through DDIM with S steps, for the trained
    // model (two moons) and for the exact ε* of the eight-Gaussian mixture (E27), which
    // shows the sampler's own error with no network in the way.
    std::vector<std::vector<double>> centres;
    for (int k = 0; k < 8; ++k)
      centres.push_back({0.8 * std::cos(2 * M_PI * k / 8), 0.8 * std::sin(2 * M_PI * k / 8)});
    const GaussianMixture g8 = GaussianMixture::isotropic(std::vector<double>(8, 0.125), centres, std::vector<double>(8, 0.08));
    const EpsModel exact = g8.as_model(s);
    const Tensor g8_reference = g8.sample(n, &gen).to(kFloat32);
    panels.clear();
    std::string table = "| sampler | steps | FD, trained mlp-2d (two moons) | FD, exact ε* (eight Gaussians) |\n|---|---|---|---|\n";
    table += fmt::format("| DDPM | 1000 | {:.4f} | {:.4f} |\n", frechet_distance(ddpm, reference),
                         frechet_distance(sample_ddpm(s, exact, x_T, {.gen = &gen}).x, g8_reference));
    data::Series fd{.name = "trained mlp-2d, two moons"}, fd_exact{.name = "exact eps*, eight Gaussians"};
    for (std::int64_t S : {1, 2, 5, 10, 20, 50, 100}) {
      // [region steps_study]
      const std::vector<std::int64_t> kept = space_timesteps(1000, fmt::format("ddim{}", S));
      const Tensor x0 = sample_strided(s, kept, eps_model, x_T).x;  // E26
      const Tensor x0_exact = sample_strided(s, kept, exact, x_T).x;
      // [endregion]
      const double d = frechet_distance(x0, reference), d_exact = frechet_distance(x0_exact, g8_reference);
      table += fmt::format("| DDIM | {} | {:.4f} | {:.4f} |\n", S, d, d_exact);
      fd.x.push_back(double(S)), fd.y.push_back(d);
      fd_exact.x.push_back(double(S)), fd_exact.y.push_back(d_exact);
      if (S != 100) panel(fmt::format("DDIM, {} step{}", S, S > 1 ? "s" : ""), x0_exact);
    }
    fmt::print("{}", table);
    args.write("ch11-steps.md", table);
    save_panels(args.file("ch11-steps.png"), panels, 3);
    data::save_line_plot(args.file("ch11-steps-fd.png"), {fd, fd_exact},
                         {.title = "steps study: Frechet distance to the data", .xlabel = "DDIM steps",
                          .ylabel = "FD", .log_y = true});

    fmt::print("steps study done ({:.1f} s)\n", tutorial::seconds_since(start));
    // Interpolation (E32) with the exact ε* of a mixture of 8 shapes images.
    const data::Dataset shapes = data::make_shapes(8, 3, 16);
    const Tensor means = (shapes.images * 2.0 - 1.0).reshape({8, -1}).to(kFloat64);
    std::vector<std::vector<double>> mu;
    for (std::int64_t k = 0; k < 8; ++k) {
      const Tensor row = means.narrow(0, k, 1);
      mu.push_back(row.reshape({-1}).to_vector<double>());
    }
    const GaussianMixture images(std::vector<double>(8, 1.0 / 8), mu, std::vector<std::vector<double>>(8, std::vector<double>(768, 0.01)));
    const Schedule fine = respace(s, space_timesteps(1000, "ddim50"));
    Generator noise_gen(5);
    const Tensor a = Tensor::randn({768}, {.dtype = kFloat64}, &noise_gen), b = Tensor::randn({768}, {.dtype = kFloat64}, &noise_gen);
    const std::int64_t k = 9;
    // [region interpolation]
    const Tensor spherical = slerp_row(a, b, k);  // E32: a sin(sπ/2) + b cos(sπ/2), variance 1
    // [endregion]
    const Tensor sv = Tensor::linspace(0, 1, k, {.dtype = kFloat64}).reshape({k, 1});
    const Tensor linear = sv * a.unsqueeze(0) + (1.0 - sv) * b.unsqueeze(0);  // variance (1-s)² + s²
    const EpsModel oracle = images.as_model(s);
    const Tensor rows = cat({sample_ddim(fine, oracle, spherical).x, sample_ddim(fine, oracle, linear).x}, 0);
    const Tensor big = interpolate(rows.reshape({2 * k, 3, 16, 16}).to(kFloat32), 4.0, InterpolateMode::Nearest);
    data::save_grid(args.file("ch11-interpolation.png"), (big.clamp(-1, 1) + 1.0) / 2.0, k);
  });
}
