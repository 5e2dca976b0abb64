#pragma once
// What the subcommands share: the --device option, a run loaded back from its checkpoint,
// the sampler options and the sampling itself, turning samples back into images or
// points (E31's inverse), writing them as PNG, and a progress line.
//
// A run folder (written by `kiln train`):
//   config.json               the resolved RunConfig (program/config.h)
//   checkpoint.safetensors    model, EMA, optimizer, step, RNG (nn/checkpoint.h), with the
//                             config, the data loader's position and E31's fitted
//                             statistics in its metadata: the checkpoint alone is enough
//                             to sample, evaluate or resume
//   metrics.jsonl             one JSON object per log line: step, loss, lr, ...
//   loss.png                  the loss curve
//   previews/step_NNNNNN.png  sample grids during training
// and, from the other subcommands, samples.png, trajectory.png, steps_study.png,
// interpolation.png, eval.json.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops/index.h"  // cat, stack, index_select
#include "diffusion/sampler.h"
#include "program/config.h"
#include "tensor/device.h"

namespace kiln::program {

namespace fs = std::filesystem;

// ---- --device ------------------------------------------------------------------------------
// "cpu", "cuda" or "cuda:N". Asking for CUDA where there is none is an error that says why
// (built without CUDA, or no usable GPU/driver) rather than a crash later.
Device parse_device(const std::string& name);
void add_device_option(CLI::App* cmd, std::string& device);
// The checkpoint argument of sample, interpolate and eval: positional, or --checkpoint.
void add_checkpoint_option(CLI::App* cmd, std::string& checkpoint);

// ---- checkpoint metadata written by kiln train ----------------------------------------------
inline constexpr const char* kMetaConfig = "run.config";             // to_json(RunConfig)
inline constexpr const char* kMetaLoaderEpoch = "run.loader_epoch";  // data::LoaderState
inline constexpr const char* kMetaLoaderPosition = "run.loader_position";
inline constexpr const char* kMetaChannelMean = "run.channel_mean";  // E31 per channel (JSON)
inline constexpr const char* kMetaChannelStd = "run.channel_std";
inline constexpr const char* kCheckpointName = "checkpoint.safetensors";

// A checkpoint given as a file, or as a run folder holding checkpoint.safetensors.
fs::path checkpoint_path(const std::string& given);

// The config a checkpoint of kiln train was trained with (its metadata).
RunConfig read_run_config(const fs::path& checkpoint);

// ---- a run: a model with its config, ready to sample ----------------------------------------
struct Run {
  RunConfig config;
  fs::path dir;  // the run folder (the checkpoint's folder)
  std::int64_t step = 0;
  std::shared_ptr<diffusion::DiffusionModel> model;  // in eval mode, on `device`
  diffusion::Schedule schedule;                       // build_schedule(config)
  Device device = Device::cpu();
  std::vector<double> channel_mean, channel_std;      // E31 "channel" statistics
};
// Builds the model of the checkpoint's config and loads its EMA weights (E30; the raw
// training weights with use_ema = false). Errors name the file: missing, truncated, not
// written by kiln train, or not matching its own config.
Run load_run(const std::string& checkpoint, Device device, bool use_ema = true);

// ---- sampling -------------------------------------------------------------------------------
struct SamplerSpec {
  std::string method = "ddim";  // ddpm (E24) | ddim (E25, E26)
  std::string sigma = "large";  // DDPM's σ_t²: large = β_t, small = β̃_t (E13)
  double eta = 0;               // DDIM's η (E25)
  std::int64_t steps = 50;      // number of steps (respaced, E38; DDPM: T by default)
};
// --sampler, --sigma, --eta, --steps (steps_default: the value shown in --help).
void add_sampler_options(CLI::App* cmd, SamplerSpec& spec);
// A one-line description: "DDIM (E25), 50 steps, eta 0".
std::string describe(const SamplerSpec& spec, const Run& run);
// A title short enough for a plot: "step 8000, DDPM 1000 steps".
std::string plot_title(const SamplerSpec& spec, const Run& run);

// Samples from x_T [n, ...] (on the run's device) with the run's model. x̂_0 is clipped to
// [-1, 1] for images normalised to [-1, 1] (Note [Clipping x̂_0] in diffusion/sampler.h).
// trajectory > 0 keeps the path of that many samples at about `moments` moments.
diffusion::SampleResult run_sampler(const Run& run, const SamplerSpec& spec, const Tensor& x_T,
                                    Generator* gen, std::int64_t trajectory = 0,
                                    std::int64_t moments = 10);
// n draws of x_T ~ N(0, I) of the model's sample shape from `gen`, on the run's device.
Tensor initial_noise(const Run& run, std::int64_t n, Generator& gen);
// Back to data space (E31's inverse): images in [0, 1] (clipped), points unchanged; on the CPU.
Tensor to_data_space(const Run& run, const Tensor& x);

// ---- writing ----------------------------------------------------------------------------------
bool is_image_run(const Run& run);
// Samples in data space as a PNG: images as a grid of `nrow` per row; points as a scatter
// plot over a sample of the data (grey).
void write_samples(const fs::path& path, const Run& run, const Tensor& samples,
                   std::int64_t nrow, const std::string& title);
// Rows of images [rows·cols, C, H, W] in [0, 1] with a text label left of each row (and
// above each column when col_labels is given). Small images are enlarged (nearest).
void write_labelled_rows(const fs::path& path, const Tensor& images, std::int64_t cols,
                         const std::vector<std::string>& labels,
                         const std::vector<std::string>& col_labels = {});
// Scatter plots side by side, one per (title, points [N, 2]), over the data in grey.
void write_scatter_strip(const fs::path& path, const Run& run,
                         const std::vector<std::pair<std::string, Tensor>>& panels);

// ---- a progress line ---------------------------------------------------------------------
// On a terminal, one line redrawn in place (to stderr); otherwise nothing until finish(),
// so logs and tests stay clean.
class Progress {
 public:
  Progress(std::string label, std::int64_t total, std::int64_t start = 0);
  // `done` of `total`; `extra` is appended (e.g. "loss 0.043").
  void update(std::int64_t done, const std::string& extra = "");
  void finish();
  double rate() const;  // items per second since the start
  static std::string duration(double seconds);  // "4m05s"

 private:
  std::string label_;
  std::int64_t total_, start_;
  std::chrono::steady_clock::time_point t0_, last_draw_;
  bool tty_, drawn_ = false;
  std::int64_t done_ = 0;
};

// Writes `text` to `path` atomically (data/image.h's write_file_atomic).
void write_text(const fs::path& path, const std::string& text);

}  // namespace kiln::program
