#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/grad_mode.h"
#include "tensor/detail.h"

namespace kiln::autograd {

// ---- grad mode ----------------------------------------------------------------------

namespace {
thread_local bool g_grad_enabled = true;
}
bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

// ---- nodes --------------------------------------------------------------------------

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_output) {
  KILN_CHECK(backward_ != nullptr,
             "backward: trying to backward through the graph a second time ({} already freed "
             "its saved tensors); pass retain_graph=true to the first backward to keep them",
             name_);
  return backward_(grad_output);
}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  Tensor leaf(leaf_);
  KILN_CHECK(grad_output.shape() == leaf.shape(),
             "AccumulateGrad: gradient of shape {} for a leaf of shape {} (an op's backward "
             "returned the wrong shape)",
             shape_str(grad_output.shape()), shape_str(leaf.shape()));
  Tensor g = grad_output;
  if (!grad_enabled()) {
    // .grad is updated in place by optimizers, so it must own its memory: a gradient
    // that is a view (an expand of the seed, say) or shared with anything is copied.
    const bool owns = g.is_contiguous() && g.offset() == 0 && g.storage().use_count() == 1 &&
                      !g.requires_grad();
    g = owns ? g.detach() : detail::contiguous_copy(g, g.dtype());
  }
  Tensor previous = leaf.grad();
  leaf.set_grad(previous.defined() ? previous + g : g);
  return {};
}

Edge edge_of(const Tensor& input) {
  if (!input.defined() || !input.requires_grad()) return {};
  if (auto fn = input.grad_fn()) return {fn};
  AutogradMeta& meta = input.impl()->autograd;
  auto acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(input.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return {acc};
}

// [region record]
Tensor record(const char* name, Tensor output, const std::vector<Tensor>& inputs,
              BackwardFn backward) {
  if (!grad_enabled()) return output;
  bool any = false;
  for (const auto& in : inputs) any = any || (in.defined() && in.requires_grad());
  if (!any) return output;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward));
  node->next_edges.reserve(inputs.size());
  for (const auto& in : inputs) node->next_edges.push_back(edge_of(in));
  // A fresh handle, so that a view returned by an op never shares autograd metadata
  // with its base.
  Tensor out = detail::make_view(output, output.shape(), output.strides(), output.offset());
  out.impl()->autograd.requires_grad = true;
  out.impl()->autograd.grad_fn = std::move(node);
  return out;
}
// [endregion]

Tensor record(const char* name, Tensor output, std::initializer_list<Tensor> inputs,
              BackwardFn backward) {
  return record(name, std::move(output), std::vector<Tensor>(inputs), std::move(backward));
}

// ---- the engine ---------------------------------------------------------------------

namespace {

struct Root {
  std::shared_ptr<Node> node;
  Tensor grad;
};

std::vector<Root> make_roots(const std::vector<Tensor>& outputs,
                             const std::vector<Tensor>& grad_outputs, const char* op) {
  KILN_CHECK(grad_outputs.empty() || grad_outputs.size() == outputs.size(),
             "{}: {} outputs but {} grad_outputs", op, outputs.size(), grad_outputs.size());
  std::vector<Root> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    KILN_CHECK(out.defined() && out.requires_grad(),
               "{}: output {} does not require grad and has no grad_fn (was it computed under "
               "NoGradGuard, or from tensors without requires_grad?)",
               op, i);
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      KILN_CHECK(out.numel() == 1,
                 "{}: a gradient can be implied only for one-element outputs; output {} has "
                 "shape {}, pass a gradient of that shape",
                 op, i, shape_str(out.shape()));
      g = Tensor::ones(out.shape(), {.dtype = out.dtype(), .device = out.device()});
    }
    KILN_CHECK(g.shape() == out.shape(), "{}: gradient of shape {} for an output of shape {}", op,
               shape_str(g.shape()), shape_str(out.shape()));
    roots.push_back({edge_of(out).node, g});
  }
  return roots;
}

// [region run_backward]
// Runs the graph below `roots`. With `captures` non-empty (autograd::grad), the gradient
// arriving at each captured node is stored instead of being accumulated into leaves.
void run_backward(const std::vector<Root>& roots, bool retain_graph, bool create_graph,
                  std::unordered_map<Node*, Tensor>* captures) {
  // 1. Count, for every reachable node, how many edges point at it.
  std::unordered_map<Node*, int> dependencies;
  std::vector<Node*> stack;
  std::unordered_set<Node*> seen;
  for (const auto& r : roots) {
    if (seen.insert(r.node.get()).second) stack.push_back(r.node.get());
  }
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const auto& e : node->next_edges) {
      if (!e.node) continue;
      dependencies[e.node.get()] += 1;
      if (seen.insert(e.node.get()).second) stack.push_back(e.node.get());
    }
  }

  // 2. Sum the gradients flowing into each node; run a node once all have arrived.
  std::unordered_map<Node*, Tensor> pending;
  std::vector<std::shared_ptr<Node>> ready;
  auto add_grad = [&](Node* node, const Tensor& g) {
    if (!g.defined()) return;
    auto it = pending.find(node);
    if (it == pending.end() || !it->second.defined()) {
      pending[node] = g;
    } else {
      it->second = it->second + g;
    }
  };
  for (const auto& r : roots) add_grad(r.node.get(), r.grad);
  for (const auto& r : roots) {
    if (dependencies[r.node.get()] == 0) ready.push_back(r.node);
  }
  std::unordered_set<Node*> queued;
  for (const auto& n : ready) queued.insert(n.get());

  GradModeGuard mode(create_graph);
  std::vector<std::shared_ptr<Node>> visited;
  while (!ready.empty()) {
    std::shared_ptr<Node> node = ready.back();
    ready.pop_back();
    visited.push_back(node);
    Tensor g = pending[node.get()];
    pending.erase(node.get());

    std::vector<Tensor> input_grads;
    if (captures && captures->count(node.get())) {
      (*captures)[node.get()] = g;
    }
    const bool is_leaf_sink = dynamic_cast<AccumulateGrad*>(node.get()) != nullptr;
    if (g.defined() && !(captures && is_leaf_sink)) input_grads = node->apply(g);

    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      Node* next = node->next_edges[i].node.get();
      if (!next) continue;
      if (i < input_grads.size()) add_grad(next, input_grads[i]);
      if (--dependencies[next] == 0 && queued.insert(next).second)
        ready.push_back(node->next_edges[i].node);
    }
  }
  if (!retain_graph) {
    for (auto& n : visited) n->release();
  }
}
// [endregion]

}  // namespace

void backward(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph, bool create_graph) {
  run_backward(make_roots(outputs, grad_outputs, "backward"), retain_graph, create_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph,
                         bool create_graph, bool allow_unused) {
  auto roots = make_roots(outputs, grad_outputs, "grad");
  std::unordered_map<Node*, Tensor> captures;
  std::vector<Node*> targets;
  for (size_t i = 0; i < inputs.size(); ++i) {
    KILN_CHECK(inputs[i].defined() && inputs[i].requires_grad(),
               "grad: input {} does not require grad", i);
    Node* target = edge_of(inputs[i]).node.get();
    captures[target] = Tensor();
    targets.push_back(target);
  }
  run_backward(roots, retain_graph, create_graph, &captures);
  std::vector<Tensor> result;
  for (size_t i = 0; i < inputs.size(); ++i) {
    Tensor g = captures[targets[i]];
    KILN_CHECK(g.defined() || allow_unused,
               "grad: input {} was not used to compute the outputs (pass allow_unused=true)", i);
    result.push_back(g);
  }
  return result;
}

}  // namespace kiln::autograd

// ---- the autograd methods of Tensor ---------------------------------------------------

namespace kiln {

bool Tensor::requires_grad() const { return defined() && impl_->autograd.requires_grad; }

Tensor& Tensor::requires_grad_(bool enabled) {
  check_defined("requires_grad_");
  KILN_CHECK(is_leaf() || enabled,
             "requires_grad_: can only change requires_grad of leaf tensors (this one has "
             "grad_fn {}); use detach() first",
             impl_->autograd.grad_fn->name());
  KILN_CHECK(!enabled || is_floating(dtype()),
             "requires_grad_: only floating tensors can require gradients, got {}", dtype());
  impl_->autograd.requires_grad = enabled;
  return *this;
}

bool Tensor::is_leaf() const { return defined() && impl_->autograd.grad_fn == nullptr; }

Tensor Tensor::grad() const {
  check_defined("grad");
  return impl_->autograd.grad ? Tensor(impl_->autograd.grad) : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  check_defined("set_grad");
  impl_->autograd.grad = g.defined() ? g.impl_ptr() : nullptr;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  return defined() ? impl_->autograd.grad_fn : nullptr;
}

void Tensor::backward(const Tensor& gradient, bool retain_graph, bool create_graph) const {
  check_defined("backward");
  autograd::backward({*this}, {gradient}, retain_graph, create_graph);
}

}  // namespace kiln
