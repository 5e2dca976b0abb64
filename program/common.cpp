#include "program/common.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "autograd/ops/index.h"
#include "data/image.h"
#include "data/plot.h"
#include "data/points.h"
#include "diffusion/normalize.h"
#include "nn/checkpoint.h"
#include "tensor/backend.h"
#include "tensor/error.h"

namespace kiln::program {

// ---- --device ------------------------------------------------------------------------------

Device parse_device(const std::string& name) {
  Device d;
  try {
    d = Device::parse(name);
  } catch (const Error&) {
    fail("--device: '{}' is not a device (use cpu, cuda or cuda:N)", name);
  }
  if (d.is_cuda()) {
    if (!cuda::built_with_cuda())
      fail("--device {}: this kiln was built without CUDA (configure with a CUDA toolkit and "
           "-DKILN_CUDA=ON), so only --device cpu is available",
           name);
    const int n = cuda::device_count();
    if (n == 0)
      fail("--device {}: kiln was built with CUDA, but no usable GPU or driver was found on this "
           "machine (`kiln info` lists the devices); use --device cpu",
           name);
    if (d.index >= n)
      fail("--device {}: this machine has {} CUDA device(s), cuda:0 to cuda:{}", name, n, n - 1);
  }
  return d;
}

void add_device_option(CLI::App* cmd, std::string& device) {
  cmd->add_option("--device", device,
                  "Where to compute: cpu, cuda or cuda:N (needs a CUDA build and a GPU; "
                  "`kiln info` lists the devices)")
      ->capture_default_str();
}

void add_checkpoint_option(CLI::App* cmd, std::string& checkpoint) {
  cmd->add_option("checkpoint,--checkpoint", checkpoint,
                  "A run folder of kiln train, or a checkpoint .safetensors file")
      ->required();
}

// ---- a run -----------------------------------------------------------------------------------

fs::path checkpoint_path(const std::string& given) {
  const fs::path p(given);
  if (fs::is_directory(p)) {
    const fs::path file = p / kCheckpointName;
    if (!fs::exists(file))
      fail("'{}' is a folder without {} (not a run folder of kiln train?)", given, kCheckpointName);
    return file;
  }
  if (!fs::exists(p)) fail("checkpoint '{}': no such file or folder", given);
  return p;
}

namespace {

std::vector<double> json_doubles(const std::map<std::string, std::string>& meta, const char* key,
                                 const fs::path& path) {
  auto it = meta.find(key);
  if (it == meta.end()) return {};
  try {
    return nlohmann::json::parse(it->second).get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    fail("{}: metadata '{}' is not a JSON list of numbers", path.string(), key);
  }
}

RunConfig config_of(const nn::SafetensorsFile& file, const fs::path& path) {
  auto it = file.metadata.find(kMetaConfig);
  if (it == file.metadata.end())
    fail("{}: not a checkpoint of kiln train (its metadata has no '{}')", path.string(), kMetaConfig);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the config in its metadata is not valid JSON: {}", path.string(), e.what());
  }
  return from_json(j, fmt::format("the config inside {}", path.string()));
}

}  // namespace

RunConfig read_run_config(const fs::path& checkpoint) {
  return config_of(nn::load_safetensors(checkpoint), checkpoint);
}

Run load_run(const std::string& given, Device device, bool use_ema) {
  Run run;
  const fs::path path = checkpoint_path(given);
  const nn::SafetensorsFile file = nn::load_safetensors(path);  // errors name the file
  run.config = config_of(file, path);
  run.dir = path.parent_path();
  run.device = device;
  run.model = build_model(run.config);
  nn::EMA ema(*run.model, run.config.ema_decay);
  run.step = nn::Checkpoint{.model = run.model.get(), .ema = &ema}.load(path).step;
  if (use_ema) ema.copy_to(*run.model);  // E30: sample with the averaged weights
  run.channel_mean = json_doubles(file.metadata, kMetaChannelMean, path);
  run.channel_std = json_doubles(file.metadata, kMetaChannelStd, path);
  if (run.config.normalize == "channel" && run.channel_mean.empty())
    fail("{}: the run normalises per channel (E31) but its metadata has no '{}'", path.string(),
         kMetaChannelMean);
  run.model->to(device);
  run.model->eval();
  run.schedule = build_schedule(run.config);
  return run;
}

// ---- sampling -------------------------------------------------------------------------------

void add_sampler_options(CLI::App* cmd, SamplerSpec& spec) {
  cmd->add_option("--sampler", spec.method,
                  "ddpm: ancestral sampling (E24; Ho et al.'s Algorithm 2); ddim: the DDIM step "
                  "(E25) over a strided subsequence of the timesteps (E26)")
      ->check(CLI::IsMember({"ddpm", "ddim"}))
      ->capture_default_str();
  cmd->add_option("--sigma", spec.sigma,
                  "DDPM's reverse variance (E13): large = beta_t, small = beta~_t (the "
                  "posterior's)")
      ->check(CLI::IsMember({"large", "small"}))
      ->capture_default_str();
  cmd->add_option("--eta", spec.eta,
                  "DDIM's eta (E25): 0 is deterministic, 1 has DDPM's posterior variance")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--steps", spec.steps,
                  "Sampling steps: the timesteps are respaced to this many (E38); with ddpm, "
                  "0 means all T")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

namespace {

bool continuous(const Run& run) { return continuous_time(run.config); }

std::int64_t effective_steps(const Run& run, const SamplerSpec& spec) {
  if (spec.steps == 0) {
    KILN_CHECK(spec.method == "ddpm" && !continuous(run),
               "--steps 0 (all T steps) is for --sampler ddpm; give DDIM a number of steps");
    return run.config.timesteps;
  }
  KILN_CHECK(continuous(run) || spec.steps <= run.config.timesteps,
             "--steps {}: the model was trained with T = {} timesteps; sample with at most {}",
             spec.steps, run.config.timesteps, run.config.timesteps);
  return spec.steps;
}

diffusion::Rates offset_cosine(const Tensor& tau) { return diffusion::offset_cosine_rates(tau); }

}  // namespace

std::string describe(const SamplerSpec& spec, const Run& run) {
  const std::int64_t steps = effective_steps(run, spec);
  if (spec.method == "ddpm")
    return fmt::format("DDPM (E24), {} steps, sigma^2 = {}", steps,
                       spec.sigma == "large" ? "beta" : "beta~");
  return fmt::format("DDIM (E25), {} steps, eta {}", steps, spec.eta);
}

std::string plot_title(const SamplerSpec& spec, const Run& run) {
  return fmt::format("step {}, {} {} steps", run.step, spec.method == "ddpm" ? "DDPM" : "DDIM",
                     effective_steps(run, spec));
}

diffusion::SampleResult run_sampler(const Run& run, const SamplerSpec& spec, const Tensor& x_T,
                                    Generator* gen, std::int64_t trajectory, std::int64_t moments) {
  const std::int64_t S = effective_steps(run, spec);
  diffusion::SampleOptions o{
      .sigma = spec.sigma == "small" ? diffusion::Sigma::Small : diffusion::Sigma::Large,
      .eta = spec.eta,
      // Note [Clipping x̂_0]: images in [-1, 1] are clipped there, as Ho et al.
      .clip_x0 = is_image_run(run) && run.config.normalize == "signed",
      .gen = gen,
      .trajectory = trajectory,
      .trajectory_every = std::max<std::int64_t>(1, S / std::max<std::int64_t>(1, moments))};
  diffusion::DiffusionModel* model = run.model.get();
  if (continuous(run)) {
    const diffusion::EpsModel network = [model](const Tensor& x, const Tensor& noise_variance) {
      return model->forward(x, noise_variance);
    };
    KILN_CHECK(spec.method == "ddim",
               "--sampler ddpm: {} is a continuous-time model (the Keras chapter); sample it with "
               "--sampler ddim (E26's continuous form)", run.config.model);
    return diffusion::sample_continuous(offset_cosine, S,
                                        diffusion::time_as_noise_variance(network, offset_cosine),
                                        x_T, o);
  }
  const std::int64_t T = run.config.timesteps;
  // E38: S of the T steps, evenly spaced from 1 to T (S = T: the schedule itself).
  const diffusion::Schedule s =
      S == T ? run.schedule
             : diffusion::respace(run.schedule, diffusion::space_timesteps(T, fmt::format("uniform{}", S)));
  // The network sees timesteps of the base schedule, whatever the respacing (E38).
  const diffusion::EpsModel network = eps_model_of(run.config, run.schedule, *model);
  return spec.method == "ddpm" ? diffusion::sample_ddpm(s, network, x_T, o)    // E24
                               : diffusion::sample_ddim(s, network, x_T, o);   // E25, E26
}

Tensor initial_noise(const Run& run, std::int64_t n, Generator& gen) {
  Shape shape = run.model->sample_shape();
  shape.insert(shape.begin(), n);
  return Tensor::randn(shape, {.device = run.device}, &gen);
}

bool is_image_run(const Run& run) { return !point_set_of(run.config).has_value(); }

Tensor to_data_space(const Run& run, const Tensor& x) {
  const Tensor cpu = x.to(Device::cpu());
  if (run.config.normalize == "signed") return diffusion::signed_to_unit(cpu);  // E31⁻¹, clip
  if (run.config.normalize == "channel") {
    const diffusion::ChannelNormalizer n{run.channel_mean, run.channel_std, 1};
    return diffusion::clip_unit(n.denormalize(cpu));  // E31⁻¹, then clip
  }
  return is_image_run(run) ? diffusion::clip_unit(cpu) : cpu;
}

// ---- writing ----------------------------------------------------------------------------------

void write_text(const fs::path& path, const std::string& text) {
  data::write_file_atomic(path, text, "kiln");
}

namespace {

// A reference sample of the run's point set (grey in the plots).
Tensor data_reference(const Run& run) {
  return data::make_points(*point_set_of(run.config), 3000, run.config.data_seed + 2);
}

// Nearest-neighbour enlargement of images [N, C, H, W] by an integer factor.
Tensor enlarge(const Tensor& images, std::int64_t factor) {
  if (factor <= 1) return images;
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < images.size(2) * factor; ++i) rows.push_back(i / factor);
  std::vector<std::int64_t> cols;
  for (std::int64_t i = 0; i < images.size(3) * factor; ++i) cols.push_back(i / factor);
  const Options int64{.dtype = DType::Int64};
  const Tensor r = Tensor::from_vector(rows, {static_cast<std::int64_t>(rows.size())}, int64);
  const Tensor c = Tensor::from_vector(cols, {static_cast<std::int64_t>(cols.size())}, int64);
  return index_select(index_select(images, 2, r), 3, c);
}

}  // namespace

void write_samples(const fs::path& path, const Run& run, const Tensor& samples, std::int64_t nrow,
                   const std::string& title) {
  if (is_image_run(run)) {
    data::save_grid(path, samples, nrow, 2, 1.0);
    return;
  }
  data::save_scatter_plot(path,
                          {{.name = "data", .points = data_reference(run), .color = data::Color{0.6f, 0.6f, 0.6f}},
                           {.name = "samples", .points = samples, .color = data::palette(0)}},
                          {.title = title});
}

void write_labelled_rows(const fs::path& path, const Tensor& images, std::int64_t cols,
                         const std::vector<std::string>& labels,
                         const std::vector<std::string>& col_labels) {
  const std::int64_t factor = std::max<std::int64_t>(1, 64 / images.size(2));
  const Tensor grid = data::make_grid(enlarge(images.to(Device::cpu()), factor), cols, 2, 1.0);
  int left = 0;
  for (const auto& l : labels) left = std::max(left, data::Canvas::text_width(l, 1) + 8);
  const int top = col_labels.empty() ? 0 : data::Canvas::text_height(1) + 8;
  const auto H = static_cast<int>(grid.size(1)), W = static_cast<int>(grid.size(2));
  data::Canvas canvas(W + left, H + top);
  const std::vector<float> px = grid.contiguous().to_vector<float>();  // [3, H, W]
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      canvas.blend(x + left, y + top,
                   {px[static_cast<size_t>(y) * W + x], px[static_cast<size_t>(H + y) * W + x],
                    px[static_cast<size_t>(2 * H + y) * W + x]});
  const auto rows = static_cast<std::int64_t>(labels.size());
  const double row_height = static_cast<double>(H) / static_cast<double>(std::max<std::int64_t>(rows, 1));
  for (std::int64_t r = 0; r < rows; ++r)
    canvas.text(4, top + static_cast<int>((r + 0.5) * row_height) - data::Canvas::text_height(1) / 2,
                labels[static_cast<size_t>(r)]);
  const double col_width = static_cast<double>(W) / static_cast<double>(std::max<std::int64_t>(cols, 1));
  for (size_t k = 0; k < col_labels.size(); ++k)
    canvas.text(left + static_cast<int>((k + 0.5) * col_width) - data::Canvas::text_width(col_labels[k], 1) / 2,
                4, col_labels[k]);
  canvas.save_png(path);
}

void write_scatter_strip(const fs::path& path, const Run& run,
                         const std::vector<std::pair<std::string, Tensor>>& panels) {
  const Tensor reference = data_reference(run);
  std::vector<Tensor> images;
  for (const auto& [title, points] : panels) {
    images.push_back(data::scatter_plot({{.name = "", .points = reference, .color = data::Color{0.75f, 0.75f, 0.75f}},
                                         {.name = "", .points = points.to(Device::cpu()), .color = data::palette(0)}},
                                        {.title = title, .width = 280, .height = 280})
                         .to_tensor());
  }
  data::save_png(path, cat(images, 2));
}

// ---- progress ----------------------------------------------------------------------------------

Progress::Progress(std::string label, std::int64_t total, std::int64_t start)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      t0_(std::chrono::steady_clock::now()),
      last_draw_(t0_),
      tty_(isatty(fileno(stderr)) != 0),
      done_(start) {}

std::string Progress::duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const auto total = static_cast<long>(s + 0.5);
  if (total >= 3600) return fmt::format("{}h{:02}m", total / 3600, total / 60 % 60);
  return fmt::format("{}m{:02}s", total / 60, total % 60);
}

double Progress::rate() const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  return elapsed > 0 ? static_cast<double>(done_ - start_) / elapsed : 0.0;
}

void Progress::update(std::int64_t done, const std::string& extra) {
  done_ = done;
  if (!tty_) return;
  const auto now = std::chrono::steady_clock::now();
  if (done < total_ && std::chrono::duration<double>(now - last_draw_).count() < 0.2) return;
  last_draw_ = now;
  const double r = rate();
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(width * std::min<double>(1.0, static_cast<double>(done) / total_)) : width;
  std::fprintf(stderr, "\r%s %lld/%lld [%s%s] %s  %.2f/s  ETA %s\x1b[K", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_),
               std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(width - filled), '.').c_str(), extra.c_str(), r,
               duration(r > 0 ? static_cast<double>(total_ - done) / r : -1).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace kiln::program
