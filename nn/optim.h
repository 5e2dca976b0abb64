#pragma once
// Optimizers, learning-rate schedules and gradient clipping (namespace kiln::optim).
//
//   optim::AdamW opt(model->parameters(), {.lr = 2e-4, .weight_decay = 0.01});
//   for (step = 0; step < steps; ++step) {
//     opt.set_lr(schedule(step));
//     opt.zero_grad();
//     Tensor loss = ...;
//     loss.backward();
//     optim::clip_grad_norm_(model->parameters(), 1.0);
//     opt.step();
//   }
//
// Each optimizer holds the parameter handles it was given (they change in place: Note
// [Parameters change in place] in nn/module.h) and one state per parameter, allocated
// up front. step() runs under NoGradGuard and updates each parameter in one fused pass
// (tensor/cpu/optim.h). A parameter whose .grad is undefined is skipped, and its step
// count does not advance, as in torch.
//
// state_dict() holds everything needed to resume exactly, by parameter index i (the
// order of the list the optimizer was built with):
//   "lr"              float64 scalar
//   "step"            int64 [P]: steps taken by each of the P parameters
//   "exp_avg.i", "exp_avg_sq.i"  (Adam, AdamW)      "momentum_buffer.i"  (SGD, momentum > 0)
#include <cstdint>
#include <functional>
#include <vector>

#include "nn/ordered_dict.h"
#include "tensor/tensor.h"

namespace kiln::optim {

class Optimizer {
 public:
  Optimizer(std::vector<Tensor> params, double lr, const char* name);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Clears the gradients of the parameters (undefined, or zeros when set_to_none is false).
  void zero_grad(bool set_to_none = true);

  double lr() const { return lr_; }
  void set_lr(double lr);
  const std::vector<Tensor>& params() const { return params_; }
  // Steps taken by parameter i (0 before its first update).
  std::int64_t step_count(std::size_t i = 0) const { return steps_.at(i); }

  nn::OrderedDict<Tensor> state_dict() const;
  // Restores what state_dict() returned; names, shapes and dtypes must match exactly
  // (one Error listing every difference otherwise; nothing is changed then).
  void load_state_dict(const nn::OrderedDict<Tensor>& state);

 protected:
  // The per-parameter state tensors by kind ("exp_avg", ...), each a list of P tensors
  // (handles: state_dict aliases them, load_state_dict copies into them).
  using StateLists = std::vector<std::pair<std::string, const std::vector<Tensor>*>>;
  virtual StateLists state_tensors() const = 0;
  // Zeros shaped like each parameter.
  std::vector<Tensor> zeros_like_params() const;
  // The contiguous gradient of parameter i, checked against the parameter; undefined
  // when it has none.
  Tensor grad_of(std::size_t i) const;

  std::vector<Tensor> params_;
  std::vector<std::int64_t> steps_;
  double lr_;
  const char* name_;
};

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0;
  double dampening = 0;
  bool nesterov = false;
  double weight_decay = 0;
};

// torch.optim.SGD: see cpu::sgd_update for the update.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, SGDOptions options);
  SGD(std::vector<Tensor> params, double lr) : SGD(std::move(params), SGDOptions{.lr = lr}) {}
  void step() override;
  const SGDOptions& options() const { return options_; }

 protected:
  StateLists state_tensors() const override;

 private:
  SGDOptions options_;
  std::vector<Tensor> momentum_buffer_;  // empty when momentum == 0
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

// torch.optim.Adam: weight decay is *coupled* (added to the gradient: g ← g + wd·p).
// See cpu::adam_update for the update.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, AdamOptions options = {});
  Adam(std::vector<Tensor> params, double lr) : Adam(std::move(params), AdamOptions{.lr = lr}) {}
  void step() override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled, const char* name);
  StateLists state_tensors() const override;

 private:
  AdamOptions options_;
  bool decoupled_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

// AdamW's options differ from Adam's only in the default weight decay (torch's 0.01).
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

// torch.optim.AdamW: weight decay is *decoupled* (p ← p - lr·wd·p, then the Adam step
// on the raw gradient).
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, AdamWOptions o = {})
      : Adam(std::move(params),
             AdamOptions{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps,
                         .weight_decay = o.weight_decay},
             /*decoupled=*/true, "AdamW") {}
  AdamW(std::vector<Tensor> params, double lr)
      : AdamW(std::move(params), AdamWOptions{.lr = lr}) {}
};

// ---- learning-rate schedules ------------------------------------------------------------
// A schedule is a function of the step (0, 1, 2, ...: the number of updates done so far)
// that returns the learning rate for the next update:
//   opt.set_lr(schedule(step));  opt.step();
using LRSchedule = std::function<double(std::int64_t step)>;

// Linear warm-up, then constant: lr(s) = base_lr · min(1, (s + 1) / warmup_steps).
// The first update already uses base_lr / warmup_steps (never a wasted zero step).
struct LinearWarmup {
  double base_lr;
  std::int64_t warmup_steps;
  double operator()(std::int64_t step) const;
};

// Cosine annealing from base_lr to min_lr over total_steps (torch's CosineAnnealingLR),
// then min_lr:  lr(s) = min_lr + (base_lr - min_lr) · (1 + cos(π · s / total_steps)) / 2.
struct CosineAnnealing {
  double base_lr;
  std::int64_t total_steps;
  double min_lr = 0;
  double operator()(std::int64_t step) const;
};

// LinearWarmup for warmup_steps, then cosine from base_lr down to min_lr at total_steps
// (the schedule most diffusion and transformer recipes use).
struct WarmupCosine {
  double base_lr;
  std::int64_t warmup_steps;
  std::int64_t total_steps;
  double min_lr = 0;
  double operator()(std::int64_t step) const;
};

// ---- gradient clipping ------------------------------------------------------------------
// Total L2 norm over every gradient, ‖g‖ = √(Σ_p Σ_i g_pi²) (computed in float64); when
// it exceeds max_norm every gradient is scaled in place by max_norm / (‖g‖ + 1e-6), as in
// torch.nn.utils.clip_grad_norm_. Returns the norm *before* clipping. Parameters without
// a gradient are skipped. A non-finite norm leaves the gradients untouched (and is
// returned, so the caller can skip the step).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);

}  // namespace kiln::optim
