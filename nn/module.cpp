#include "nn/module.h"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "autograd/grad_mode.h"
#include "tensor/error.h"

namespace kiln::nn {

namespace {

// "kiln::nn::Linear" -> "Linear", "(anonymous namespace)::Net" -> "Net"; template
// arguments keep their namespaces.
std::string short_type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string full = status == 0 && demangled ? demangled : type.name();
  std::free(demangled);
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    const char c = full[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') --depth;
    if (depth == 0 && c == ':' && i + 1 < full.size() && full[i + 1] == ':') start = i + 2;
  }
  return full.substr(start);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// 1234567 -> "1,234,567"
std::string group_thousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// Points `t`'s TensorImpl at `moved`'s storage and geometry (Note [Parameters change in
// place]); requires_grad, grad_fn and the grad accumulator stay as they were.
void replace_storage(const Tensor& t, const Tensor& moved) {
  TensorImpl* impl = t.impl();
  impl->storage = moved.storage();
  impl->shape = moved.shape();
  impl->strides = moved.strides();
  impl->offset = moved.offset();
  impl->dtype = moved.dtype();
}

}  // namespace

// ---- forward and naming -----------------------------------------------------------

Tensor Module::forward(const Tensor&) {
  throw NotImplemented(fmt::format(
      "forward(const Tensor&) is not implemented for {}; call its own forward(...) overload "
      "or override forward in the module",
      name()));
}

std::string Module::name() const { return name_.empty() ? short_type_name(typeid(*this)) : name_; }

// ---- registration -----------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  KILN_CHECK(!name.empty(), "{}: empty name in {}", what, this->name());
  KILN_CHECK(name.find('.') == std::string::npos,
             "{}: name '{}' in {} contains '.' (dots separate nesting levels)", what, name,
             this->name());
  KILN_CHECK(!parameters_.contains(name) && !buffers_.contains(name) && !children_.contains(name),
             "{}: '{}' is already registered in {}", what, name, this->name());
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_new_name(name, "register_parameter");
  KILN_CHECK(tensor.defined(), "register_parameter: '{}' in {} is an undefined tensor", name,
             this->name());
  KILN_CHECK(is_floating(tensor.dtype()),
             "register_parameter: '{}' in {} has dtype {}; parameters must be floating", name,
             this->name(), tensor.dtype());
  if (!tensor.is_leaf()) tensor = tensor.detach();
  tensor.requires_grad_(requires_grad);
  parameters_.insert(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor, bool persistent) {
  check_new_name(name, "register_buffer");
  KILN_CHECK(tensor.defined(), "register_buffer: '{}' in {} is an undefined tensor", name,
             this->name());
  if (!tensor.is_leaf() || tensor.requires_grad()) tensor = tensor.detach();
  buffers_.insert(name, tensor);
  if (!persistent) non_persistent_.insert(name);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "register_module");
  KILN_CHECK(module != nullptr, "register_module: '{}' in {} is a null module", name,
             this->name());
  KILN_CHECK(module.get() != this, "register_module: {} cannot contain itself", this->name());
  children_.insert(name, std::move(module));
}

// ---- traversal --------------------------------------------------------------------

void Module::collect(const std::string& prefix, bool params, bool recurse, bool persistent_only,
                     OrderedDict<Tensor>& out) const {
  const auto& own = params ? parameters_ : buffers_;
  for (const auto& [name, t] : own) {
    if (!params && persistent_only && non_persistent_.count(name)) continue;
    out.insert(prefix + name, t);
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", params, true, persistent_only, out);
}

namespace {
// A tensor reachable under two names (a submodule registered twice, tied weights) is
// listed once, under its first name, as torch's named_parameters() does.
OrderedDict<Tensor> without_duplicates(const OrderedDict<Tensor>& all) {
  OrderedDict<Tensor> out;
  std::set<const TensorImpl*> seen;
  for (const auto& [name, t] : all)
    if (seen.insert(t.impl()).second) out.insert(name, t);
  return out;
}
}  // namespace

OrderedDict<Tensor> Module::named_parameters(bool recurse) const {
  OrderedDict<Tensor> out;
  collect("", true, recurse, false, out);
  return without_duplicates(out);
}
std::vector<Tensor> Module::parameters(bool recurse) const {
  return named_parameters(recurse).values();
}
OrderedDict<Tensor> Module::named_buffers(bool recurse) const {
  OrderedDict<Tensor> out;
  collect("", false, recurse, false, out);
  return without_duplicates(out);
}
std::vector<Tensor> Module::buffers(bool recurse) const { return named_buffers(recurse).values(); }

OrderedDict<std::shared_ptr<Module>> Module::named_modules() const {
  OrderedDict<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : children_) {
    out.insert(name, child);
    for (const auto& [sub, m] : child->named_modules()) out.insert(name + "." + sub, m);
  }
  return out;
}

void Module::apply(const std::function<void(Module&)>& fn) {
  fn(*this);
  for (auto& [name, child] : children_) child->apply(fn);
}

// ---- mode, devices, gradients -----------------------------------------------------

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void move_in_place(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return;
  const Tensor grad = t.grad();
  replace_storage(t, t.detach().to(device));
  if (grad.defined()) t.impl()->autograd.grad = grad.detach().to(device).impl_ptr();
}

void convert_in_place(const Tensor& t, DType dtype) {
  if (!t.defined() || t.dtype() == dtype) return;
  KILN_CHECK(is_floating(dtype), "to: cannot convert a module's tensors to {}", dtype);
  const Tensor grad = t.grad();
  replace_storage(t, t.detach().to(dtype));
  if (grad.defined()) t.impl()->autograd.grad = grad.detach().to(dtype).impl_ptr();
}

Module& Module::to(Device device) {
  for (const auto& t : parameters()) move_in_place(t, device);
  for (const auto& t : buffers()) move_in_place(t, device);
  return *this;
}

Module& Module::to(DType dtype) {
  KILN_CHECK(is_floating(dtype), "{}.to: modules convert to float32 or float64, not {}", name(),
             dtype);
  for (const auto& t : parameters()) convert_in_place(t, dtype);
  for (const auto& t : buffers())
    if (is_floating(t.dtype())) convert_in_place(t, dtype);
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  for (auto& p : parameters()) {
    if (set_to_none) {
      p.set_grad({});
    } else if (p.grad().defined()) {
      p.grad().zero_();
    }
  }
}

// ---- state ------------------------------------------------------------------------

OrderedDict<Tensor> Module::state_dict() const {
  // PyTorch's order: a module's own parameters, its persistent buffers, then each child.
  OrderedDict<Tensor> out;
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m,
                                                                     const std::string& prefix) {
    for (const auto& [name, t] : m.parameters_) out.insert(prefix + name, t.detach());
    for (const auto& [name, t] : m.buffers_)
      if (!m.non_persistent_.count(name)) out.insert(prefix + name, t.detach());
    for (const auto& [name, child] : m.children_) walk(*child, prefix + name + ".");
  };
  walk(*this, "");
  return out;
}

std::string compare_state_dicts(const OrderedDict<Tensor>& expected,
                                const OrderedDict<Tensor>& given, bool strict,
                                LoadResult* result) {
  LoadResult r;
  std::vector<std::string> mismatches;
  for (const auto& [name, t] : expected) {
    const Tensor* g = given.find(name);
    if (!g) {
      r.missing_keys.push_back(name);
      continue;
    }
    if (!g->defined()) {
      mismatches.push_back(fmt::format("{} is an undefined tensor in the dict", name));
      continue;
    }
    if (g->shape() != t.shape())
      mismatches.push_back(fmt::format("shape of {}: {} in the dict vs {} expected", name,
                                       shape_str(g->shape()), shape_str(t.shape())));
    if (g->dtype() != t.dtype())
      mismatches.push_back(
          fmt::format("dtype of {}: {} in the dict vs {} expected", name, g->dtype(), t.dtype()));
  }
  for (const auto& [name, t] : given)
    if (!expected.contains(name)) r.unexpected_keys.push_back(name);

  std::vector<std::string> parts;
  if (strict && !r.missing_keys.empty()) parts.push_back("missing keys: " + join(r.missing_keys));
  if (strict && !r.unexpected_keys.empty())
    parts.push_back("unexpected keys: " + join(r.unexpected_keys));
  for (auto& m : mismatches) parts.push_back(std::move(m));
  if (result) *result = std::move(r);
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

void copy_state_into(const OrderedDict<Tensor>& expected, const OrderedDict<Tensor>& given) {
  NoGradGuard no_grad;
  for (const auto& [name, t] : expected) {
    if (const Tensor* g = given.find(name)) {
      Tensor dst = t.detach();
      dst.copy_(*g);
    }
  }
}

LoadResult Module::load_state_dict(const OrderedDict<Tensor>& dict, bool strict) {
  const OrderedDict<Tensor> own = state_dict();
  LoadResult result;
  const std::string diff = compare_state_dicts(own, dict, strict, &result);
  KILN_CHECK(diff.empty(), "load_state_dict for {}: {}", name(), diff);
  copy_state_into(own, dict);
  return result;
}

std::int64_t Module::num_parameters(bool trainable_only) const {
  std::int64_t n = 0;
  for (const auto& p : parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}

// ---- printing ---------------------------------------------------------------------

void Module::str_into(std::string& out, int indent) const {
  const std::int64_t count = num_parameters();
  const std::string note = count > 0 ? "  # " + group_thousands(count) : "";
  if (children_.empty()) {
    out += name() + "(" + extra_repr() + ")" + note;
    return;
  }
  // With children, as torch: the extra_repr goes on its own first line inside.
  out += name() + "(" + note + "\n";
  const std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  if (const std::string extra = extra_repr(); !extra.empty()) out += pad + extra + "\n";
  // The module's own parameters (MultiheadAttention's in_proj_weight, say) first.
  for (const auto& [pname, p] : parameters_)
    out += pad + "(" + pname + "): Parameter" + shape_str(p.shape()) + "  # " +
           group_thousands(p.numel()) + "\n";
  for (const auto& [cname, child] : children_) {
    out += pad + "(" + cname + "): ";
    child->str_into(out, indent + 2);
    out += "\n";
  }
  out += std::string(static_cast<std::size_t>(indent), ' ') + ")";
}

std::string Module::str() const {
  std::string out;
  str_into(out, 0);
  out += fmt::format("\nTotal parameters: {} ({} trainable)", group_thousands(num_parameters()),
                     group_thousands(num_parameters(true)));
  return out;
}

}  // namespace kiln::nn
