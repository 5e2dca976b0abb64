// kiln eval: how good is a trained model? Two kinds of numbers, written as JSON:
//
//   likelihood   bits per dimension of held-out data under the variational bound: every
//                term L_T, L_{T-1}, ..., L_0 of E15 (E20's discretized decoder for 8-bit
//                images), summed and divided by D ln 2 (E21). Lower is better.
//   samples      2-D point sets: the samples against the set's exact density
//                (diffusion/evaluate.h: mean log-density, share off the data, histogram
//                distance). Labelled image sets ("shapes", mnist, cifar10): a small
//                classifier trained with kiln on the real labelled images
//                (diffusion/classifier.h; cached, its held-out accuracy reported) gives
//                the share of samples it recognises with confidence >= 0.9, and the
//                Fréchet distance (E34) and KID (E36) of its features against held-out
//                real images.
//
//   kiln eval runs/shapes                     # writes runs/shapes/eval.json
//   kiln eval runs/shapes --bpd-images 0      # samples only
#include <cstdio>
#include <cstdlib>
#include <functional>

#include <nlohmann/json.hpp>

#include "autograd/grad_mode.h"
#include "autograd/ops/index.h"
#include "diffusion/classifier.h"
#include "diffusion/evaluate.h"
#include "diffusion/normalize.h"
#include "nn/checkpoint.h"
#include "program/commands.h"
#include "program/common.h"
#include "tensor/error.h"

namespace kiln::program {
namespace {

using nlohmann::json;

struct EvalArgs {
  std::string checkpoint;
  SamplerSpec spec;
  std::int64_t bpd_images = 32;
  std::int64_t pairs_per_call = 256;
  std::string sigma = "large";
  std::int64_t samples = 0;  // 0: 64 images or 2000 points
  std::int64_t real_images = 1000;
  std::uint64_t seed = 0;
  std::string cache;
  std::int64_t classifier_steps = 1500;  // 500 recognised only half of the real held-out shapes
  std::string out;
  std::string device = "cpu";
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// FNV-1a over the images' float32 bytes: a data generator or a file that changed gives
// another classifier file instead of a stale cached one.
std::uint64_t fingerprint(const Tensor& images) {
  const Tensor x = images.to(DType::Float32).contiguous();
  const auto* bytes = reinterpret_cast<const unsigned char*>(x.data_ptr<float>());
  std::uint64_t h = 14695981039346656037ull;
  for (std::int64_t i = 0; i < x.numel() * 4; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  return h;
}

fs::path default_cache() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "kiln";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "kiln";
  return fs::path("runs") / ".cache";
}

// ---- bits per dimension (E14, E15, E20, E21) ----------------------------------------------

json evaluate_bpd(const Run& run, const data::Dataset& heldout, const EvalArgs& a) {
  const bool images = is_image_run(run);
  const std::int64_t n = std::min(a.bpd_images, heldout.size());
  Tensor x = heldout.images.narrow(0, 0, n);
  // E20 scores 8-bit pixels: the held-out images as a PNG would hold them.
  if (images) x = (x * 255.0 + 0.5).to(DType::Int64).to(DType::Float32) / 255.0;
  // E31, as the model saw its training data.
  if (run.config.normalize == "signed") x = x * 2.0 - 1.0;
  if (run.config.normalize == "channel")
    x = diffusion::ChannelNormalizer{run.channel_mean, run.channel_std, 1}.normalize(x);
  x = x.to(run.device);

  diffusion::DiffusionModel* model = run.model.get();
  diffusion::EpsModel eps_model = eps_model_of(run.config, run.schedule, *model);
  if (continuous_time(run.config)) {  // the network takes the noise variance 1 - ᾱ_t
    const Tensor noise_variance =
        diffusion::Schedule::table(run.schedule.one_minus_alpha_bar, DType::Float32, run.device);
    eps_model = [model, noise_variance](const Tensor& x_t, const Tensor& t) {
      return model->forward(x_t, index_select(noise_variance, 0, t));
    };
  }
  // E20's bins fit 8-bit data scaled to [-1, 1]; anything else gets a continuous density.
  const bool discrete = images && run.config.normalize == "signed";
  const diffusion::BoundOptions options{
      .sigma = a.sigma == "small" ? diffusion::Sigma::Small : diffusion::Sigma::Large,
      .decoder = discrete ? diffusion::Decoder::Discretized : diffusion::Decoder::Gaussian};
  Generator gen(a.seed + 17);
  Progress progress("eval: bound", n * run.config.timesteps);
  const diffusion::Bound b = diffusion::variational_bound_chunked(
      run.schedule, eps_model, x, a.pairs_per_call, &gen, options,
      [&](std::int64_t done, std::int64_t) { progress.update(done); });
  progress.finish();

  const std::vector<double> bpd = b.bpd.to(DType::Float64).to_vector<double>();
  double mean = 0, var = 0;
  for (const double v : bpd) mean += v / static_cast<double>(bpd.size());
  for (const double v : bpd) var += (v - mean) * (v - mean) / std::max<double>(1.0, static_cast<double>(bpd.size()) - 1);
  const double D = static_cast<double>(x.numel() / n);
  auto mean_bpd = [&](const Tensor& nats) {  // E21 of a [B] term, averaged over the images
    return diffusion::bits_per_dim(nats.to(DType::Float64).mean().item(), static_cast<std::int64_t>(D));
  };
  const Tensor terms = b.terms.to(Device::cpu());
  return {{"bits_per_dim", mean},
          {"std_error", std::sqrt(var / static_cast<double>(bpd.size()))},
          {"images", n},
          {"dimensions", D},
          {"timesteps", run.config.timesteps},
          {"sigma", a.sigma == "small" ? "beta~ (small)" : "beta (large)"},
          {"decoder", discrete ? "discretized Gaussian (E20), 8-bit pixels"
                               : "continuous Gaussian: a density, not comparable with discrete bits"},
          {"terms_bits_per_dim",
           {{"L_T (prior, E22)", mean_bpd(b.prior)},
            {"sum of L_{t-1}, t = 2..T", mean_bpd(terms.narrow(1, 1, terms.size(1) - 1).sum({1}))},
            {"L_0 (decoder)", mean_bpd(terms.select(1, 0))}}}};
}

// ---- the classifier of sample quality ------------------------------------------------------

// The cached classifier for the run's data, trained now if the cache lacks it. Keyed by
// everything that determines it, so the cached file is exactly what the code would train.
// `heldout`: real held-out images with labels; `train_set` loads the training images.
std::shared_ptr<diffusion::Classifier> classifier_for(const RunConfig& c, const data::Dataset& heldout,
                                                      const std::function<data::Dataset()>& train_set,
                                                      const EvalArgs& a, json& info) {
  const diffusion::ClassifierConfig cc{
      .channels = heldout.images.size(1),
      .res = heldout.images.size(2),
      .classes = static_cast<std::int64_t>(heldout.classes.size()) + 1};  // + "other"
  // The held-out images' fingerprint stands for the data (the training images come from
  // the same generator or folder); v4 for the classifier's code.
  const fs::path cache = a.cache.empty() ? default_cache() : fs::path(a.cache);
  const fs::path file = cache / fmt::format("classifier-{}-{}px-{}ch-n{}-data{:016x}-w{}-f{}-steps{}-v4.safetensors",
                                            c.dataset, cc.res, cc.channels, c.data_size,
                                            fingerprint(heldout.images), cc.width, cc.features,
                                            a.classifier_steps);
  manual_seed(1234);  // the classifier's initial weights
  auto model = std::make_shared<diffusion::Classifier>(cc);
  info["path"] = file.string();
  info["classes"] = heldout.classes;
  if (fs::exists(file)) {
    const nn::SafetensorsFile f = nn::load_safetensors(file);
    model->load_state_dict(nn::OrderedDict<Tensor>(f.tensors));
    model->eval();
    for (const char* key : {"heldout_accuracy", "other_recall"}) {
      auto it = f.metadata.find(key);
      if (it == f.metadata.end()) fail("{}: not a kiln eval classifier (no '{}')", file.string(), key);
      info[key] = std::stod(it->second);
    }
    info["trained_now"] = false;
    return model;
  }
  // Note [The "other" class] (diffusion/classifier.h): a quarter of the training images,
  // and a held-out set of them to check that the classifier rejects them.
  const auto t0 = std::chrono::steady_clock::now();
  const data::Dataset real = train_set();
  const data::Dataset train = diffusion::with_other_class(real.slice(0, std::min<std::int64_t>(real.size(), 12000)),
                                                          std::min<std::int64_t>(real.size(), 12000) / 3, 7);
  Progress progress("eval: training the classifier", a.classifier_steps);
  diffusion::train_classifier(
      *model, train,
      {.steps = a.classifier_steps,
       .random_flip = c.dataset == "shapes",  // a mirrored circle, square or triangle is one still
       .seed = 1234,
       .progress = [&](std::int64_t step, double loss) {
         progress.update(step, fmt::format("loss {:.3f}", loss));
       }});
  progress.finish();
  const double accuracy = diffusion::accuracy(diffusion::classify(*model, heldout.images).probs, heldout.labels);
  const data::Dataset junk = diffusion::with_other_class(heldout, heldout.size() / 2, 8)
                                 .slice(heldout.size(), heldout.size() / 2);
  const double other_recall = diffusion::accuracy(diffusion::classify(*model, junk.images).probs, junk.labels);
  fs::create_directories(cache);
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : model->state_dict()) tensors[name] = t;
  nn::save_safetensors(file, tensors, {{"heldout_accuracy", fmt::format("{:.17g}", accuracy)},
                                       {"other_recall", fmt::format("{:.17g}", other_recall)},
                                       {"dataset", c.dataset}});
  info["heldout_accuracy"] = accuracy;
  info["other_recall"] = other_recall;
  info["trained_now"] = true;
  info["train_seconds"] = seconds_since(t0);
  return model;
}

json quality_json(const diffusion::SampleQuality& q, const std::vector<std::string>& classes) {
  json per_class = json::object();
  for (size_t i = 0; i < classes.size(); ++i) per_class[classes[i]] = q.confident_per_class[i];
  return {{"confident_share", q.confident_share},
          {"confidence_threshold", q.confidence},
          {"confident_per_class", per_class},
          {"other_share", q.other_share},
          {"real_confident_share", q.real_confident_share},
          {"mean_max_prob", q.mean_max_prob},
          {"frechet_distance", q.frechet_distance},
          {"kid", q.kid},
          {"kid_std", q.kid_std},
          {"inception_score", q.inception_score}};
}

void run_eval(const EvalArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  const Run run = load_run(a.checkpoint, parse_device(a.device));
  const RunConfig& c = run.config;
  const bool images = is_image_run(run);
  json out = {{"checkpoint", checkpoint_path(a.checkpoint).string()},
              {"step", run.step},
              {"model", c.model},
              {"dataset", c.dataset}};
  std::printf("kiln eval: %s on %s at step %lld\n", c.model.c_str(), c.dataset.c_str(),
              static_cast<long long>(run.step));
  std::fflush(stdout);

  // Held-out data: for the bound, and as the real images of E34/E36.
  const RunData d = load_data(c, std::max(a.bpd_images, images ? a.real_images : 0), false);
  if (a.bpd_images > 0) {
    const auto t = std::chrono::steady_clock::now();
    out["bpd"] = evaluate_bpd(run, d.heldout, a);
    out["bpd"]["seconds"] = seconds_since(t);
    std::printf("  bits/dim of %lld held-out items: %.4f (+- %.4f)\n",
                static_cast<long long>(out["bpd"]["images"].get<std::int64_t>()),
                out["bpd"]["bits_per_dim"].get<double>(), out["bpd"]["std_error"].get<double>());
    std::fflush(stdout);
  }

  // Samples.
  const auto ts = std::chrono::steady_clock::now();
  const std::int64_t n = a.samples > 0 ? a.samples : (images ? 64 : 2000);
  Generator gen(a.seed);
  const Tensor samples = to_data_space(run, run_sampler(run, a.spec, initial_noise(run, n, gen), &gen).x);
  out["samples"] = {{"count", n}, {"sampler", describe(a.spec, run)}, {"seed", a.seed},
                    {"seconds", seconds_since(ts)}};

  if (auto set = point_set_of(c)) {
    const diffusion::PointQuality q = diffusion::point_quality(*set, samples, c.data_seed);
    out["quality"] = {{"log_density_samples", q.log_density_samples},
                      {"log_density_data", q.log_density_data},
                      {"off_data_share", q.off_data_share},
                      {"histogram_tv", q.histogram_tv},
                      {"histogram_tv_data", q.histogram_tv_data}};
    std::printf("  %lld samples: mean log-density %.3f (data: %.3f), off the data %.1f%%, "
                "histogram distance %.3f (data: %.3f)\n",
                static_cast<long long>(n), q.log_density_samples, q.log_density_data,
                100 * q.off_data_share, q.histogram_tv, q.histogram_tv_data);
  } else if (d.heldout.has_labels() && d.heldout.classes.size() >= 2) {
    const auto tc = std::chrono::steady_clock::now();
    json info;
    auto classifier = classifier_for(c, d.heldout, [&] { return load_data(c, 0, true).train; }, a, info);
    const Tensor real = d.heldout.images.narrow(0, 0, std::min(a.real_images, d.heldout.size()));
    info["seconds"] = seconds_since(tc);
    Generator kid_gen(a.seed + 5);
    const diffusion::SampleQuality q = diffusion::sample_quality(*classifier, samples, real, 0.9, &kid_gen);
    out["quality"] = quality_json(q, d.heldout.classes);
    out["quality"]["real_images"] = real.size(0);
    out["quality"]["classifier"] = info;
    std::printf("  classifier: held-out accuracy %.2f%%, rejects %.2f%% of junk images%s\n",
                100 * info["heldout_accuracy"].get<double>(), 100 * info["other_recall"].get<double>(),
                info["trained_now"].get<bool>() ? " (trained now and cached)" : " (from the cache)");
    std::printf("  %lld samples: %.1f%% recognised as a shape with confidence >= 0.9 (%.1f%% "
                "'other'); Frechet distance %.3f, KID %.4f (+- %.4f) against %lld real images\n",
                static_cast<long long>(n), 100 * q.confident_share, 100 * q.other_share,
                q.frechet_distance, q.kid, q.kid_std, static_cast<long long>(real.size(0)));
  } else {
    out["quality"] = {{"note", fmt::format("dataset '{}' has no labels: the classifier-based "
                                           "metrics need a labelled data set", c.dataset)}};
  }
  out["seconds"] = seconds_since(t0);
  const fs::path path = a.out.empty() ? run.dir / "eval.json" : fs::path(a.out);
  if (!path.parent_path().empty()) fs::create_directories(path.parent_path());
  write_text(path, out.dump(2) + "\n");
  std::printf("wrote %s (%.1f s)\n", path.string().c_str(), out["seconds"].get<double>());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Evaluate a checkpoint: bits/dim of held-out data under the variational bound (E14, E15, "
      "E21, every term), and the quality of its samples (2-D sets: against the exact density; "
      "labelled images: a classifier trained with kiln gives the confident share, the Frechet "
      "distance E34 and KID E36). Writes eval.json.");
  add_checkpoint_option(cmd, a->checkpoint);
  cmd->add_option("--bpd-images", a->bpd_images,
                  "Held-out items in the bound (each costs T network evaluations; 0 skips it)")
      ->capture_default_str();
  cmd->add_option("--bpd-batch", a->pairs_per_call,
                  "(item, timestep) pairs per network call while computing the bound")
      ->capture_default_str();
  cmd->add_option("--bpd-sigma", a->sigma, "The reverse variance in the bound (E13): large or small")
      ->check(CLI::IsMember({"large", "small"}))
      ->capture_default_str();
  cmd->add_option("--samples", a->samples, "Samples to score (default: 64 images, 2000 points)");
  add_sampler_options(cmd, a->spec);
  cmd->add_option("--real-images", a->real_images, "Held-out real images for E34/E36")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Seed of the samples' noise")->capture_default_str();
  cmd->add_option("--cache", a->cache,
                  "Where the trained classifier is kept (default: $XDG_CACHE_HOME/kiln or "
                  "~/.cache/kiln)");
  cmd->add_option("--classifier-steps", a->classifier_steps, "Training steps of the classifier")
      ->capture_default_str();
  cmd->add_option("--out", a->out, "The JSON to write (default: eval.json in the run folder)");
  add_device_option(cmd, a->device);
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace kiln::program
