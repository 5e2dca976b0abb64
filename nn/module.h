#pragma once
// nn::Module: the base of every layer and of every network a user writes.
//
// A module owns three ordered lists, each entry with a name:
//   parameters  leaf tensors with requires_grad (what the optimizer updates),
//   buffers     tensors that are state but not trained (BatchNorm's running mean, ...),
//   children    submodules, held as std::shared_ptr.
// Names nest with dots, as in PyTorch: a Linear registered as "fc1" inside a network
// contributes "fc1.weight" and "fc1.bias" to named_parameters() and state_dict().
//
// A network is a struct that registers its parts in member initialisers:
//
//   struct MLP : nn::Module {
//     std::shared_ptr<nn::Linear> fc1 =
//         register_module("fc1", std::make_shared<nn::Linear>(2, 16));
//     std::shared_ptr<nn::Linear> fc2 =
//         register_module("fc2", std::make_shared<nn::Linear>(16, 1));
//     Tensor forward(const Tensor& x) override {
//       return fc2->forward(fc1->forward(x).relu());
//     }
//   };
//   auto model = std::make_shared<MLP>();
//   optim::AdamW opt(model->parameters(), 1e-3);
//
// Note [Parameters change in place]
// register_parameter returns the Tensor handle the module keeps, and members such as
// Linear::weight hold that same handle. Everything that changes a parameter afterwards
// changes it *in place* so that every handle (the member, the optimizer's list, the
// EMA) keeps seeing it: load_state_dict copies values into the existing storage, and
// to(device) / to(dtype) swap the storage inside the parameter's TensorImpl (what
// PyTorch's `param.data = ...` does). So an optimizer built before model->to(cuda)
// still updates the model's weights.
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "nn/ordered_dict.h"
#include "tensor/tensor.h"

namespace kiln::nn {

// What load_state_dict reports: names present in only one of the two dicts.
struct LoadResult {
  std::vector<std::string> missing_keys;     // in the module, not in the dict
  std::vector<std::string> unexpected_keys;  // in the dict, not in the module
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // A module owns its parameters; copying one would silently alias them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The one-input forward that Sequential chains. Layers override it; calling it on a
  // module that does not throws NotImplemented naming the module.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // The type's name for printing ("Linear", "MyNet"): the C++ class name without
  // namespaces, or what set_name gave.
  std::string name() const;
  void set_name(std::string name) { name_ = std::move(name); }
  // The text inside Linear(...) in str(): "in_features=2, out_features=16, bias=true".
  virtual std::string extra_repr() const { return ""; }

  // ---- registration (call from constructors or member initialisers) -------------
  // Registers `tensor` as a parameter: it must be a floating leaf; requires_grad is
  // switched on. Returns the handle the module keeps (Note [Parameters change in place]).
  Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  // Registers a buffer. Non-persistent buffers are moved by to() but left out of
  // state_dict().
  Tensor register_buffer(const std::string& name, Tensor tensor, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- traversal ---------------------------------------------------------------------
  // Dotted names, this module's own entries first, then each child's in registration
  // order (PyTorch's order). recurse = false: only this module's own entries. A tensor
  // reachable under two names (a shared submodule) is listed once, under the first.
  OrderedDict<Tensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  OrderedDict<Tensor> named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  OrderedDict<std::shared_ptr<Module>> named_children() const { return children_; }
  std::vector<std::shared_ptr<Module>> children() const { return children_.values(); }
  // Every descendant (not this module itself) with its dotted name, depth first.
  OrderedDict<std::shared_ptr<Module>> named_modules() const;
  // Calls fn on this module and then on every descendant, depth first.
  void apply(const std::function<void(Module&)>& fn);

  // ---- mode, devices, gradients ---------------------------------------------------
  // Training mode (the default) or evaluation mode, for this module and all below it:
  // Dropout and BatchNorm2d behave differently in the two.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Moves every parameter and buffer (and existing gradients) to `device`, in place;
  // parameters stay leaves with requires_grad.
  Module& to(Device device);
  // Converts every floating parameter and buffer to `dtype`, in place (int64 buffers
  // such as BatchNorm2d's num_batches_tracked keep their dtype).
  Module& to(DType dtype);
  // Clears every parameter's gradient: to undefined (the default, as torch), or to
  // zeros when set_to_none is false.
  void zero_grad(bool set_to_none = true);

  // ---- state ----------------------------------------------------------------------
  // Parameters and persistent buffers by dotted name (detached handles that share the
  // module's storage; clone them to keep a snapshot).
  OrderedDict<Tensor> state_dict() const;
  // Copies `dict` into the module's tensors (in place). Shapes and dtypes must match
  // exactly; strict = true also requires the same set of names. On any mismatch it
  // throws one Error listing every difference and changes nothing.
  LoadResult load_state_dict(const OrderedDict<Tensor>& dict, bool strict = true);

  // Number of parameter elements (all, or only those with requires_grad).
  std::int64_t num_parameters(bool trainable_only = false) const;
  // A tree of the module: each layer with its parameter count, then the total.
  //   MLP(
  //     (fc1): Linear(in_features=2, out_features=16, bias=true)  # 48
  //     ...
  //   )
  //   Total parameters: 65 (65 trainable)
  std::string str() const;

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect(const std::string& prefix, bool params, bool recurse, bool persistent_only,
               OrderedDict<Tensor>& out) const;
  void str_into(std::string& out, int indent) const;

  std::string name_;
  bool training_ = true;
  OrderedDict<Tensor> parameters_;
  OrderedDict<Tensor> buffers_;
  std::set<std::string> non_persistent_;
  OrderedDict<std::shared_ptr<Module>> children_;
};

// Compares a state dict with the one expected (names, shapes, dtypes). Returns "" when
// `given` can be loaded, else one message listing every difference, e.g.
//   missing keys: fc2.bias; unexpected keys: fc3.weight;
//   shape of fc1.weight: [8, 2] in the dict vs [16, 2] expected
// strict = false ignores missing and unexpected names. Used by every load_state_dict
// (modules, optimizers, EMA) and by Checkpoint.
std::string compare_state_dicts(const OrderedDict<Tensor>& expected,
                                const OrderedDict<Tensor>& given, bool strict = true,
                                LoadResult* result = nullptr);

// Copies `given` into `expected`'s tensors (same names), in place, without autograd.
// Call compare_state_dicts first.
void copy_state_into(const OrderedDict<Tensor>& expected, const OrderedDict<Tensor>& given);

// Swaps t's storage for a copy on `device` / in `dtype`, keeping the TensorImpl (and so
// every handle, requires_grad and .grad) — Note [Parameters change in place].
void move_in_place(const Tensor& t, Device device);
void convert_in_place(const Tensor& t, DType dtype);

}  // namespace kiln::nn
