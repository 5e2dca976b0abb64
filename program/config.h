#pragma once
// The run configuration of `kiln train`: which model, which data, how to train. It is
// resolved in three layers, each overriding the one before:
//   1. the model's defaults            defaults_for("ddpm-small"), ...
//   2. a JSON config file              kiln train --config configs/shapes-quick.json
//   3. command-line options            kiln train --steps 2000 --lr 1e-3
// and saved as config.json in the run folder (and inside every checkpoint), so a run can
// be repeated with `kiln train --config runs/x/config.json` and resumed exactly.
//
// The JSON is one flat object whose keys are the fields of RunConfig below (the
// command-line options are the same names with dashes: batch_size <-> --batch-size),
// plus "arch", the model's architecture (every field of UNetConfig, MLPConfig or
// KerasUNetConfig; a config file may give only the fields it changes). Unknown keys and
// values of the wrong type are errors that name the key and the file.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "data/loader.h"
#include "data/points.h"
#include "diffusion/models.h"
#include "diffusion/schedule.h"
#include "diffusion/train.h"

namespace kiln::program {

struct RunConfig {
  // ---- the model
  std::string model = "ddpm-small";  // a name of diffusion::model_names()
  nlohmann::json arch = nlohmann::json::object();  // its architecture (resolved: every field)
  // ---- the data
  std::string dataset = "shapes";  // shapes | swiss-roll | moons | gaussians8 | checkerboard
                                   // | mnist | cifar10 | folder
  std::string data_path;           // the folder of mnist, cifar10 and folder data
  std::int64_t data_size = 20000;  // items generated for training (built-in sets)
  std::uint64_t data_seed = 0;     // built-in sets: training data; held-out data uses seed + 1
  std::string normalize = "signed";  // E31: signed ([0,1] -> [-1,1]) | channel | none
  bool flip = true;                  // random horizontal flips (images)
  // ---- the diffusion process
  std::string schedule = "linear";  // linear (E1) | cosine (E3) | offset-cosine (E3b, continuous)
  std::int64_t timesteps = 1000;    // T
  // ---- training (diffusion/train.h)
  std::int64_t steps = 20000;
  std::int64_t batch_size = 128;
  std::string optimizer = "adam";  // adam | adamw
  double lr = 2e-4;
  double weight_decay = 0;
  std::int64_t warmup = 5000;
  std::string lr_schedule = "constant";  // constant | cosine (to 0 at `steps`)
  double grad_clip = 1.0;                // <= 0: none
  double ema_decay = 0.9999;             // E30's m
  bool ema_warmup = false;
  std::string loss = "simple";  // simple (E19) | weighted (E18) | l1 (the Keras chapter)
  std::string prediction = "eps";  // what the network predicts: eps | v (E37, Note [Predicting v])
  std::uint64_t seed = 0;       // weights, t, ε, dropout, data order
  // ---- what training writes
  std::int64_t log_every = 50;          // a metrics line (and the loss curve) every N steps
  std::int64_t sample_every = 1000;     // a preview grid every N steps (0: only at the end)
  std::int64_t checkpoint_every = 1000; // a checkpoint every N steps (and at the end)
  std::int64_t preview_samples = 64;    // images (points: 2000) in a preview
  std::int64_t preview_steps = 50;      // DDIM steps of a preview (E26)
};

// The defaults of layer 1 for a model name (throws for an unknown one).
RunConfig defaults_for(const std::string& model);

// JSON round trip: from_json(to_json(c)) == c. `where` names the source in errors
// ("configs/x.json"). from_json starts from defaults_for(j["model"]) and requires
// nothing else; it resolves "arch" against the model's named architecture and checks
// every value (validate).
nlohmann::json to_json(const RunConfig& c);
RunConfig from_json(const nlohmann::json& j, const std::string& where);
// Layer 2 and 3 merged over layer 1: `file` (may be null) then `cli` (the options given).
RunConfig resolve_config(const nlohmann::json& file, const nlohmann::json& cli,
                         const std::string& file_name);
// Reads a JSON file (errors name the file: missing, not JSON, not an object).
nlohmann::json read_json_file(const std::filesystem::path& path);
// Throws naming the key when a value is out of range or unknown.
void validate(const RunConfig& c, const std::string& where);

// ---- what a config builds -----------------------------------------------------------------
// The network of the config (weights drawn from the global generator: seed it first).
std::shared_ptr<diffusion::DiffusionModel> build_model(const RunConfig& c);
// The discrete schedule (E1, E3) of a discrete-time model; for a continuous-time model
// (offset-cosine, E3b) its rates sampled at t/T, t = 1..T (ᾱ_0 = 1): what the bound of
// `kiln eval` integrates over.
diffusion::Schedule build_schedule(const RunConfig& c);
bool continuous_time(const RunConfig& c);
diffusion::Prediction prediction_of(const RunConfig& c);
// The run's network as the ε-model of the samplers and the bound (E37 for v-prediction).
diffusion::EpsModel eps_model_of(const RunConfig& c, const diffusion::Schedule& s,
                                 diffusion::DiffusionModel& model);
diffusion::TrainerOptions trainer_options(const RunConfig& c);
data::Normalize normalize_mode(const RunConfig& c);

// The data of a run: the training set and a held-out set (built-in sets: `heldout`
// items from seed data_seed + 1; mnist and cifar10: their test files; folder: the last
// 10% of the images, which training then does not use). Images come at the model's
// resolution, in [0, 1]; points as they are.
struct RunData {
  data::Dataset train, heldout;
};
RunData load_data(const RunConfig& c, std::int64_t heldout = 1000, bool need_train = true);
bool is_point_set(const std::string& dataset);
std::optional<data::PointSet> point_set_of(const RunConfig& c);

}  // namespace kiln::program
