// kiln train: trains a diffusion model (diffusion/train.h) on a built-in or downloaded
// data set and writes a run folder (program/common.h): the resolved config, metrics as
// JSON lines, the loss curve, preview grids and checkpoints.
//
//   kiln train --model ddpm-small --dataset shapes --steps 2000 --out runs/shapes
//   kiln train --config configs/shapes-quick.json
//   kiln train --resume runs/shapes --steps 4000      # continue exactly (Note [Exact resume])
//
// Ctrl-C (SIGINT) finishes the current step, saves a checkpoint and exits with status
// 130; `--resume` then continues as if nothing had happened. A second Ctrl-C kills.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "data/plot.h"
#include "nn/checkpoint.h"
#include "program/commands.h"
#include "program/common.h"
#include "tensor/error.h"

namespace kiln::program {
namespace {

using nlohmann::json;

struct TrainArgs {
  std::string config_file;
  json cli = json::object();  // the config keys given as options (layer 3)
  std::string out;
  std::string resume;
  bool overwrite = false;
  bool print_config = false;
  std::string device = "cpu";
};

// Keys an option may change when resuming: how long to train and what to write, never
// what is trained or how (that would break Note [Exact resume]).
const std::set<std::string> kResumable = {"steps", "log_every", "sample_every", "checkpoint_every",
                                          "preview_samples", "preview_steps"};

// ---- SIGINT ---------------------------------------------------------------------------------

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

struct SigintGuard {
  struct sigaction previous {};
  SigintGuard() {
    g_interrupted = false;
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous);
  }
  ~SigintGuard() { sigaction(SIGINT, &previous, nullptr); }
};

// ---- the run folder ---------------------------------------------------------------------------

// metrics.jsonl without the lines past `step` (those of a run that went on after its last
// checkpoint before it stopped): a resumed run writes them again.
void trim_metrics(const fs::path& file, std::int64_t step) {
  std::ifstream in(file);
  if (!in) return;
  std::string kept, line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (json::parse(line).value("step", std::int64_t{0}) > step) continue;
    } catch (const json::exception&) {
      continue;  // a torn last line of a killed process
    }
    kept += line + "\n";
  }
  write_text(file, kept);
}

// loss.png from metrics.jsonl: the loss of each logged interval (log scale).
void write_loss_curve(const fs::path& dir, const RunConfig& c) {
  std::ifstream in(dir / "metrics.jsonl");
  data::Series loss{.name = "loss (mean over each logged interval)"};
  std::string line;
  while (std::getline(in, line)) {
    try {
      const json j = json::parse(line);
      loss.x.push_back(j.at("step").get<double>());
      loss.y.push_back(j.at("loss").get<double>());
    } catch (const json::exception&) {
    }
  }
  if (loss.x.size() < 2) return;
  data::save_line_plot(dir / "loss.png", {loss},
                       {.title = fmt::format("{} on {}: training loss", c.model, c.dataset),
                        .xlabel = "step",
                        .ylabel = c.loss == "l1" ? "mean |eps - eps_theta|" : "mean (eps - eps_theta)^2",
                        .log_y = true});
}

// A preview grid with the EMA weights (E30), from the same noise every time (its own
// generator: the training stream is not touched, Note [Exact resume]).
fs::path write_preview(diffusion::Trainer& trainer, Run view, const fs::path& dir) {
  nn::EMA::Applied use(trainer.ema(), trainer.model());
  trainer.model().eval();
  const RunConfig& c = view.config;
  Generator gen(c.seed + 1);
  view.step = trainer.step_count();
  const Tensor x_T = initial_noise(view, c.preview_samples, gen);
  const SamplerSpec spec{.method = "ddim", .steps = c.preview_steps};
  const Tensor x = run_sampler(view, spec, x_T, &gen).x;
  const fs::path path = dir / "previews" / fmt::format("step_{:06}.png", trainer.step_count());
  fs::create_directories(path.parent_path());
  write_samples(path, view, to_data_space(view, x), 8, plot_title(spec, view));
  trainer.model().train();
  return path;
}

std::string shape_of_item(const data::Dataset& d) {
  Shape s = d.images.shape();
  s.erase(s.begin());
  return shape_str(s);
}

void run_train(const TrainArgs& a) {
  const Device device = parse_device(a.device);
  RunConfig c;
  fs::path dir, resume_from;
  if (!a.resume.empty()) {
    if (!a.config_file.empty()) fail("train: --resume takes the run's own config; drop --config");
    resume_from = checkpoint_path(a.resume);
    json j = to_json(read_run_config(resume_from));
    for (const auto& [key, value] : a.cli.items()) {
      if (!kResumable.contains(key))
        fail("train: --resume continues a run as it was configured; '{}' cannot change (only: {})",
             key, fmt::join(kResumable, ", "));
      j[key] = value;
    }
    c = from_json(j, "the resumed config");
    dir = resume_from.parent_path();
    if (!a.out.empty() && fs::weakly_canonical(a.out) != fs::weakly_canonical(dir))
      fail("train: --resume writes to the run's own folder '{}'; drop --out", dir.string());
  } else {
    const json file = a.config_file.empty() ? json() : read_json_file(a.config_file);
    c = resolve_config(file, a.cli, a.config_file);
    dir = a.out.empty() ? fs::path("runs") / fmt::format("{}-{}", c.dataset, c.model) : fs::path(a.out);
  }
  if (a.print_config) {
    std::printf("%s\n", to_json(c).dump(2).c_str());
    return;
  }
  if (resume_from.empty() && fs::exists(dir / kCheckpointName) && !a.overwrite)
    fail("train: '{}' already holds a run ({}): continue it with --resume {}, start it over with "
         "--overwrite, or choose another --out",
         dir.string(), kCheckpointName, dir.string());
  fs::create_directories(dir);
  write_text(dir / "config.json", to_json(c).dump(2) + "\n");

  // The data (in [0, 1] at the model's resolution) and the model.
  const RunData d = load_data(c, 0);
  manual_seed(c.seed);  // the initial weights, then t, ε and dropout (Note [Exact resume])
  const auto model = build_model(c);
  Shape want = model->sample_shape();
  if (shape_of_item(d.train) != shape_str(want))
    fail("train: dataset '{}' holds items of shape {}, but model '{}' takes {}", c.dataset,
         shape_of_item(d.train), c.model, shape_str(want));
  model->to(device);
  diffusion::Trainer trainer(model, build_schedule(c), trainer_options(c));
  const bool images = !point_set_of(c).has_value();
  data::DataLoader loader(d.train, {.batch_size = c.batch_size,
                                    .drop_last = d.train.size() >= c.batch_size,
                                    .random_flip = images && c.flip,
                                    .normalize = normalize_mode(c),
                                    .seed = c.seed,
                                    .device = device});
  if (!resume_from.empty()) {
    const auto meta = trainer.load(resume_from);
    try {
      loader.set_state({std::stoll(meta.at(kMetaLoaderEpoch)), std::stoll(meta.at(kMetaLoaderPosition))});
    } catch (const std::out_of_range&) {
      fail("{}: its metadata has no data loader position ({}, {})", resume_from.string(),
           kMetaLoaderEpoch, kMetaLoaderPosition);
    }
    trim_metrics(dir / "metrics.jsonl", trainer.step_count());
  } else {
    write_text(dir / "metrics.jsonl", "");
  }

  Run view{.config = c, .dir = dir, .step = 0, .model = model, .schedule = trainer.schedule(),
           .device = device, .channel_mean = loader.channel_mean(), .channel_std = loader.channel_std()};
  const fs::path checkpoint = dir / kCheckpointName;
  auto save = [&] {
    trainer.save(checkpoint, {{kMetaConfig, to_json(c).dump()},
                              {kMetaLoaderEpoch, std::to_string(loader.state().epoch)},
                              {kMetaLoaderPosition, std::to_string(loader.state().position)},
                              {kMetaChannelMean, json(loader.channel_mean()).dump()},
                              {kMetaChannelStd, json(loader.channel_std()).dump()}});
  };

  const std::int64_t start = trainer.step_count();
  std::printf("kiln train: %s (%lld parameters) on %s (%lld items of %s), T = %lld (%s), "
              "%lld steps of batch %lld%s\n  run folder: %s\n",
              c.model.c_str(), static_cast<long long>(model->num_parameters()), c.dataset.c_str(),
              static_cast<long long>(d.train.size()), shape_of_item(d.train).c_str(),
              static_cast<long long>(c.timesteps), c.schedule.c_str(), static_cast<long long>(c.steps),
              static_cast<long long>(c.batch_size),
              start > 0 ? fmt::format(", resuming at step {}", start).c_str() : "", dir.string().c_str());
  std::fflush(stdout);

  std::ofstream metrics(dir / "metrics.jsonl", std::ios::app);
  Progress progress("train", c.steps, start);
  const bool tty = isatty(fileno(stderr)) != 0;
  double loss_sum = 0, norm_sum = 0;
  std::int64_t in_interval = 0, skipped = 0;
  auto interval_start = std::chrono::steady_clock::now();
  const auto t0 = interval_start;
  {
    SigintGuard sigint;
    while (trainer.step_count() < c.steps && !g_interrupted) {
      const data::Batch batch = loader.next();
      const diffusion::TrainStep st = trainer.step(batch.images);  // E23, E30
      const std::int64_t step = trainer.step_count();
      skipped += st.skipped ? 1 : 0;
      if (!st.skipped) {
        loss_sum += st.loss;
        norm_sum += st.grad_norm;
        ++in_interval;
      }
      progress.update(step, fmt::format("loss {:.4f}", st.loss));
      if (step % c.log_every == 0 || step == c.steps) {
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - interval_start).count();
        const double n = static_cast<double>(std::max<std::int64_t>(in_interval, 1));
        const json line = {{"step", step},
                           {"loss", loss_sum / n},
                           {"grad_norm", norm_sum / n},
                           {"lr", st.lr},
                           {"epoch", batch.epoch},
                           {"steps_per_s", seconds > 0 ? static_cast<double>(step % c.log_every == 0 ? c.log_every : step % c.log_every) / seconds : 0.0},
                           {"elapsed_s", std::chrono::duration<double>(now - t0).count()},
                           {"skipped", skipped}};
        metrics << line.dump() << "\n" << std::flush;
        if (!tty) {
          const double r = progress.rate();
          std::printf("step %lld/%lld  loss %.4f  lr %.2e  %.2f steps/s  ETA %s\n",
                      static_cast<long long>(step), static_cast<long long>(c.steps), loss_sum / n,
                      st.lr, r, Progress::duration(r > 0 ? (c.steps - step) / r : -1).c_str());
          std::fflush(stdout);
        }
        loss_sum = norm_sum = 0;
        in_interval = 0;
        interval_start = now;
      }
      if (c.checkpoint_every > 0 && step % c.checkpoint_every == 0 && step < c.steps) save();
      if (c.sample_every > 0 && step % c.sample_every == 0 && step < c.steps) {
        write_preview(trainer, view, dir);
        write_loss_curve(dir, c);
      }
    }
  }
  progress.finish();
  save();
  write_loss_curve(dir, c);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (g_interrupted) {
    std::printf("interrupted at step %lld: checkpoint saved to %s (continue with: kiln train "
                "--resume %s)\n",
                static_cast<long long>(trainer.step_count()), checkpoint.string().c_str(),
                dir.string().c_str());
    set_exit_code(130);
    return;
  }
  const fs::path preview = write_preview(trainer, view, dir);
  std::printf("done: %lld steps in %s (%.2f steps/s)%s\n  checkpoint  %s\n  loss curve  %s\n"
              "  samples     %s\n",
              static_cast<long long>(trainer.step_count() - start), Progress::duration(seconds).c_str(),
              seconds > 0 ? (trainer.step_count() - start) / seconds : 0.0,
              skipped > 0 ? fmt::format(" ({} steps skipped: non-finite gradients)", skipped).c_str() : "",
              checkpoint.string().c_str(), (dir / "loss.png").string().c_str(),
              preview.string().c_str());
}

// A config key as a command-line option: given, it overrides the config file.
template <class T>
CLI::Option* config_option(CLI::App* cmd, const std::shared_ptr<TrainArgs>& a,
                           const std::string& flag, const std::string& key, const std::string& help) {
  // Given twice, the last one wins (a script's defaults, then the user's).
  return cmd->add_option_function<T>(flag, [a, key](const T& v) { a->cli[key] = v; }, help)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train a diffusion model (E23 steps, E30 EMA) and write a run folder: config.json, "
      "metrics.jsonl, loss.png, previews/ and checkpoint.safetensors. Settings come from the "
      "model's defaults, then --config, then the options below (unset options keep the "
      "model's defaults: see them with --print-config). Ctrl-C saves a checkpoint and exits "
      "with status 130; --resume continues exactly.");
  cmd->add_option("--config", a->config_file,
                  "A JSON config file: an object with any of the keys below (option names with "
                  "underscores, e.g. \"batch_size\") and \"arch\" (see configs/*.json)");
  cmd->add_option("--out", a->out, "The run folder (default: runs/<dataset>-<model>)");
  cmd->add_option("--resume", a->resume,
                  "Continue the run in this folder (or from this checkpoint) exactly where it "
                  "stopped; only --steps and the output options may change");
  cmd->add_flag("--overwrite", a->overwrite, "Start over in a run folder that holds a run");
  cmd->add_flag("--print-config", a->print_config,
                "Print the resolved config as JSON and exit without training");
  add_device_option(cmd, a->device);

  config_option<std::string>(cmd, a, "--model", "model",
                             "The network: mlp-2d, ddpm-tiny, ddpm-small, ddpm-cifar10, keras-unet64 "
                             "(default ddpm-small)");
  cmd->add_option_function<std::string>(
      "--arch",
      [a](const std::string& text) {
        try {
          a->cli["arch"] = json::parse(text);
        } catch (const json::parse_error& e) {
          fail("--arch: not valid JSON: {}", e.what());
        }
      },
      "Architecture overrides as JSON, e.g. '{\"ch\": 16, \"mult\": [1, 2]}' (fields of the "
      "model's config; see --print-config)");
  config_option<std::string>(cmd, a, "--dataset", "dataset",
                             "shapes, swiss-roll, moons, gaussians8, checkerboard (generated from a "
                             "seed), or mnist, cifar10, folder (read from --data-path)");
  config_option<std::string>(cmd, a, "--data-path", "data_path",
                             "The folder of mnist (IDX files, plain or .gz), cifar10 (the binary "
                             "batches) or folder (PNG/JPEG images, resized and centre-cropped)");
  config_option<std::int64_t>(cmd, a, "--data-size", "data_size",
                              "Items generated for training (built-in sets)");
  config_option<std::uint64_t>(cmd, a, "--data-seed", "data_seed",
                               "Seed of a built-in set (held-out data uses seed + 1)");
  config_option<std::string>(cmd, a, "--normalize", "normalize",
                             "E31: signed ([0,1] -> [-1,1], Ho et al.), channel (per-channel "
                             "mean/std, the Keras chapter) or none");
  config_option<bool>(cmd, a, "--flip", "flip", "Random horizontal flips of images: true or false");
  config_option<std::string>(cmd, a, "--schedule", "schedule",
                             "Noise schedule: linear (E1), cosine (E3), offset-cosine (E3b, "
                             "continuous time: keras-unet64)");
  config_option<std::int64_t>(cmd, a, "--timesteps", "timesteps", "T, the number of diffusion steps");
  config_option<std::int64_t>(cmd, a, "--steps", "steps", "Training steps in all (0: save the untrained model)");
  config_option<std::int64_t>(cmd, a, "--batch-size", "batch_size", "Items per step");
  config_option<std::string>(cmd, a, "--optimizer", "optimizer", "adam or adamw");
  config_option<double>(cmd, a, "--lr", "lr", "Peak learning rate");
  config_option<double>(cmd, a, "--weight-decay", "weight_decay", "Weight decay");
  config_option<std::int64_t>(cmd, a, "--warmup", "warmup", "Steps of linear learning-rate warm-up");
  config_option<std::string>(cmd, a, "--lr-schedule", "lr_schedule",
                             "After the warm-up: constant, or cosine (decays to 0 at --steps)");
  config_option<double>(cmd, a, "--grad-clip", "grad_clip",
                        "Clip the gradients' global norm to this (<= 0: no clipping)");
  config_option<double>(cmd, a, "--ema-decay", "ema_decay", "m of the weights' EMA (E30)");
  config_option<bool>(cmd, a, "--ema-warmup", "ema_warmup",
                      "Use m_n = min(m, (1+n)/(10+n)) early on (true/false)");
  config_option<std::string>(cmd, a, "--loss", "loss",
                             "simple (E19, Ho et al.), weighted (E18's lambda_t), l1 (the Keras chapter)");
  config_option<std::string>(cmd, a, "--prediction", "prediction",
                             "What the network predicts: eps (Ho et al.) or v (E37: v = sqrt(abar) eps "
                             "- sqrt(1-abar) x0; Note [Predicting v] in diffusion/train.h)");
  config_option<std::uint64_t>(cmd, a, "--seed", "seed", "Seed of the weights, the noise and the data order");
  config_option<std::int64_t>(cmd, a, "--log-every", "log_every",
                              "Write a metrics line (and print progress when not on a terminal) every N steps");
  config_option<std::int64_t>(cmd, a, "--sample-every", "sample_every",
                              "Write a preview grid every N steps (0: only at the end)");
  config_option<std::int64_t>(cmd, a, "--checkpoint-every", "checkpoint_every",
                              "Save a checkpoint every N steps (0: only at the end)");
  config_option<std::int64_t>(cmd, a, "--preview-samples", "preview_samples", "Samples in a preview");
  config_option<std::int64_t>(cmd, a, "--preview-steps", "preview_steps", "DDIM steps of a preview");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace kiln::program
