// Chapter 10: the U-Net and training a DDPM. Builds the named U-Nets and counts their
// parameters (ddpm-cifar10 must have 35,746,307, as Ho et al.'s), then trains the small
// "ddpm-tiny" U-Net on 16x16 images of the built-in shapes set with Algorithm 1 (E23):
// L_simple (E19), Adam, gradient clipping, an EMA of the weights (E30). It writes the
// loss curve and a grid of samples drawn with the EMA weights (DDIM, 50 steps).
#include <memory>

#include "diffusion/loss.h"
#include "diffusion/models.h"
#include "diffusion/sampler.h"
#include "diffusion/schedule.h"
#include "kiln.h"
#include "tutorials/tutorial.h"

using namespace kiln;
using namespace kiln::diffusion;

int main(int argc, char** argv) {
  const auto args = tutorial::parse(argc, argv, "chapter 10: the U-Net and training a DDPM");
  return tutorial::run([&] {
    std::string table = "| model | parameters |\n|---|---|\n";
    for (const std::string name : {"mlp-2d", "ddpm-tiny", "ddpm-small", "ddpm-cifar10"}) {
      if (args.quick && name == "ddpm-cifar10") continue;
      std::int64_t count = 0;
      for (const Tensor& p : make_model(name)->parameters()) count += p.numel();
      table += fmt::format("| `{}` | {} |\n", name, count);
      fmt::print("{:<14} {} parameters\n", name, count);
    }
    args.write("ch10-models.md", table);

    manual_seed(10);
    auto model = make_model("ddpm-tiny");  // [B, 3, 16, 16]
    const data::Dataset shapes = data::make_shapes(args.quick ? 64 : 4096, 1, 16);
    data::DataLoader loader(shapes, {.batch_size = 16, .normalize = data::Normalize::SignedUnit, .seed = 1});
    const Schedule s = Schedule::linear(1000);
    optim::Adam opt(model->parameters(), 1e-3);
    nn::EMA ema(*model, 0.995, /*warmup=*/true);
    Generator gen(11);
    const EpsModel eps_model = [&](const Tensor& x, const Tensor& t) { return model->forward(x, t); };
    const std::int64_t steps = args.quick ? 3 : 1000;
    data::Series loss_curve{.name = "L_simple (mean of 25 steps)"};
    double running = 0;
    const auto start = std::chrono::steady_clock::now();
    for (std::int64_t step = 1; step <= steps; ++step) {
      // [region train_loop]
      const Tensor x0 = loader.next().images;                         // [B, 3, 16, 16] in [-1, 1]
      opt.zero_grad();
      const TrainingLoss L = training_loss(s, eps_model, x0, &gen);  // E23: t ~ U{1..T}, ε ~ N(0, I)
      L.loss.backward();                                              // ∇_θ ||ε - ε_θ(x_t, t)||²
      optim::clip_grad_norm_(model->parameters(), 1.0);
      opt.step();
      ema.update(*model);                                             // E30
      // [endregion]
      running += L.loss.item();
      if (step % 25 == 0 || step == steps) {
        loss_curve.x.push_back(step), loss_curve.y.push_back(running / (step % 25 == 0 ? 25 : step % 25));
        running = 0;
        if (step % 100 == 0) fmt::print("step {}: loss {:.4f} ({:.1f} s)\n", step, loss_curve.y.back(), tutorial::seconds_since(start));
      }
    }
    fmt::print("{} steps in {:.1f} s, last loss {:.4f}\n", steps, tutorial::seconds_since(start),
               loss_curve.y.back());
    data::save_line_plot(args.file("ch10-loss.png"), {loss_curve},
                         {.title = "training ddpm-tiny on shapes 16x16", .xlabel = "step", .ylabel = "L_simple"});
    nn::EMA::Applied use(ema, *model);
    const Tensor x_T = Tensor::randn({args.quick ? 4 : 32, 3, 16, 16}, {}, &gen);
    const Tensor samples = sample_ddim(respace(s, space_timesteps(1000, args.quick ? "ddim5" : "ddim50")),
                                       eps_model, x_T, {.clip_x0 = true}).x;
    // Shown 4x larger (nearest), so that 16x16 pixels are visible.
    auto big = [](const Tensor& x) { return interpolate(x, 4.0, InterpolateMode::Nearest); };
    data::save_grid(args.file("ch10-samples.png"), big((samples.clamp(-1, 1) + 1.0) / 2.0), 8);
    data::save_grid(args.file("ch10-data.png"), big(shapes.images.narrow(0, 0, 32)), 8);
  });
}
