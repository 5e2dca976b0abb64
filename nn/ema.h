#pragma once
// nn::EMA: an exponential moving average of a model's weights (E30), the weights a
// diffusion model samples with.
//
//   nn::EMA ema(*model, 0.999);        // shadow = a copy of the model's state
//   ... opt.step(); ema.update(*model);   after every optimizer step
//   {
//     nn::EMA::Applied use(ema, *model);  // the model now holds the EMA weights
//     sample(*model);
//   }                                     // the training weights are back
//
// The shadow holds every entry of model.state_dict(): parameters follow E30, buffers
// (BatchNorm's running statistics) are copied as they are.
#include <cstdint>
#include <set>
#include <string>

#include "nn/module.h"

namespace kiln::nn {

class EMA {
 public:
  // decay is m in E30. warmup = true uses m_n = min(m, (1 + n) / (10 + n)) at the n-th
  // update (n = 0, 1, ...), so an early average is not dominated by the initial weights
  // (TensorFlow's ExponentialMovingAverage with num_updates); false uses m throughout.
  explicit EMA(const Module& model, double decay = 0.999, bool warmup = false);

  // E30  θ_ema ← m θ_ema + (1 - m) θ
  //      \theta_{\mathrm{ema}} \leftarrow m\,\theta_{\mathrm{ema}} + (1 - m)\,\theta
  // for every parameter; buffers are copied. The model must have the same state names,
  // shapes and dtypes as the one the EMA was made from.
  void update(const Module& model);

  // Writes the shadow weights into the model for good.
  void copy_to(Module& model) const;
  // Saves the model's own weights, then writes the shadow into it ...
  void apply_to(Module& model);
  // ... and puts the saved weights back (apply_to must come first).
  void restore(Module& model);
  // apply_to in the constructor, restore in the destructor.
  class Applied {
   public:
    Applied(EMA& ema, Module& model) : ema_(ema), model_(model) { ema_.apply_to(model_); }
    ~Applied() { ema_.restore(model_); }
    Applied(const Applied&) = delete;
    Applied& operator=(const Applied&) = delete;

   private:
    EMA& ema_;
    Module& model_;
  };

  double decay() const { return decay_; }
  // The m the next update will use.
  double current_decay() const;
  std::int64_t num_updates() const { return num_updates_; }
  // The averaged weights by the model's state_dict names.
  const OrderedDict<Tensor>& shadow() const { return shadow_; }

  // "shadow.<name>" for each shadow tensor and "num_updates" (int64 scalar).
  OrderedDict<Tensor> state_dict() const;
  // Names, shapes and dtypes must match exactly (one Error listing the differences).
  void load_state_dict(const OrderedDict<Tensor>& state);

 private:
  void check_model(const Module& model, const char* what) const;

  double decay_;
  bool warmup_;
  std::int64_t num_updates_ = 0;
  OrderedDict<Tensor> shadow_;
  std::set<std::string> is_parameter_;
  OrderedDict<Tensor> backup_;  // the model's weights while apply_to is in effect
};

}  // namespace kiln::nn
