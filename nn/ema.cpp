#include "nn/ema.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"

namespace kiln::nn {

namespace {
OrderedDict<Tensor> clone_all(const OrderedDict<Tensor>& dict) {
  NoGradGuard no_grad;
  OrderedDict<Tensor> out;
  for (const auto& [name, t] : dict) out.insert(name, t.detach().clone());
  return out;
}
}  // namespace

EMA::EMA(const Module& model, double decay, bool warmup) : decay_(decay), warmup_(warmup) {
  KILN_CHECK(decay >= 0 && decay <= 1, "EMA: decay must lie in [0, 1], got {}", decay);
  shadow_ = clone_all(model.state_dict());
  for (const auto& [name, p] : model.named_parameters()) is_parameter_.insert(name);
}

double EMA::current_decay() const {
  if (!warmup_) return decay_;
  const double n = static_cast<double>(num_updates_);
  return std::min(decay_, (1.0 + n) / (10.0 + n));
}

void EMA::check_model(const Module& model, const char* what) const {
  const std::string diff = compare_state_dicts(shadow_, model.state_dict());
  KILN_CHECK(diff.empty(), "EMA.{}: the model does not match the EMA's shadow: {}", what, diff);
}

// [region ema_update]
void EMA::update(const Module& model) {
  check_model(model, "update");
  NoGradGuard no_grad;
  const double m = current_decay();
  for (const auto& [name, theta] : model.state_dict()) {
    Tensor ema = shadow_.at(name);
    if (ema.device() != theta.device()) move_in_place(ema, theta.device());
    if (is_parameter_.count(name)) {
      ema.copy_(ema * m + theta * (1.0 - m));  // E30
    } else {
      ema.copy_(theta);
    }
  }
  ++num_updates_;
}
// [endregion]

void EMA::copy_to(Module& model) const {
  check_model(model, "copy_to");
  model.load_state_dict(shadow_);
}

void EMA::apply_to(Module& model) {
  KILN_CHECK(backup_.empty(), "EMA.apply_to: the EMA weights are already applied; call "
                              "restore(model) first");
  check_model(model, "apply_to");
  backup_ = clone_all(model.state_dict());
  model.load_state_dict(shadow_);
}

void EMA::restore(Module& model) {
  KILN_CHECK(!backup_.empty(), "EMA.restore: nothing to restore; call apply_to(model) first");
  model.load_state_dict(backup_);
  backup_ = {};
}

OrderedDict<Tensor> EMA::state_dict() const {
  OrderedDict<Tensor> out;
  for (const auto& [name, t] : shadow_) out.insert("shadow." + name, t.detach());
  out.insert("num_updates",
             Tensor::from_vector(std::vector<std::int64_t>{num_updates_}, {}, {.dtype = kInt64}));
  return out;
}

void EMA::load_state_dict(const OrderedDict<Tensor>& state) {
  const OrderedDict<Tensor> own = state_dict();
  const std::string diff = compare_state_dicts(own, state);
  KILN_CHECK(diff.empty(), "EMA.load_state_dict: {}", diff);
  const auto n = state.at("num_updates").to_vector<std::int64_t>().at(0);
  KILN_CHECK(n >= 0, "EMA.load_state_dict: negative num_updates {}", n);
  copy_state_into(own, state);
  num_updates_ = n;
}

}  // namespace kiln::nn
