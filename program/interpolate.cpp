// kiln interpolate: the Keras chapter's last experiment. Two noise images a and b, the
// path x_T(s) = a sin(sπ/2) + b cos(sπ/2) between them (E32: the variance stays 1, Note
// [Why spherical, not linear] in diffusion/interpolation.h), and the image the
// deterministic DDIM (η = 0) makes from each point: one row per pair, from b to a.
//
//   kiln interpolate runs/shapes --pairs 4 --frames 8
#include <cstdio>

#include "diffusion/interpolation.h"
#include "program/commands.h"
#include "program/common.h"
#include "tensor/error.h"

namespace kiln::program {
namespace {

struct InterpolateArgs {
  std::string checkpoint;
  SamplerSpec spec;
  std::int64_t pairs = 4;
  std::int64_t frames = 8;
  std::uint64_t seed = 0;
  std::string out;
  std::string device = "cpu";
};

void run_interpolate(const InterpolateArgs& a) {
  const Run run = load_run(a.checkpoint, parse_device(a.device));
  if (!is_image_run(run))
    fail("interpolate: model '{}' makes 2-D points; E32's interpolation is for images, whose noise "
         "has so many dimensions that two draws are almost orthogonal (with D = 2 they are not)",
         run.config.model);
  KILN_CHECK(a.pairs >= 1 && a.frames >= 2,
             "interpolate: needs --pairs >= 1 and --frames >= 2, got {} and {}", a.pairs, a.frames);
  Generator gen(a.seed);
  const Tensor ends = initial_noise(run, 2 * a.pairs, gen);  // a_p = ends[2p], b_p = ends[2p + 1]
  std::vector<Tensor> rows;
  for (std::int64_t p = 0; p < a.pairs; ++p)  // E32: [frames, C, H, W] from b_p to a_p
    rows.push_back(diffusion::slerp_row(ends.select(0, 2 * p), ends.select(0, 2 * p + 1), a.frames));
  const Tensor x = run_sampler(run, a.spec, cat(rows, 0), &gen).x;
  const fs::path out = a.out.empty() ? run.dir / "interpolation.png" : fs::path(a.out);
  if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
  std::vector<std::string> labels;
  for (std::int64_t p = 0; p < a.pairs; ++p) labels.push_back(fmt::format("pair {}", p + 1));
  std::vector<std::string> columns;
  for (std::int64_t j = 0; j < a.frames; ++j)
    columns.push_back(fmt::format("s={:.2f}", static_cast<double>(j) / static_cast<double>(a.frames - 1)));
  write_labelled_rows(out, to_data_space(run, x), a.frames, labels, columns);
  std::printf("wrote %s: %lld pairs x %lld frames, slerp of the noise (E32), %s\n",
              out.string().c_str(), static_cast<long long>(a.pairs), static_cast<long long>(a.frames),
              describe(a.spec, run).c_str());
}

}  // namespace

void add_interpolate_command(CLI::App& app) {
  auto a = std::make_shared<InterpolateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "interpolate",
      "Spherical interpolation between two noises (E32), each point sampled with the "
      "deterministic DDIM: one row per pair, written as a PNG (image models only).");
  add_checkpoint_option(cmd, a->checkpoint);
  add_sampler_options(cmd, a->spec);
  cmd->add_option("--pairs", a->pairs, "Pairs of noises: rows of the image")->capture_default_str();
  cmd->add_option("--frames", a->frames, "Points on each path, ends included: columns")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the noises")->capture_default_str();
  cmd->add_option("--out", a->out, "The PNG to write (default: interpolation.png in the run folder)");
  add_device_option(cmd, a->device);
  cmd->callback([a] { run_interpolate(*a); });
}

}  // namespace kiln::program
