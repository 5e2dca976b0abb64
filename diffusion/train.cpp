#include "diffusion/train.h"

#include <cmath>
#include <limits>

#include "diffusion/forward.h"
#include "nn/checkpoint.h"
#include "tensor/error.h"

namespace kiln::diffusion {

namespace {

std::unique_ptr<optim::Optimizer> make_optimizer(const DiffusionModel& model,
                                                 const TrainerOptions& o) {
  if (o.optimizer == "adam")
    return std::make_unique<optim::Adam>(model.parameters(),
                                         optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  if (o.optimizer == "adamw")
    return std::make_unique<optim::AdamW>(model.parameters(),
                                          optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  fail("Trainer: unknown optimizer '{}' (known: adam, adamw)", o.optimizer);
}

}  // namespace

Trainer::Trainer(std::shared_ptr<DiffusionModel> model, Schedule schedule, TrainerOptions options)
    : model_(std::move(model)),
      schedule_(std::move(schedule)),
      options_(std::move(options)),
      optimizer_(make_optimizer(*model_, options_)),
      ema_(*model_, options_.ema_decay, options_.ema_warmup) {
  KILN_CHECK(options_.lr > 0, "Trainer: the learning rate must be > 0, got {}", options_.lr);
  KILN_CHECK(options_.warmup >= 0, "Trainer: warmup must be >= 0, got {}", options_.warmup);
  KILN_CHECK(options_.lr_schedule == "constant" || options_.lr_schedule == "cosine",
             "Trainer: unknown lr_schedule '{}' (known: constant, cosine)", options_.lr_schedule);
  KILN_CHECK(options_.lr_schedule != "cosine" || options_.total_steps > options_.warmup,
             "Trainer: the cosine schedule needs total_steps ({}) > warmup ({})",
             options_.total_steps, options_.warmup);
  KILN_CHECK(options_.prediction == Prediction::Eps || options_.prediction == Prediction::V,
             "Trainer: a network can be trained to predict eps or v");
  KILN_CHECK(options_.prediction == Prediction::Eps || options_.loss != LossType::Weighted,
             "Trainer: the lambda_t weights of E18 are for eps-prediction");
  KILN_CHECK(options_.ema_decay >= 0 && options_.ema_decay < 1,
             "Trainer: ema_decay must lie in [0, 1), got {}", options_.ema_decay);
}

double Trainer::learning_rate(std::int64_t step) const {
  if (options_.lr_schedule == "cosine")
    return optim::WarmupCosine{options_.lr, options_.warmup, options_.total_steps}(step);
  if (options_.warmup > 0) return optim::LinearWarmup{options_.lr, options_.warmup}(step);
  return options_.lr;
}

TrainStep Trainer::step(const Tensor& x0) {
  TrainStep out;
  model_->train();
  optimizer_->zero_grad();

  // 1. E23: the loss of one batch. Every draw (t, ε, dropout) is from the global
  //    generator (Note [Exact resume]).
  Tensor loss;
  if (model_->time_input() == TimeInput::Timestep && options_.prediction == Prediction::V) {
    // E23 with the target v of E37 (Note [Predicting v]).
    const Tensor t = sample_timesteps(x0.size(0), schedule_.T, nullptr, x0.device());
    const Tensor eps = Tensor::randn(x0.shape(), {.dtype = x0.dtype(), .device = x0.device()});
    const Tensor x_t = q_sample(schedule_, x0, t, eps);  // E7
    const Tensor v = v_from_eps(schedule_, x0, t, eps);  // E37
    const Tensor v_pred = model_->forward(x_t, schedule_.base_timesteps(t));
    loss = options_.loss == LossType::L1 ? l1_simple(v, v_pred) : l_simple(v, v_pred);
  } else if (model_->time_input() == TimeInput::Timestep) {
    const EpsModel eps_model = [this](const Tensor& x_t, const Tensor& t) {
      return model_->forward(x_t, t);
    };
    loss = training_loss(schedule_, eps_model, x0, nullptr, {.loss = options_.loss}).loss;
  } else {
    // The Keras chapter: τ ~ U[0, 1], E3b rates, the network sees the noise variance.
    const RateModel rate_model = [this](const Tensor& x_t, const Tensor& noise_variance) {
      return model_->forward(x_t, noise_variance);
    };
    loss = training_loss_continuous(rate_model, x0, nullptr, LossType::L1).loss;
  }
  out.loss = loss.item();

  // 2. Backward and clipping. A non-finite norm (a diverging run) skips the update
  //    rather than writing NaN into the weights and the EMA.
  loss.backward();
  out.grad_norm = optim::clip_grad_norm_(
      model_->parameters(),
      options_.grad_clip > 0 ? options_.grad_clip : std::numeric_limits<double>::infinity());
  out.lr = learning_rate(step_);
  if (!std::isfinite(out.grad_norm) || !std::isfinite(out.loss)) {
    out.skipped = true;
  } else {
    // 3. The update with this step's learning rate.
    optimizer_->set_lr(out.lr);
    optimizer_->step();
    // 4. E30  θ_ema ← m θ_ema + (1 - m) θ
    ema_.update(*model_);
  }
  optimizer_->zero_grad();
  ++step_;
  return out;
}

EpsModel as_eps_model(const Schedule& s, Prediction kind, EpsModel network) {
  if (kind == Prediction::Eps) return network;
  return [s, kind, network = std::move(network)](const Tensor& x_t, const Tensor& t) {
    const Tensor pred = network(x_t, t);
    return kind == Prediction::V ? eps_from_v(s, x_t, t, pred)  // E37
                                 : predictions_from(s, kind, pred, x_t, t).eps;
  };
}

void Trainer::save(const std::filesystem::path& path,
                   const std::map<std::string, std::string>& metadata) {
  nn::Checkpoint ckpt{.model = model_.get(),
                      .optimizer = optimizer_.get(),
                      .ema = &ema_,
                      .generator = &default_generator()};
  ckpt.save(path, step_, metadata);
}

std::map<std::string, std::string> Trainer::load(const std::filesystem::path& path) {
  nn::Checkpoint ckpt{.model = model_.get(),
                      .optimizer = optimizer_.get(),
                      .ema = &ema_,
                      .generator = &default_generator()};
  const nn::Checkpoint::Loaded loaded = ckpt.load(path);
  step_ = loaded.step;
  return loaded.metadata;
}

}  // namespace kiln::diffusion
