#include "nn/optim.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "nn/module.h"
#include "cuda/optim.h"
#include "tensor/cpu/optim.h"

namespace kiln::optim {

// ---- Optimizer --------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> params, double lr, const char* name)
    : params_(std::move(params)), steps_(params_.size(), 0), lr_(lr), name_(name) {
  KILN_CHECK(!params_.empty(), "{}: got an empty parameter list", name_);
  KILN_CHECK(lr >= 0 && std::isfinite(lr), "{}: invalid learning rate {}", name_, lr);
  std::set<const TensorImpl*> seen;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    KILN_CHECK(p.defined(), "{}: parameter {} is undefined", name_, i);
    KILN_CHECK(is_floating(p.dtype()), "{}: parameter {} has dtype {}; expected a floating one",
               name_, i, p.dtype());
    KILN_CHECK(p.is_leaf(), "{}: parameter {} (shape {}) is not a leaf tensor", name_, i,
               shape_str(p.shape()));
    KILN_CHECK(seen.insert(p.impl()).second, "{}: parameter {} (shape {}) appears twice", name_,
               i, shape_str(p.shape()));
  }
}

void Optimizer::set_lr(double lr) {
  KILN_CHECK(lr >= 0 && std::isfinite(lr), "{}: invalid learning rate {}", name_, lr);
  lr_ = lr;
}

void Optimizer::zero_grad(bool set_to_none) {
  for (auto& p : params_) {
    if (set_to_none) {
      p.set_grad({});
    } else if (p.grad().defined()) {
      p.grad().zero_();
    }
  }
}

std::vector<Tensor> Optimizer::zeros_like_params() const {
  std::vector<Tensor> out;
  out.reserve(params_.size());
  for (const auto& p : params_) out.push_back(Tensor::zeros_like(p));
  return out;
}

Tensor Optimizer::grad_of(std::size_t i) const {
  const Tensor& p = params_[i];
  Tensor g = p.grad();
  if (!g.defined()) return g;
  KILN_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
             "{}: parameter {} is {} {} on {} but its gradient is {} {} on {}", name_, i,
             shape_str(p.shape()), p.dtype(), p.device(), shape_str(g.shape()), g.dtype(),
             g.device());
  KILN_CHECK(p.is_contiguous(), "{}: parameter {} (shape {}) is not contiguous", name_, i,
             shape_str(p.shape()));
  return g.detach().contiguous();
}

nn::OrderedDict<Tensor> Optimizer::state_dict() const {
  nn::OrderedDict<Tensor> out;
  out.insert("lr", Tensor::scalar(lr_, {.dtype = kFloat64}));
  out.insert("step", Tensor::from_vector(steps_, {static_cast<std::int64_t>(steps_.size())},
                                         {.dtype = kInt64}));
  for (const auto& [kind, list] : state_tensors())
    for (std::size_t i = 0; i < list->size(); ++i)
      out.insert(fmt::format("{}.{}", kind, i), (*list)[i].detach());
  return out;
}

void Optimizer::load_state_dict(const nn::OrderedDict<Tensor>& state) {
  const nn::OrderedDict<Tensor> own = state_dict();
  const std::string diff = nn::compare_state_dicts(own, state, /*strict=*/true);
  KILN_CHECK(diff.empty(), "{}.load_state_dict: {}", name_, diff);
  const double lr = state.at("lr").item();
  KILN_CHECK(lr >= 0 && std::isfinite(lr), "{}.load_state_dict: invalid learning rate {}", name_,
             lr);
  const auto steps = state.at("step").to_vector<std::int64_t>();
  for (std::size_t i = 0; i < steps.size(); ++i)
    KILN_CHECK(steps[i] >= 0, "{}.load_state_dict: negative step count {} for parameter {}",
               name_, steps[i], i);
  nn::copy_state_into(own, state);  // the state tensors, in place
  lr_ = lr;
  steps_ = steps;
}

namespace {

// State made before model->to(device / dtype) follows the parameter (Note [Parameters
// change in place] in nn/module.h).
void follow_param(const Tensor& state, const Tensor& p) {
  if (state.device() != p.device()) nn::move_in_place(state, p.device());
  if (state.dtype() != p.dtype()) nn::convert_in_place(state, p.dtype());
}

}  // namespace

// ---- SGD --------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, SGDOptions options)
    : Optimizer(std::move(params), options.lr, "SGD"), options_(options) {
  KILN_CHECK(options.momentum >= 0, "SGD: invalid momentum {}", options.momentum);
  KILN_CHECK(options.weight_decay >= 0, "SGD: invalid weight_decay {}", options.weight_decay);
  KILN_CHECK(!options.nesterov || (options.momentum > 0 && options.dampening == 0),
             "SGD: nesterov momentum requires momentum > 0 and dampening = 0");
  if (options.momentum != 0) momentum_buffer_ = zeros_like_params();
}

Optimizer::StateLists SGD::state_tensors() const {
  if (momentum_buffer_.empty()) return {};
  return {{"momentum_buffer", &momentum_buffer_}};
}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = grad_of(i);
    if (!g.defined()) continue;
    const Tensor& p = params_[i];
    const bool first_step = steps_[i] == 0;
    ++steps_[i];
    if (!momentum_buffer_.empty()) follow_param(momentum_buffer_[i], p);
    // Note [Device dispatch] (autograd/ops/common.h): p, g and the state share a device.
    dispatch_floating(p.dtype(), "SGD", [&]<class T>() {
      auto update = p.device().is_cpu() ? &cpu::sgd_update<T> : &cuda::sgd_update<T>;
      T* buf = momentum_buffer_.empty() ? nullptr : static_cast<T*>(momentum_buffer_[i].raw_data());
      update(static_cast<T*>(p.raw_data()), static_cast<const T*>(g.raw_data()), buf, p.numel(),
             lr_, o.momentum, o.dampening, o.nesterov, o.weight_decay, first_step);
    });
  }
}

// ---- Adam / AdamW -----------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam(std::move(params), options, /*decoupled=*/false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, AdamOptions options, bool decoupled, const char* name)
    : Optimizer(std::move(params), options.lr, name), options_(options), decoupled_(decoupled) {
  KILN_CHECK(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1,
             "{}: betas must lie in [0, 1), got ({}, {})", name, options.beta1, options.beta2);
  KILN_CHECK(options.eps >= 0, "{}: invalid eps {}", name, options.eps);
  KILN_CHECK(options.weight_decay >= 0, "{}: invalid weight_decay {}", name,
             options.weight_decay);
  exp_avg_ = zeros_like_params();
  exp_avg_sq_ = zeros_like_params();
}

Optimizer::StateLists Adam::state_tensors() const {
  return {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
}

void Adam::step() {
  NoGradGuard no_grad;
  const AdamOptions& o = options_;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const Tensor g = grad_of(i);
    if (!g.defined()) continue;
    const Tensor& p = params_[i];
    const std::int64_t step = ++steps_[i];
    follow_param(exp_avg_[i], p);
    follow_param(exp_avg_sq_[i], p);
    // Note [Device dispatch] (autograd/ops/common.h): p, g and the state share a device.
    dispatch_floating(p.dtype(), name_, [&]<class T>() {
      auto update = p.device().is_cpu() ? &cpu::adam_update<T> : &cuda::adam_update<T>;
      update(static_cast<T*>(p.raw_data()), static_cast<const T*>(g.raw_data()),
             static_cast<T*>(exp_avg_[i].raw_data()), static_cast<T*>(exp_avg_sq_[i].raw_data()),
             p.numel(), lr_, o.beta1, o.beta2, o.eps, o.weight_decay, decoupled_, step);
    });
  }
}

// ---- schedules --------------------------------------------------------------------

double LinearWarmup::operator()(std::int64_t step) const {
  KILN_CHECK(step >= 0, "LinearWarmup: negative step {}", step);
  if (warmup_steps <= 0 || step + 1 >= warmup_steps) return base_lr;
  return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
}

double CosineAnnealing::operator()(std::int64_t step) const {
  KILN_CHECK(step >= 0, "CosineAnnealing: negative step {}", step);
  if (total_steps <= 0 || step >= total_steps) return min_lr;
  const double progress = static_cast<double>(step) / static_cast<double>(total_steps);
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
}

double WarmupCosine::operator()(std::int64_t step) const {
  KILN_CHECK(step >= 0, "WarmupCosine: negative step {}", step);
  if (step < warmup_steps) return LinearWarmup{base_lr, warmup_steps}(step);
  return CosineAnnealing{base_lr, total_steps - warmup_steps, min_lr}(step - warmup_steps);
}

// ---- clipping ---------------------------------------------------------------------

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  KILN_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be non-negative, got {}", max_norm);
  NoGradGuard no_grad;
  // Σ ||g||² in float64, summed on the gradients' device(s) and read back once per
  // device: on a GPU that is one synchronisation instead of one per parameter.
  std::vector<Tensor> per_device;  // running sums, one per device met
  for (const auto& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor sq = g.detach().to(kFloat64).square().sum();
    auto it = std::find_if(per_device.begin(), per_device.end(),
                           [&](const Tensor& s) { return s.device() == sq.device(); });
    if (it == per_device.end()) per_device.push_back(sq);
    else *it = *it + sq;
  }
  double sum_sq = 0;
  for (const auto& s : per_device) sum_sq += s.item();
  const double total = std::sqrt(sum_sq);
  if (!std::isfinite(total)) return total;
  const double coef = max_norm / (total + 1e-6);
  if (coef >= 1) return total;
  for (const auto& p : params) {
    Tensor g = p.grad();
    if (g.defined()) g.copy_(g.detach() * coef);
  }
  return total;
}

}  // namespace kiln::optim
