#pragma once
// Training a diffusion model: the reusable part of `kiln train` (EQUATIONS.md E23, E30).
//
//   auto model = diffusion::make_model("ddpm-small");
//   diffusion::Trainer trainer(model, Schedule::linear(), {.lr = 2e-4, .warmup = 5000});
//   data::DataLoader loader(data::make_shapes(10000), {.batch_size = 128,
//                           .random_flip = true, .normalize = data::Normalize::SignedUnit});
//   while (trainer.step_count() < 100000) {
//     TrainStep s = trainer.step(loader.next().images);   // one E23 step, then E30
//   }
//   trainer.save("run/checkpoint.safetensors", {{"loader", ...}});
//
// One step, as Ho et al.'s Algorithm 1 with their training details:
//   1. the loss of E23 on the batch x_0 [B, ...] (diffusion/loss.h):
//        discrete time     t ~ U{1..T}, ε ~ N(0, I), x_t = √ᾱ_t x_0 + √(1-ᾱ_t) ε  (E7),
//                          loss = mean (ε - ε_θ(x_t, t))²                          (E19)
//                          or, for a network that predicts v (E37; Note [Predicting v]),
//                          loss = mean (v - v_θ(x_t, t))²,  v = √ᾱ_t ε - √(1-ᾱ_t) x_0
//        continuous time   τ ~ U[0, 1], E3b rates, the network sees the noise variance,
//                          loss = mean |ε - ε_θ|   (the Keras chapter; keras-unet64)
//   2. backward; clip the gradients' global norm (1 in Ho et al.)
//   3. the optimizer's update with the learning rate of the step (linear warm-up, then
//      constant or cosine decay)
//   4. the EMA of the weights, θ_ema ← m θ_ema + (1 - m) θ                          (E30)
//
// Note [Exact resume]
// Everything a step reads is in the checkpoint or is a pure function of the step
// number: the weights; the optimizer's moments and step counts; the EMA and its number
// of updates; the step number (the learning-rate schedule reads it); and the random
// generator: t, ε and dropout masks all come from the global generator, whose (seed,
// offset) is saved. The batches come from a data::DataLoader whose (epoch, position)
// the caller saves in the checkpoint's metadata (Note [Loader determinism] in
// data/loader.h). So N steps, save, load, M steps leaves bit-identical weights to N + M
// steps straight (tests/program/train_test.cpp checks it through the kiln program).
// Nothing else may draw from the global generator during training: sampling a preview
// grid uses its own Generator.
// Note [Predicting v]
// An ε-network's estimate of the image, x̂_0 = (x_t - √(1-ᾱ_t) ε̂)/√ᾱ_t (E10), divides by
// √ᾱ_t: near t = T (√ᾱ_T ≈ 5e-5 for the cosine schedule) a small error in ε̂ is a huge
// one in x̂_0, and L_simple, which weighs x̂_0's error by SNR_t = ᾱ_t/(1-ᾱ_t) (E8), hardly
// trains the network there, where the sampler decides what the image will show. A
// network that predicts v = √ᾱ_t ε - √(1-ᾱ_t) x_0 (E37; Salimans & Ho 2022) gives
// x̂_0 = √ᾱ_t x_t - √(1-ᾱ_t) v̂ with no division, and its loss weighs x̂_0's error by
// SNR_t + 1, so the noisy end of the chain is trained too. For the samplers and the
// bound, which take ε, as_eps_model converts: ε̂ = √(1-ᾱ_t) x_t + √ᾱ_t v̂ (E37). (On short
// CPU runs of `shapes` it did not beat ε: its samples came out blurrier, the low-noise
// end of the chain weighing less in its loss. Try it on your data.)
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "diffusion/ema.h"
#include "diffusion/loss.h"
#include "diffusion/models.h"
#include "diffusion/posterior.h"
#include "diffusion/schedule.h"
#include "nn/optim.h"

namespace kiln::diffusion {

struct TrainerOptions {
  std::string optimizer = "adam";  // "adam" (Ho et al.) or "adamw" (the Keras chapter)
  double lr = 2e-4;                // the peak learning rate
  double weight_decay = 0;         // AdamW's decoupled decay; Adam's coupled L2
  std::int64_t warmup = 0;         // linear warm-up steps (Ho et al.: 5000)
  // After the warm-up: "constant" (Ho et al.) or "cosine" (decay to 0 at total_steps).
  std::string lr_schedule = "constant";
  std::int64_t total_steps = 0;    // for "cosine"
  double grad_clip = 1.0;          // max global gradient norm; <= 0 turns clipping off
  double ema_decay = kEmaDecayHo;  // m of E30
  bool ema_warmup = false;         // m_n = min(m, (1+n)/(10+n)) (nn/ema.h)
  LossType loss = LossType::Simple;  // discrete time; continuous time uses L1 (Keras)
  // What the network predicts: Eps (Ho et al.) or V (Note [Predicting v]).
  Prediction prediction = Prediction::Eps;
};

// E37: a network that predicts `kind` (ε, v, x_0 or the mean) seen as the ε-model that the
// samplers and the bound take. t are timesteps of `s` (the base schedule).
EpsModel as_eps_model(const Schedule& s, Prediction kind, EpsModel network);

// What one step did.
struct TrainStep {
  double loss = 0;       // the batch's loss (before the update)
  double grad_norm = 0;  // the global gradient norm before clipping
  double lr = 0;         // the learning rate the update used
  bool skipped = false;  // a non-finite gradient: no update was made
};

class Trainer {
 public:
  // The model must be on the device the batches will be on. For continuous-time models
  // (TimeInput::NoiseVariance) `schedule` is not used by step().
  Trainer(std::shared_ptr<DiffusionModel> model, Schedule schedule, TrainerOptions options);

  // E23 (+ clipping, the optimizer, E30) on one normalised batch x0 [B, ...].
  TrainStep step(const Tensor& x0);

  // Steps done so far (restored by load).
  std::int64_t step_count() const { return step_; }
  // The learning rate of the update after `step` updates (warm-up, then the schedule).
  double learning_rate(std::int64_t step) const;

  DiffusionModel& model() { return *model_; }
  std::shared_ptr<DiffusionModel> model_ptr() const { return model_; }
  nn::EMA& ema() { return ema_; }
  optim::Optimizer& optimizer() { return *optimizer_; }
  const Schedule& schedule() const { return schedule_; }
  const TrainerOptions& options() const { return options_; }

  // A checkpoint (nn/checkpoint.h): model, optimizer, EMA, step and the global
  // generator's state, plus the caller's metadata (written atomically).
  void save(const std::filesystem::path& path,
            const std::map<std::string, std::string>& metadata = {});
  // Restores all of it (Note [Exact resume]) and returns the caller's metadata.
  std::map<std::string, std::string> load(const std::filesystem::path& path);

 private:
  std::shared_ptr<DiffusionModel> model_;
  Schedule schedule_;
  TrainerOptions options_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  nn::EMA ema_;
  std::int64_t step_ = 0;
};

}  // namespace kiln::diffusion
