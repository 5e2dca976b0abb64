// kiln sample: samples from a checkpoint's EMA weights (E30) with DDPM (E24, σ² = β or β̃)
// or DDIM (E25, η, a number of steps: E26/E38), written as a PNG grid (2-D data: a scatter
// plot over the data). Optionally:
//   --trajectory     the denoising path x_T ... x_0 of a few samples, with the model's
//                    prediction x̂_0 (E10) under each x_t
//   --steps-study    one noise seed sampled with each of several step counts
//
//   kiln sample runs/shapes --sampler ddim --steps 50 --trajectory
//   kiln sample runs/shapes --steps-study 1,2,5,10,20,50,100
#include <cstdio>
#include <sstream>

#include "program/commands.h"
#include "program/common.h"
#include "tensor/error.h"

namespace kiln::program {
namespace {

struct SampleArgs {
  std::string checkpoint;
  SamplerSpec spec;
  std::int64_t n = 0;  // 0: 64 images or 2000 points
  std::int64_t nrow = 8;
  std::uint64_t seed = 0;
  std::string out;
  bool raw_weights = false;
  bool trajectory = false;
  std::int64_t trajectory_samples = 4;
  std::vector<std::int64_t> steps_study;
  std::int64_t study_samples = 8;
  std::string device = "cpu";
};

std::string time_label(const Run& run, double time) {
  return continuous_time(run.config) ? fmt::format("tau={:.2f}", time)
                                     : fmt::format("t={}", static_cast<long long>(time));
}

// x_T ... x_0 of a few samples, each with the prediction x̂_0 (E10) the model made there.
fs::path write_trajectory(const Run& run, const SampleArgs& a, const fs::path& dir) {
  const fs::path path = dir / "trajectory.png";
  Generator gen(a.seed);
  if (!is_image_run(run)) {  // the whole cloud of points at each moment
    const std::int64_t n = a.n > 0 ? a.n : 2000;
    const auto r = run_sampler(run, a.spec, initial_noise(run, n, gen), &gen, n, 5);
    std::vector<std::pair<std::string, Tensor>> panels;
    for (size_t k = 0; k < r.path.size(); ++k)
      panels.emplace_back(time_label(run, r.path_time[k]), to_data_space(run, r.path[k]));
    write_scatter_strip(path, run, panels);
    return path;
  }
  const std::int64_t n = a.trajectory_samples;
  const auto r = run_sampler(run, a.spec, initial_noise(run, n, gen), &gen, n, 10);
  const auto moments = static_cast<std::int64_t>(r.path.size());
  std::vector<Tensor> rows;
  std::vector<std::string> labels, columns;
  for (size_t k = 0; k < r.path.size(); ++k) columns.push_back(time_label(run, r.path_time[k]));
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<Tensor> xt, x0;
    for (std::int64_t k = 0; k < moments; ++k) {
      xt.push_back(r.path[static_cast<size_t>(k)].narrow(0, i, 1));
      x0.push_back(r.path_x0[static_cast<size_t>(k)].narrow(0, i, 1));
    }
    rows.push_back(to_data_space(run, cat(xt, 0)));
    rows.push_back(to_data_space(run, cat(x0, 0)));
    labels.push_back(fmt::format("#{} x_t", i + 1));
    labels.push_back(fmt::format("#{} pred x0", i + 1));
  }
  write_labelled_rows(path, cat(rows, 0), moments, labels, columns);
  return path;
}

// The same noise sampled with each step count: one row (or one scatter plot) per count.
fs::path write_steps_study(const Run& run, const SampleArgs& a, const fs::path& dir) {
  const fs::path path = dir / "steps_study.png";
  std::vector<Tensor> rows;
  std::vector<std::string> labels;
  std::vector<std::pair<std::string, Tensor>> panels;
  for (const std::int64_t steps : a.steps_study) {
    KILN_CHECK(steps >= 1, "--steps-study: step counts must be >= 1, got {}", steps);
    SamplerSpec spec = a.spec;
    spec.steps = steps;
    Generator gen(a.seed);  // the same x_T (and, for DDPM, the same z draws) in every row
    const std::int64_t n = is_image_run(run) ? a.study_samples : (a.n > 0 ? a.n : 2000);
    const Tensor x = to_data_space(run, run_sampler(run, spec, initial_noise(run, n, gen), &gen).x);
    const std::string label = fmt::format("{} step{}", steps, steps == 1 ? "" : "s");
    rows.push_back(x);
    labels.push_back(label);
    panels.emplace_back(label, x);
  }
  if (is_image_run(run))
    write_labelled_rows(path, cat(rows, 0), a.study_samples, labels);
  else
    write_scatter_strip(path, run, panels);
  return path;
}

void run_sample(const SampleArgs& a) {
  const Run run = load_run(a.checkpoint, parse_device(a.device), !a.raw_weights);
  const fs::path out = a.out.empty() ? run.dir / "samples.png" : fs::path(a.out);
  const fs::path dir = out.parent_path().empty() ? fs::path(".") : out.parent_path();
  fs::create_directories(dir);
  const std::string weights = a.raw_weights ? "training weights" : "EMA weights";
  const std::int64_t n = a.n > 0 ? a.n : (is_image_run(run) ? 64 : 2000);

  Generator gen(a.seed);
  const Tensor x = run_sampler(run, a.spec, initial_noise(run, n, gen), &gen).x;
  const std::string what = fmt::format("{} samples of {} at step {} ({}), {}", n, run.config.model,
                                       run.step, weights, describe(a.spec, run));
  write_samples(out, run, to_data_space(run, x), a.nrow, plot_title(a.spec, run));
  std::printf("wrote %s: %s\n", out.string().c_str(), what.c_str());
  if (a.trajectory)
    std::printf("wrote %s: the denoising path x_T ... x_0 (and the predicted x0 under each x_t)\n",
                write_trajectory(run, a, dir).string().c_str());
  if (!a.steps_study.empty())
    std::printf("wrote %s: one noise seed sampled with each step count\n",
                write_steps_study(run, a, dir).string().c_str());
}

}  // namespace

void add_sample_command(CLI::App& app) {
  auto a = std::make_shared<SampleArgs>();
  CLI::App* cmd = app.add_subcommand(
      "sample",
      "Draw samples from a checkpoint's EMA weights (E30) with DDPM (E24) or DDIM (E25, E26) and "
      "write them as a PNG grid (2-D data: a scatter plot over the data), optionally with the "
      "denoising trajectory and a study of the number of steps.");
  add_checkpoint_option(cmd, a->checkpoint);
  add_sampler_options(cmd, a->spec);
  cmd->add_option("-n,--num", a->n, "Number of samples (default: 64 images, 2000 points)");
  cmd->add_option("--nrow", a->nrow, "Images per row of the grid")->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the noise x_T (and DDPM's z)")->capture_default_str();
  cmd->add_option("--out", a->out,
                  "The PNG to write (default: samples.png in the run folder); trajectory.png "
                  "and steps_study.png go beside it");
  cmd->add_flag("--no-ema", a->raw_weights, "Sample with the training weights instead of the EMA");
  cmd->add_flag("--trajectory", a->trajectory,
                "Also write trajectory.png: x_T ... x_0 of a few samples, with the predicted x0 "
                "(E10) under each x_t");
  cmd->add_option("--trajectory-samples", a->trajectory_samples, "Samples in the trajectory")
      ->capture_default_str();
  cmd->add_option("--steps-study", a->steps_study,
                  "Also write steps_study.png: one noise seed sampled with each of these step "
                  "counts, e.g. 1,2,5,10,20,50,100")
      ->delimiter(',');
  cmd->add_option("--study-samples", a->study_samples, "Images per row of the steps study")
      ->capture_default_str();
  add_device_option(cmd, a->device);
  cmd->callback([a] { run_sample(*a); });
}

}  // namespace kiln::program
