#include "program/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "autograd/ops/index.h"
#include "data/files.h"
#include "data/image.h"
#include "data/shapes.h"
#include "diffusion/keras_unet.h"
#include "diffusion/mlp.h"
#include "diffusion/unet.h"
#include "tensor/error.h"

namespace kiln::program {

using nlohmann::json;

namespace {

// ---- typed reading of one JSON value: wrong types are errors naming the key ---------------

[[noreturn]] void wrong_type(const std::string& where, const std::string& key, const char* want,
                             const json& v) {
  fail("{}: \"{}\" must be {}, got {}", where, key, want, v.dump());
}

void read(const json& v, std::int64_t& out, const std::string& where, const std::string& key) {
  if (!v.is_number_integer()) wrong_type(where, key, "an integer", v);
  out = v.get<std::int64_t>();
}
void read(const json& v, std::uint64_t& out, const std::string& where, const std::string& key) {
  if (!v.is_number_integer() || (v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0))
    wrong_type(where, key, "a non-negative integer", v);
  out = v.get<std::uint64_t>();
}
void read(const json& v, double& out, const std::string& where, const std::string& key) {
  if (!v.is_number()) wrong_type(where, key, "a number", v);
  out = v.get<double>();
}
void read(const json& v, bool& out, const std::string& where, const std::string& key) {
  if (!v.is_boolean()) wrong_type(where, key, "true or false", v);
  out = v.get<bool>();
}
void read(const json& v, std::string& out, const std::string& where, const std::string& key) {
  if (!v.is_string()) wrong_type(where, key, "a string", v);
  out = v.get<std::string>();
}
void read(const json& v, std::vector<std::int64_t>& out, const std::string& where,
          const std::string& key) {
  if (!v.is_array()) wrong_type(where, key, "an array of integers", v);
  out.clear();
  for (const json& e : v) {
    if (!e.is_number_integer()) wrong_type(where, key, "an array of integers", v);
    out.push_back(e.get<std::int64_t>());
  }
}

// Reads the fields a visitor names from an object, refusing keys it does not name.
// `fields(f)` calls f(name, member) for every field.
template <class Fields>
void read_object(const json& j, const std::string& where, const std::string& what,
                 const std::set<std::string>& also_allowed, Fields&& fields) {
  if (!j.is_object()) fail("{}: {} must be a JSON object, got {}", where, what, j.dump());
  std::vector<std::string> known;
  fields([&](const std::string& name, auto& member) {
    known.push_back(name);
    if (auto it = j.find(name); it != j.end()) read(*it, member, where, name);
  });
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end() && !also_allowed.contains(key))
      fail("{}: unknown key \"{}\" in {} (known: {}{})", where, key, what, fmt::join(known, ", "),
           also_allowed.empty() ? "" : fmt::format(", {}", fmt::join(also_allowed, ", ")));
  }
}

template <class Fields>
json write_object(Fields&& fields) {
  json j = json::object();
  fields([&](const std::string& name, const auto& member) { j[name] = member; });
  return j;
}

// ---- the fields of each struct --------------------------------------------------------

template <class C, class F>
void run_fields(C& c, F&& f) {
  f("model", c.model);
  f("dataset", c.dataset);
  f("data_path", c.data_path);
  f("data_size", c.data_size);
  f("data_seed", c.data_seed);
  f("normalize", c.normalize);
  f("flip", c.flip);
  f("schedule", c.schedule);
  f("timesteps", c.timesteps);
  f("steps", c.steps);
  f("batch_size", c.batch_size);
  f("optimizer", c.optimizer);
  f("lr", c.lr);
  f("weight_decay", c.weight_decay);
  f("warmup", c.warmup);
  f("lr_schedule", c.lr_schedule);
  f("grad_clip", c.grad_clip);
  f("ema_decay", c.ema_decay);
  f("ema_warmup", c.ema_warmup);
  f("loss", c.loss);
  f("prediction", c.prediction);
  f("seed", c.seed);
  f("log_every", c.log_every);
  f("sample_every", c.sample_every);
  f("checkpoint_every", c.checkpoint_every);
  f("preview_samples", c.preview_samples);
  f("preview_steps", c.preview_steps);
}

template <class C, class F>
void unet_fields(C& c, F&& f) {
  f("res", c.res);
  f("channels", c.channels);
  f("ch", c.ch);
  f("mult", c.mult);
  f("blocks", c.blocks);
  f("attn_res", c.attn_res);
  f("groups", c.groups);
  f("dropout", c.dropout);
}

template <class C, class F>
void mlp_fields(C& c, F&& f) {
  f("dim", c.dim);
  f("hidden", c.hidden);
  f("layers", c.layers);
  f("temb_dim", c.temb_dim);
}

template <class C, class F>
void keras_fields(C& c, F&& f) {
  f("res", c.res);
  f("channels", c.channels);
  f("widths", c.widths);
  f("mid_width", c.mid_width);
  f("block_depth", c.block_depth);
  f("embedding_L", c.embedding_L);
  f("embedding_max_frequency", c.embedding_max_frequency);
}

enum class Family { Mlp, UNet, Keras };

Family family_of(const std::string& model) {
  if (model == "mlp-2d") return Family::Mlp;
  if (model == "keras-unet64") return Family::Keras;
  if (model == "ddpm-tiny" || model == "ddpm-small" || model == "ddpm-cifar10") return Family::UNet;
  fail("unknown model '{}' (known: {})", model, fmt::join(diffusion::model_names(), ", "));
}

// The named architecture of `model` with `overrides` applied, as a full JSON object.
json resolve_arch(const std::string& model, const json& overrides, const std::string& where) {
  const std::string what = fmt::format("\"arch\" (the architecture of {})", model);
  switch (family_of(model)) {
    case Family::Mlp: {
      diffusion::MLPConfig c;
      read_object(overrides, where, what, {}, [&](auto f) { mlp_fields(c, f); });
      return write_object([&](auto f) { mlp_fields(c, f); });
    }
    case Family::UNet: {
      diffusion::UNetConfig c = diffusion::unet_config(model);
      read_object(overrides, where, what, {}, [&](auto f) { unet_fields(c, f); });
      return write_object([&](auto f) { unet_fields(c, f); });
    }
    case Family::Keras: {
      diffusion::KerasUNetConfig c;
      read_object(overrides, where, what, {}, [&](auto f) { keras_fields(c, f); });
      return write_object([&](auto f) { keras_fields(c, f); });
    }
  }
  return json::object();
}

const std::vector<std::string> kImageFiles = {"mnist", "cifar10", "folder"};

template <class T>
void check_one_of(const T& value, std::initializer_list<T> allowed, const std::string& where,
                  const char* key) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
    fail("{}: \"{}\" is '{}', which is not one of: {}", where, key, value, fmt::join(allowed, ", "));
}

}  // namespace

bool is_point_set(const std::string& dataset) {
  const auto names = data::point_set_names();
  return std::find(names.begin(), names.end(), dataset) != names.end();
}

std::optional<data::PointSet> point_set_of(const RunConfig& c) {
  if (!is_point_set(c.dataset)) return std::nullopt;
  return data::point_set_from_name(c.dataset);
}

RunConfig defaults_for(const std::string& model) {
  RunConfig c;
  c.model = model;
  switch (family_of(model)) {
    case Family::Mlp:  // points train in seconds: small T is not needed, big batches are cheap
      c.dataset = "moons";
      c.normalize = "none";
      c.flip = false;
      c.steps = 4000;
      c.batch_size = 256;
      c.lr = 2e-3;
      c.warmup = 100;
      c.lr_schedule = "cosine";
      c.ema_decay = 0.995;
      c.ema_warmup = true;
      c.log_every = 100;
      c.sample_every = 2000;
      c.checkpoint_every = 2000;
      c.preview_samples = 2000;
      c.preview_steps = 100;
      break;
    case Family::UNet:  // Ho et al.: Adam 2e-4, batch 128, warm-up 5000, clip 1, EMA 0.9999
      break;
    case Family::Keras:  // the Keras chapter: AdamW 1e-3 / 1e-4, MAE, E3b, EMA 0.999, E31 per channel
      c.normalize = "channel";
      c.schedule = "offset-cosine";
      c.optimizer = "adamw";
      c.lr = 1e-3;
      c.weight_decay = 1e-4;
      c.warmup = 0;
      c.loss = "l1";
      c.ema_decay = 0.999;
      c.batch_size = 64;
      c.preview_steps = 20;
      break;
  }
  c.arch = resolve_arch(model, json::object(), "defaults");
  return c;
}

json to_json(const RunConfig& c) {
  json j = write_object([&](auto f) { run_fields(c, f); });
  j["arch"] = c.arch;
  return j;
}

RunConfig from_json(const json& j, const std::string& where) {
  if (!j.is_object()) fail("{}: a config must be a JSON object, got {}", where, j.dump());
  std::string model = "ddpm-small";
  if (auto it = j.find("model"); it != j.end()) read(*it, model, where, "model");
  (void)family_of(model);  // an unknown name fails here, listing the known ones
  RunConfig c = defaults_for(model);
  read_object(j, where, "the config", {"arch"}, [&](auto f) { run_fields(c, f); });
  json arch = json::object();
  if (auto it = j.find("arch"); it != j.end()) arch = *it;
  if (!arch.is_object()) fail("{}: \"arch\" must be a JSON object, got {}", where, arch.dump());
  // MNIST is grey: unless the architecture says otherwise, the model sees one channel.
  if (c.dataset == "mnist" && !arch.contains("channels") && family_of(model) != Family::Mlp)
    arch["channels"] = 1;
  c.arch = resolve_arch(model, arch, where);
  validate(c, where);
  return c;
}

RunConfig resolve_config(const json& file, const json& cli, const std::string& file_name) {
  json merged = json::object();
  if (!file.is_null()) {
    (void)from_json(file, file_name);  // errors in the file name the file
    merged = file;
  }
  merged.merge_patch(cli);  // options given on the command line win ("arch" key by key)
  return from_json(merged, file.is_null() ? "the command line"
                                          : fmt::format("{} with the command line", file_name));
}

json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail("cannot read the config file '{}': {}", path.string(),
                std::filesystem::exists(path) ? "permission denied" : "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    fail("the config file '{}' is not valid JSON: {}", path.string(), e.what());
  }
}

void validate(const RunConfig& c, const std::string& where) {
  (void)family_of(c.model);
  const bool points_model = family_of(c.model) == Family::Mlp;
  const bool known_images = c.dataset == "shapes" ||
                            std::find(kImageFiles.begin(), kImageFiles.end(), c.dataset) != kImageFiles.end();
  if (!known_images && !is_point_set(c.dataset))
    fail("{}: unknown dataset '{}' (known: shapes, {}, mnist, cifar10, folder)", where, c.dataset,
         fmt::join(data::point_set_names(), ", "));
  if (points_model && !is_point_set(c.dataset))
    fail("{}: model 'mlp-2d' learns 2-D points, but dataset '{}' holds images (use one of: {})",
         where, c.dataset, fmt::join(data::point_set_names(), ", "));
  if (!points_model && is_point_set(c.dataset))
    fail("{}: model '{}' learns images, but dataset '{}' holds 2-D points (use --model mlp-2d)",
         where, c.model, c.dataset);
  if (std::find(kImageFiles.begin(), kImageFiles.end(), c.dataset) != kImageFiles.end() &&
      c.data_path.empty())
    fail("{}: dataset '{}' is read from files: give their folder with --data-path (\"data_path\")",
         where, c.dataset);
  check_one_of<std::string>(c.normalize, {"signed", "channel", "none"}, where, "normalize");
  check_one_of<std::string>(c.schedule, {"linear", "cosine", "offset-cosine"}, where, "schedule");
  const bool keras = family_of(c.model) == Family::Keras;
  if (keras != (c.schedule == "offset-cosine"))
    fail("{}: \"schedule\" '{}' does not fit model '{}': keras-unet64 takes the noise variance "
         "of the continuous offset-cosine schedule (E3b); the other models take timesteps of "
         "'linear' or 'cosine'", where, c.schedule, c.model);
  check_one_of<std::string>(c.optimizer, {"adam", "adamw"}, where, "optimizer");
  check_one_of<std::string>(c.lr_schedule, {"constant", "cosine"}, where, "lr_schedule");
  check_one_of<std::string>(c.loss, {"simple", "weighted", "l1"}, where, "loss");
  check_one_of<std::string>(c.prediction, {"eps", "v"}, where, "prediction");
  if (c.prediction == "v" && (keras || c.loss == "weighted"))
    fail("{}: \"prediction\" 'v' is for the discrete-time models with loss 'simple' or 'l1'", where);
  if (keras && c.loss != "l1")
    fail("{}: keras-unet64 trains with the Keras chapter's mean absolute error: \"loss\" must be "
         "'l1', got '{}'", where, c.loss);
  auto at_least = [&](std::int64_t v, std::int64_t min, const char* key) {
    if (v < min) fail("{}: \"{}\" must be >= {}, got {}", where, key, min, v);
  };
  at_least(c.timesteps, 2, "timesteps");
  at_least(c.data_size, 1, "data_size");
  at_least(c.steps, 0, "steps");
  at_least(c.batch_size, 1, "batch_size");
  at_least(c.warmup, 0, "warmup");
  at_least(c.log_every, 1, "log_every");
  at_least(c.sample_every, 0, "sample_every");
  at_least(c.checkpoint_every, 0, "checkpoint_every");
  at_least(c.preview_samples, 1, "preview_samples");
  at_least(c.preview_steps, 1, "preview_steps");
  if (!(c.lr > 0)) fail("{}: \"lr\" must be > 0, got {}", where, c.lr);
  if (!(c.weight_decay >= 0)) fail("{}: \"weight_decay\" must be >= 0, got {}", where, c.weight_decay);
  if (!(c.ema_decay >= 0 && c.ema_decay < 1))
    fail("{}: \"ema_decay\" must lie in [0, 1), got {}", where, c.ema_decay);
  if (c.lr_schedule == "cosine" && c.steps > 0 && c.steps <= c.warmup)  // 0: untrained
    fail("{}: the cosine learning-rate schedule needs \"steps\" ({}) > \"warmup\" ({})", where,
         c.steps, c.warmup);
  if (c.preview_steps > c.timesteps && !keras)
    fail("{}: \"preview_steps\" ({}) cannot exceed \"timesteps\" ({})", where, c.preview_steps,
         c.timesteps);
}

// ---- what a config builds -------------------------------------------------------------------

std::shared_ptr<diffusion::DiffusionModel> build_model(const RunConfig& c) {
  const std::string where = fmt::format("the architecture of {}", c.model);
  switch (family_of(c.model)) {
    case Family::Mlp: {
      diffusion::MLPConfig m;
      read_object(c.arch, where, "arch", {}, [&](auto f) { mlp_fields(m, f); });
      return std::make_shared<diffusion::MLP2d>(m, c.model);
    }
    case Family::UNet: {
      diffusion::UNetConfig m = diffusion::unet_config(c.model);
      read_object(c.arch, where, "arch", {}, [&](auto f) { unet_fields(m, f); });
      return std::make_shared<diffusion::UNet>(m, c.model);
    }
    case Family::Keras: {
      diffusion::KerasUNetConfig m;
      read_object(c.arch, where, "arch", {}, [&](auto f) { keras_fields(m, f); });
      return std::make_shared<diffusion::KerasUNet>(m, c.model);
    }
  }
  return nullptr;
}

bool continuous_time(const RunConfig& c) { return c.schedule == "offset-cosine"; }

diffusion::Prediction prediction_of(const RunConfig& c) {
  return c.prediction == "v" ? diffusion::Prediction::V : diffusion::Prediction::Eps;
}

diffusion::EpsModel eps_model_of(const RunConfig& c, const diffusion::Schedule& s,
                                 diffusion::DiffusionModel& model) {
  diffusion::DiffusionModel* m = &model;
  return diffusion::as_eps_model(s, prediction_of(c), [m](const Tensor& x_t, const Tensor& t) {
    return m->forward(x_t, t);
  });
}

diffusion::Schedule build_schedule(const RunConfig& c) {
  if (c.schedule == "linear") return diffusion::Schedule::linear(c.timesteps);  // E1
  if (c.schedule == "cosine") return diffusion::Schedule::cosine(c.timesteps);  // E3
  // E3b sampled at τ = t/T: ᾱ_t = signal(t/T)², β_t = 1 - ᾱ_t/ᾱ_{t-1} with ᾱ_0 = 1 (E2). The
  // first step jumps from the data to the signal rate 0.95 of τ = 0: the Keras chapter's
  // schedule never reaches clean data, which its bound (kiln eval) pays for in L_0.
  std::vector<double> betas;
  double prev = 1;
  for (std::int64_t t = 1; t <= c.timesteps; ++t) {
    const double signal = diffusion::offset_cosine_rates(static_cast<double>(t) / c.timesteps).first;
    betas.push_back(1 - signal * signal / prev);
    prev = signal * signal;
  }
  return diffusion::Schedule::from_betas(betas);
}

diffusion::TrainerOptions trainer_options(const RunConfig& c) {
  return {.optimizer = c.optimizer,
          .lr = c.lr,
          .weight_decay = c.weight_decay,
          .warmup = c.warmup,
          // --steps 0 saves the untrained model: no step ever asks for a learning rate.
          .lr_schedule = c.steps == 0 ? "constant" : c.lr_schedule,
          .total_steps = c.steps,
          .grad_clip = c.grad_clip,
          .ema_decay = c.ema_decay,
          .ema_warmup = c.ema_warmup,
          .loss = c.loss == "weighted" ? diffusion::LossType::Weighted
                  : c.loss == "l1"     ? diffusion::LossType::L1
                                       : diffusion::LossType::Simple,
          .prediction = prediction_of(c)};
}

data::Normalize normalize_mode(const RunConfig& c) {
  if (c.normalize == "signed") return data::Normalize::SignedUnit;
  if (c.normalize == "channel") return data::Normalize::Channel;
  return data::Normalize::None;
}

namespace {

// Images [N, C, H, W] resized (area/bilinear) and centre-cropped to res × res.
data::Dataset fit_images(data::Dataset d, std::int64_t res, std::int64_t channels) {
  if (d.images.size(1) != channels)
    fail("dataset '{}' has {} channels but the model takes {} (set \"arch\": {{\"channels\": {}}})",
         d.name, d.images.size(1), channels, d.images.size(1));
  if (d.images.size(2) == res && d.images.size(3) == res) return d;
  std::vector<Tensor> out;
  for (std::int64_t i = 0; i < d.size(); ++i)
    out.push_back(data::resize_center_crop(d.images.select(0, i), res));
  d.images = stack(out, 0);
  return d;
}

}  // namespace

RunData load_data(const RunConfig& c, std::int64_t heldout, bool need_train) {
  RunData r;
  if (auto set = point_set_of(c)) {
    if (need_train) r.train = data::make_points_dataset(*set, c.data_size, c.data_seed);
    if (heldout > 0) r.heldout = data::make_points_dataset(*set, heldout, c.data_seed + 1);
    return r;
  }
  const std::int64_t res = c.arch.at("res").get<std::int64_t>();
  const std::int64_t channels = c.arch.at("channels").get<std::int64_t>();
  if (c.dataset == "shapes") {
    if (channels != 3) fail("dataset 'shapes' is RGB: the model must take 3 channels, not {}", channels);
    if (need_train) r.train = data::make_shapes(c.data_size, c.data_seed, res);
    if (heldout > 0) r.heldout = data::make_shapes(heldout, c.data_seed + 1, res);
    return r;
  }
  auto first = [](data::Dataset d, std::int64_t n) { return d.slice(0, std::min(n, d.size())); };
  if (c.dataset == "mnist") {
    if (need_train) r.train = fit_images(data::load_mnist_dir(c.data_path, true), res, channels);
    if (heldout > 0)
      r.heldout = fit_images(first(data::load_mnist_dir(c.data_path, false), heldout), res, channels);
  } else if (c.dataset == "cifar10") {
    if (need_train) r.train = fit_images(data::load_cifar10_dir(c.data_path, true), res, channels);
    if (heldout > 0)
      r.heldout = fit_images(first(data::load_cifar10_dir(c.data_path, false), heldout), res, channels);
  } else {  // folder: the last 10% (at least 1 image) is held out
    const data::Dataset all = data::load_image_folder(c.data_path, res, static_cast<int>(channels));
    KILN_CHECK(all.size() >= 2, "dataset 'folder': '{}' holds {} image(s); at least 2 are needed",
               c.data_path, all.size());
    const std::int64_t n_held = std::max<std::int64_t>(1, all.size() / 10);
    r.train = all.slice(0, all.size() - n_held);
    if (heldout > 0) r.heldout = first(all.slice(all.size() - n_held, n_held), heldout);
  }
  return r;
}

}  // namespace kiln::program
