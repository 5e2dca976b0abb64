// Chapter 11: sampling. Trains the small "mlp-2d" model on the two-moons point set (a
// few seconds), then samples it with DDPM (E24, all 1000 steps) and with DDIM (E25-E26)
// at 1 to 100 steps -- the step-count study, scored by the Fréchet distance (E34) to
// fresh data. Last, interpolation between two noise images (E32), spherical against
// linear, sampled with the exact model of a mixture of "shapes" images.
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
    manual_seed(20);
    auto model = make_model("mlp-2d");
    const Schedule s = Schedule::linear(1000);
    const Tensor data = data::make_points(data::PointSet::Moons, 8192, 1);
    optim::Adam opt(model->parameters(), 2e-3);
    nn::EMA ema(*model, 0.995, true);
    Generator gen(21);
    const EpsModel eps_model = [&](const Tensor& x, const Tensor& t) { return model->forward(x, t); };
    const std::int64_t steps = args.quick ? 20 : 4000;
    for (std::int64_t step = 0; step < steps; ++step) {
      const Tensor idx = Tensor::randint(0, data.size(0), {256}, {.dtype = kInt64}, &gen);
      opt.zero_grad();
      training_loss(s, eps_model, data.index_select(0, idx), &gen).loss.backward();
      opt.step();
      ema.update(*model);
    }
    nn::EMA::Applied use(ema, *model);

    const std::int64_t n = args.quick ? 256 : 2000;
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

    // The step-count study: the same x_T through DDIM with S steps.
    panels.clear();
    std::string table = "| sampler | steps | Fréchet distance to data (E34) |\n|---|---|---|\n";
    table += fmt::format("| DDPM | 1000 | {:.4f} |\n", frechet_distance(ddpm, reference));
    data::Series fd{.name = "DDIM, eta = 0"};
    for (std::int64_t S : {1, 2, 5, 10, 20, 50, 100}) {
      // [region steps_study]
      const Tensor x0 = sample_strided(s, space_timesteps(1000, fmt::format("ddim{}", S)), eps_model, x_T).x;
      // [endregion]
      const double d = frechet_distance(x0, reference);
      table += fmt::format("| DDIM | {} | {:.4f} |\n", S, d);
      fd.x.push_back(double(S)), fd.y.push_back(d);
      if (S != 100) panel(fmt::format("DDIM, {} step{}", S, S > 1 ? "s" : ""), x0);
    }
    fmt::print("{}", table);
    args.write("ch11-steps.md", table);
    save_panels(args.file("ch11-steps.png"), panels, 3);
    data::save_line_plot(args.file("ch11-steps-fd.png"), {fd},
                         {.title = "steps study: Frechet distance to the data", .xlabel = "DDIM steps",
                          .ylabel = "FD", .log_y = true});

    // Interpolation (E32) with the exact ε* of a mixture of 8 shapes images.
    const data::Dataset shapes = data::make_shapes(8, 3, 16);
    const Tensor means = (shapes.images * 2.0 - 1.0).reshape({8, -1}).to(kFloat64);
    std::vector<std::vector<double>> mu;
    for (std::int64_t k = 0; k < 8; ++k) {
      const Tensor row = means.narrow(0, k, 1);
      mu.push_back(row.reshape({-1}).to_vector<double>());
    }
    const GaussianMixture images(std::vector<double>(8, 1.0 / 8), mu, std::vector<std::vector<double>>(8, std::vector<double>(768, 0.05)));
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
    data::save_grid(args.file("ch11-interpolation.png"), (rows.reshape({2 * k, 3, 16, 16}).clamp(-1, 1) + 1.0) / 2.0, k);
  });
}
